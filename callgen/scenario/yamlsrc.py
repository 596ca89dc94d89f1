"""YAML loading that remembers where every value came from.

``load_yaml`` returns the plain data plus a ``SourceMap`` from key paths
(tuples of keys and list indices) to 1-based line numbers, so schema and model
errors can say ``scenarios/x.yaml:12: agents.alice.codecs[1]: ...``.
Duplicate keys, anchors-merging tricks and non-string keys are rejected here,
because a silently overwritten key is exactly the kind of mistake a scenario
author must be told about.
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from callgen.errors import ScenarioError

KeyPath = tuple[str | int, ...]

#: Input limits (documented in docs/input-limits.md).  A scenario is a few
#: kilobytes and a few hundred nodes; these bound time and memory for any file.
MAX_BYTES = 256 << 10  #: file size (256 KiB); larger files are refused before reading them
MAX_DEPTH = 64  #: nesting of mappings and lists
MAX_NODES = 10_000  #: YAML nodes after expanding aliases ("billion laughs" stops here)
MAX_NUMBER_CHARS = 40  #: an integer literal longer than this is refused (Python refuses 4,300 digits)
_CORE_TAGS = {
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null")
}
_COLLECTION_TAGS = {yaml.MappingStartEvent: "tag:yaml.org,2002:map", yaml.SequenceStartEvent: "tag:yaml.org,2002:seq"}
_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


MAX_KEY_SHOWN = 40  #: characters of a key shown in a key path
MAX_SNIPPET_LINE = 120  #: characters of a source line shown under an error


def _cut(line: str) -> str:
    return line if len(line) <= MAX_SNIPPET_LINE else line[:MAX_SNIPPET_LINE] + f"... ({len(line)} characters)"


def format_path(path: KeyPath) -> str:
    """``("agents", "bob", "codecs", 1)`` -> ``agents.bob.codecs[1]``."""
    out = ""
    for part in path:
        if isinstance(part, str) and len(part) > MAX_KEY_SHOWN:
            part = part[:MAX_KEY_SHOWN] + "..."
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
            f"{'>' if i == n else ' '} {i:>{width}} | {_cut(lines[i - 1])}" for i in range(lo, hi + 1)
        )

    def error(self, path: KeyPath, message: str) -> ScenarioError:
        return ScenarioError(
            message,
            location=self.location(path),
            path=format_path(path) if path else "",
            snippet=self.snippet(path),
        )


class _Refused(Exception):
    """A document the guarded loader will not build (the mark says where)."""

    def __init__(self, message: str, mark: yaml.Mark | None):
        super().__init__(message)
        self.message = message
        self.line = mark.line + 1 if mark is not None else 1


class _GuardedLoader(yaml.SafeLoader):
    """SafeLoader that refuses, while composing and before any Python object is
    built: nesting deeper than MAX_DEPTH, more than MAX_NODES nodes counting
    every alias as the size of what it stands for, aliases to an enclosing
    collection, explicit tags other than the core scalar/collection ones,
    non-finite floats and integers longer than MAX_NUMBER_CHARS."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0
        self._sizes: dict[int, int] = {}  #: id(anchored node) -> its expanded node count
        self._open: set[str] = set()  #: anchors of collections still being composed

    def _count(self, n: int, mark: yaml.Mark) -> None:
        self._nodes += n
        if self._nodes > MAX_NODES:
            raise _Refused(f"more than {MAX_NODES} YAML nodes (aliases counted as what they expand to); "
                           "a scenario needs far fewer", mark)

    def compose_node(self, parent: Any, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open:
                raise _Refused(f"alias *{event.anchor} refers to a collection that contains it (a cycle)",
                               event.start_mark)
            node = self.anchors.get(event.anchor)
            self._count(self._sizes.get(id(node), 1), event.start_mark)
            return super().compose_node(parent, index)
        self._check_tag(event)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        before = self._nodes
        self._count(1, event.start_mark)
        anchor = event.anchor if not isinstance(event, yaml.ScalarEvent) else None
        if anchor is not None:
            self._open.add(anchor)
        node = super().compose_node(parent, index)
        self._open.discard(anchor or "")
        self._depth -= 1
        if event.anchor is not None:
            self._sizes[id(node)] = self._nodes - before
        return node

    @staticmethod
    def _check_tag(event: yaml.Event) -> None:
        tag = getattr(event, "tag", None)
        if tag is None or tag == "!":
            return
        allowed = _CORE_TAGS if isinstance(event, yaml.ScalarEvent) else {_COLLECTION_TAGS.get(type(event))}
        if tag not in allowed:
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            raise _Refused(f"YAML tag '{shown[:60]}' is not allowed (only plain values, mappings and lists)",
                           event.start_mark)

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise _Refused(f"{node.value[:40]!r} is not a finite number (.nan and .inf are not allowed)",
                           node.start_mark)
        return value

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        if len(node.value) > MAX_NUMBER_CHARS:
            raise _Refused(f"an integer of {len(node.value)} characters; no scenario value needs more than "
                           f"{MAX_NUMBER_CHARS}", node.start_mark)
        return super().construct_yaml_int(node)


_GuardedLoader.add_constructor("tag:yaml.org,2002:float", _GuardedLoader.construct_yaml_float)
_GuardedLoader.add_constructor("tag:yaml.org,2002:int", _GuardedLoader.construct_yaml_int)


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


def _file_kind(mode: int) -> str:
    for test, kind in _FILE_KINDS:
        if test(mode):
            return kind
    return "not a regular file"


def read_capped(path: Path | str, limit: int = MAX_BYTES) -> bytes:
    """At most ``limit`` bytes of a regular file, or ``OSError``/``ValueError``.

    Anything but a regular file (FIFO, device, directory, socket) is refused
    before it is opened for reading, and again after (``fstat``) in case it
    changed in between; the open never blocks (O_NONBLOCK), and a file that
    is or grows larger than ``limit`` is refused after reading limit+1 bytes.
    """
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{_file_kind(st.st_mode)}, not a regular file")
    if st.st_size > limit:
        raise ValueError(f"{st.st_size} bytes; the limit is {limit} bytes")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{_file_kind(st.st_mode)}, not a regular file")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise ValueError(f"more than {limit} bytes; the limit is {limit} bytes")
    return b"".join(chunks)


def _read_text(path: Path, name: str) -> str:
    try:
        data = read_capped(path)
    except FileNotFoundError:
        raise ScenarioError("no such file", location=name) from None
    except ValueError as exc:
        raise ScenarioError(f"not read: {exc}", location=name) from None
    except OSError as exc:
        raise ScenarioError(f"cannot read: {exc.strerror}", location=name) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", location=name) from None


def load_yaml(path: Path, display_name: str | None = None) -> tuple[Any, SourceMap]:
    """Parse one YAML document from ``path``; raise ``ScenarioError`` on any problem.

    Bounded for any input: see MAX_BYTES, MAX_DEPTH and MAX_NODES."""
    name = display_name or str(path)
    text = _read_text(Path(path), name)
    smap = SourceMap(file=name, text=text)
    loader = None
    try:
        loader = _GuardedLoader(text)
        node = loader.get_single_node()
        if node is None:
            raise ScenarioError("the file is empty", location=f"{name}:1")
        data = _convert(node, (), smap, loader)
    except _Refused as exc:
        raise ScenarioError(exc.message, location=f"{name}:{exc.line}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        smap.lines[("__yaml__",)] = line
        problem = exc.problem or exc.context or "invalid YAML"
        raise ScenarioError(
            f"YAML syntax error: {problem}", location=f"{name}:{line}", snippet=smap.snippet(("__yaml__",))
        ) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ScenarioError(f"not YAML text: {exc.reason} (character #x{exc.character:04x})"
                            if isinstance(exc.character, int) else f"not YAML text: {exc.reason}",
                            location=f"{name}:{line}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"YAML error: {str(exc)[:200]}", location=name) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, smap
