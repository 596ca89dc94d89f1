"""The files of one run folder, as links, and the leftover findings as rows.

Both pages use them: the run page (``page.py``) and the index (``index.py``), which also
draws every scenario with ``page.py``.  Kept here so the imports go one way:
index -> page -> runfiles.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from callgen.reports.text import one_line
from callgen.verdict.ladder import REGISTER_KEY, SUMMARY_KEY
from callgen.verdict.result import ScenarioResult

MAX_FILES = 200  #: per run folder; a runaway folder must not make a 50 MB index


@dataclass(frozen=True)
class RunFiles:
    """Files of one run folder, as links relative to the output folder."""

    folder: str  #: link to the folder ("" if none)
    files: tuple[tuple[str, str], ...]  #: (display name, link)
    note: str = ""  #: why there is nothing to list


def run_files(result: ScenarioResult, out_dir: Path) -> RunFiles:
    if not result.artefacts:
        return RunFiles("", (), "no run folder")
    folder = Path(result.artefacts)
    if not folder.is_absolute():
        folder = (out_dir / folder) if not folder.exists() else folder.resolve()
    if not folder.is_dir():
        return RunFiles(_link(folder, out_dir), (), "run folder removed (--keep) or never created")
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            files.append((str(p.relative_to(folder)), _link(p, out_dir)))
    more = f"{len(files) - MAX_FILES} more files not listed" if len(files) > MAX_FILES else ""
    return RunFiles(_link(folder, out_dir), tuple(files[:MAX_FILES]), more)


def _link(path: Path, out_dir: Path) -> str:
    """A relative link when the path is under the output folder (the index
    then survives being copied as a CI artefact), else a file URI."""
    try:
        rel = Path(os.path.relpath(path.resolve(), out_dir.resolve()))
    except ValueError:
        return path.resolve().as_uri()
    if rel.parts and rel.parts[0] == "..":
        return path.resolve().as_uri()
    return quote(rel.as_posix())


def findings_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """Flatten ``summary`` (streams, dtmf, ...) into (what, detail) rows;
    the analysis layer decides the content, this only renders it."""
    rows: list[tuple[str, str]] = []
    for key in sorted(summary):
        if key in ("failed_attempts", SUMMARY_KEY, REGISTER_KEY):
            continue
        value = summary[key]
        items = value if isinstance(value, list) else [value]
        for item in items:
            if item is None or item == {} or item == "":  # unset: "truncated None" is no finding
                continue
            if isinstance(item, dict):
                rows.append((key, ", ".join(f"{k}={_compact(v)}" for k, v in item.items() if v is not None)))
            else:
                rows.append((key, _compact(item)))
    return rows


def _compact(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_compact(v)}" for k, v in value.items() if v is not None) + "}"
    return one_line(value)
