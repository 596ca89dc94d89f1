"""The artefact index of a run's output folder: ``index.html`` and ``summary.md``.

Both link every scenario to the files of its run folder (capture.pcap, logs,
configs, result.json - whatever is really there) and show per call the SIP
ladder and the RTP/DTMF findings of ``ScenarioResult.summary``.  The HTML is
self-contained (inline CSS, no JavaScript) and every value is escaped.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable
from urllib.parse import quote

from callgen.reports.junit import xml_text
from callgen.reports.text import check_line, one_line, totals_line
from callgen.result import ScenarioResult

if TYPE_CHECKING:
    from callgen.suite import SuiteResult

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
        if key == "failed_attempts":
            continue
        value = summary[key]
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                rows.append((key, ", ".join(f"{k}={_compact(v)}" for k, v in item.items())))
            else:
                rows.append((key, _compact(item)))
    return rows


def _compact(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_compact(v)}" for k, v in value.items()) + "}"
    return one_line(value)


# --------------------------------------------------------------------------- HTML

_CSS = """body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}
.pass{color:#070}.fail{color:#b00}.error{color:#a50}.flaky{color:#950}
pre{background:#f6f6f6;padding:.5em;overflow-x:auto}section{border-top:1px solid #ddd;margin-top:1em}"""


def _e(value: Any) -> str:
    return html.escape(xml_text(value), quote=True)


def _html_result(result: ScenarioResult, out_dir: Path, anchor: str) -> Iterable[str]:
    v = result.verdict.value
    yield f'<section id="{anchor}"><h2>{_e(result.name)} <span class="{v}">{_e(v.upper())}</span></h2>'
    yield f"<p>file: <code>{_e(result.file)}</code>; {result.duration_s:.1f}s; attempts {result.attempts}</p>"
    if result.error:
        yield f'<p class="error">error: {_e(result.error)}</p>'
    if result.checks:
        yield "<table><tr><th>check</th><th>verdict</th><th>expected</th><th>seen</th><th>reason</th></tr>"
        for c in result.checks:
            cls = "pass" if c.passed else "fail"
            yield (f'<tr><td>{_e(c.name)}</td><td class="{cls}">{"PASS" if c.passed else "FAIL"}</td>'
                   f"<td>{_e(c.expected)}</td><td>{_e(c.seen)}</td><td>{_e(c.reason)}</td></tr>")
        yield "</table>"
    files = run_files(result, out_dir)
    yield "<h3>files</h3><ul>"
    for name, link in files.files:
        yield f'<li><a href="{_e(link)}">{_e(name)}</a></li>'
    if files.note:
        yield f"<li><em>{_e(files.note)}</em></li>"
    yield "</ul>"
    rows = findings_rows(result.summary)
    if rows:
        yield "<h3>RTP / DTMF findings</h3><table>"
        yield from (f"<tr><th>{_e(k)}</th><td>{_e(d)}</td></tr>" for k, d in rows)
        yield "</table>"
    if result.ladder:
        yield "<h3>SIP ladder</h3><pre>" + _e("\n".join(result.ladder)) + "</pre>"
    yield "</section>"


def render_html(suite: "SuiteResult", out_dir: Path) -> str:
    parts = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>callgen report</title>',
             f"<style>{_CSS}</style></head><body><h1>callgen report</h1>",
             f"<p>{_e(totals_line(suite))}; started {_e(suite.started)}</p>",
             "<table><tr><th>scenario</th><th>verdict</th><th>time</th><th>failed checks</th></tr>"]
    for i, r in enumerate(suite.results):
        v = r.verdict.value
        failed = "<br>".join(_e(check_line(c)) for c in r.failed_checks) or _e(one_line(r.error))
        parts.append(f'<tr><td><a href="#s{i}">{_e(r.name)}</a></td><td class="{v}">{_e(v.upper())}</td>'
                     f"<td>{r.duration_s:.1f}s</td><td>{failed}</td></tr>")
    parts.append("</table>")
    for i, r in enumerate(suite.results):
        parts.extend(_html_result(r, out_dir, f"s{i}"))
    parts.append("</body></html>\n")
    return "\n".join(parts)


# --------------------------------------------------------------------------- Markdown


def _md(value: Any) -> str:
    """Markdown table cell: no newlines, pipes and markup escaped."""
    text = one_line(xml_text(value))
    for ch in "\\|*_`[]<>":
        text = text.replace(ch, "\\" + ch)
    return text


def render_markdown(suite: "SuiteResult", out_dir: Path) -> str:
    lines = ["# callgen report", "", _md(totals_line(suite)), "",
             "| scenario | verdict | time | failed checks |", "| --- | --- | --- | --- |"]
    for r in suite.results:
        failed = "; ".join(_md(check_line(c)) for c in r.failed_checks) or _md(r.error)
        lines.append(f"| {_md(r.name)} | {r.verdict.value.upper()} | {r.duration_s:.1f}s | {failed} |")
    for r in suite.results:
        lines += ["", f"## {_md(r.name)} - {r.verdict.value.upper()}", "", f"file: `{xml_text(r.file)}`", ""]
        files = run_files(r, out_dir)
        lines += [f"- [{_md(name)}](<{link}>)" for name, link in files.files]
        if files.note:
            lines.append(f"- _{_md(files.note)}_")
        rows = findings_rows(r.summary)
        if rows:
            lines += ["", "RTP / DTMF findings:", ""] + [f"- **{_md(k)}**: {_md(d)}" for k, d in rows]
        if r.ladder:
            fence = "```"
            ladder = [xml_text(line).replace(fence, "'''") for line in r.ladder]
            lines += ["", "SIP ladder:", "", fence] + ladder + [fence]
    return "\n".join(lines) + "\n"


def write_index(suite: "SuiteResult", out_dir: Path) -> tuple[Path, Path]:
    """Write ``index.html`` and ``summary.md`` into ``out_dir``; returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, md_path = out_dir / "index.html", out_dir / "summary.md"
    html_path.write_text(render_html(suite, out_dir), encoding="utf-8")
    md_path.write_text(render_markdown(suite, out_dir), encoding="utf-8")
    return html_path, md_path
