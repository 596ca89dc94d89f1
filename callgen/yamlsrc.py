"""YAML loading that remembers where every value came from.

``load_yaml`` returns the plain data plus a ``SourceMap`` from key paths
(tuples of keys and list indices) to 1-based line numbers, so schema and model
errors can say ``scenarios/x.yaml:12: agents.alice.codecs[1]: ...``.
Duplicate keys, anchors-merging tricks and non-string keys are rejected here,
because a silently overwritten key is exactly the kind of mistake a scenario
author must be told about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from callgen.errors import ScenarioError

KeyPath = tuple[str | int, ...]


def format_path(path: KeyPath) -> str:
    """``("agents", "bob", "codecs", 1)`` -> ``agents.bob.codecs[1]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


@dataclass(frozen=True)
class SourceMap:
    """Where each key path of a loaded document starts in its file."""

    file: str
    lines: dict[KeyPath, int] = field(default_factory=dict)
    text: str = ""

    def line_of(self, path: KeyPath) -> int:
        """Line of ``path``, or of its nearest ancestor that has one."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), 1)

    def location(self, path: KeyPath) -> str:
        return f"{self.file}:{self.line_of(path)}"

    def snippet(self, path: KeyPath, context: int = 1) -> str:
        """A few numbered lines of source around ``path``'s line, marked with '>'."""
        if not self.text:
            return ""
        lines = self.text.splitlines()
        n = self.line_of(path)
        lo, hi = max(1, n - context), min(len(lines), n + context)
        width = len(str(hi))
        return "\n".join(
            f"{'>' if i == n else ' '} {i:>{width}} | {lines[i - 1]}" for i in range(lo, hi + 1)
        )

    def error(self, path: KeyPath, message: str) -> ScenarioError:
        return ScenarioError(
            message,
            location=self.location(path),
            path=format_path(path) if path else "",
            snippet=self.snippet(path),
        )


def _convert(node: yaml.Node, path: KeyPath, smap: SourceMap, loader: yaml.SafeLoader) -> Any:
    smap.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise smap.error(path, "YAML merge keys ('<<') are not supported in scenarios")
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                smap.lines[path + (str(key),)] = key_node.start_mark.line + 1
                raise smap.error(path + (str(key),), f"keys must be strings, got {type(key).__name__} {key!r}")
            kpath = path + (key,)
            if key in out:
                smap.lines[kpath] = key_node.start_mark.line + 1
                raise smap.error(kpath, "duplicate key (the earlier value would be silently lost)")
            smap.lines[kpath] = key_node.start_mark.line + 1
            out[key] = _convert(value_node, kpath, smap, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, path + (i,), smap, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load_yaml(path: Path, display_name: str | None = None) -> tuple[Any, SourceMap]:
    """Parse one YAML document from ``path``; raise ``ScenarioError`` on any problem."""
    name = display_name or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError("no such file", location=name) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", location=name) from None
    except OSError as exc:
        raise ScenarioError(f"cannot read: {exc.strerror}", location=name) from None
    smap = SourceMap(file=name, text=text)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ScenarioError("the file is empty", location=f"{name}:1")
        data = _convert(node, (), smap, loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        smap.lines[("__yaml__",)] = line
        problem = exc.problem or exc.context or "invalid YAML"
        raise ScenarioError(
            f"YAML syntax error: {problem}", location=f"{name}:{line}", snippet=smap.snippet(("__yaml__",))
        ) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"YAML error: {exc}", location=name) from None
    finally:
        loader.dispose()
    return data, smap
