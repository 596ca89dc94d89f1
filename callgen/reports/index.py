"""The artefact index of a run's output folder: ``index.html`` and ``summary.md``.

Both link every scenario to the files of its run folder (capture.pcap, logs,
configs, result.json - whatever is really there).  The HTML index lists
failures first, can be filtered by verdict and tag, pictures a run of several
scenarios and shows every scenario as ``callgen.reports.page`` draws it (SIP
ladder, media, failure first); each run folder also gets its own page
(``report.html``).  Everything is self-contained (inline CSS and SVG, no
network) and every value is escaped.  ``summary.md`` stays plain Markdown for
CI job summaries.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from callgen.fileio import write_atomic
from callgen.reports.attempts import attempt_pages, attempt_reasons, attempt_result, relative_links
from callgen.reports.junit import xml_text
from callgen.reports.media import ordered_streams
from callgen.reports.page import (
    call_media,
    direction_text,
    html_document,
    loss_text,
    ms_text,
    render_run_page,
    scenario_section,
    security_parts,
)
from callgen.reports.runfiles import findings_rows, run_files
from callgen.reports.svg import esc, run_summary_svg
from callgen.reports.text import check_line, one_line, totals_line
from callgen.verdict.findings import DtmfFinding, StreamFinding
from callgen.verdict.result import ScenarioResult

if TYPE_CHECKING:
    from callgen.suite.execute import SuiteResult

# --------------------------------------------------------------------------- HTML

PAGE_NAME = "report.html"  #: the page written into each run folder
_ORDER = {"fail": 0, "error": 1, "flaky": 2, "pass": 3}


def failures_first(results: Iterable[ScenarioResult]) -> list[ScenarioResult]:
    """FAIL, then ERROR, then FLAKY, then PASS; the suite's order within each."""
    return sorted(results, key=lambda r: _ORDER.get(r.verdict.value, 9))


def _page_link(result: ScenarioResult, out_dir: Path) -> str:
    files = run_files(result, out_dir)
    return f"{files.folder}/{PAGE_NAME}" if files.files and files.folder else ""


def _filter_form(results: list[ScenarioResult]) -> str:
    verdicts = [v for v in _ORDER if any(r.verdict.value == v for r in results)]
    tags = sorted({t for r in results for t in r.tags})
    boxes = "".join(f'<label><input type="checkbox" name="verdict" value="{esc(v)}" checked> {esc(v.upper())} '
                    f"({sum(1 for r in results if r.verdict.value == v)})</label>" for v in verdicts)
    options = "".join(f'<option value="{esc(t)}">{esc(t)}</option>' for t in tags)
    return (f'<form class="filter">show {boxes}<label>tag <select name="tag"><option value="">any</option>{options}'
            "</select></label></form>")


def _index_rows(ordered: list[ScenarioResult], out_dir: Path) -> Iterable[str]:
    yield ('<table class="index"><tr><th>scenario</th><th>verdict</th><th>time</th><th>tags</th>'
           "<th>failed checks</th><th>page</th></tr>")
    for i, r in enumerate(ordered):
        v = r.verdict.value
        failed = ("<br>".join(esc(check_line(c)) for c in r.failed_checks) or esc(one_line(r.error))
                  or "<br>".join(esc(line) for line in attempt_reasons(r)))
        link = _page_link(r, out_dir)
        page = f'<a href="{esc(link)}">{esc(PAGE_NAME)}</a>' if link else ""
        yield (f'<tr class="row" data-verdict="{esc(v)}" data-tags="{esc(" ".join(r.tags))}"><td><a href="#s{i}">{esc(r.name)}</a></td>'
               f'<td><span class="badge {esc(v)}">{esc(v.upper())}</span></td><td class="num">{r.duration_s:.1f}s</td>'
               f"<td>{esc(', '.join(r.tags))}</td><td>{failed}</td><td>{page}</td></tr>")
    yield "</table>"


def render_html(suite: SuiteResult, out_dir: Path) -> str:
    """The run index: totals, a picture of the run when it has several
    scenarios, a filterable table (failures first), then every scenario."""
    ordered = failures_first(suite.results)
    body = ["<h1>callgen report</h1>", f'<p class="meta">{esc(totals_line(suite))}; started {esc(suite.started)}</p>']
    if len(ordered) > 1:
        body.append(run_summary_svg(ordered))
    body.append(_filter_form(ordered))
    body += list(_index_rows(ordered, out_dir))
    for i, r in enumerate(ordered):
        links = relative_links(attempt_pages(r, out_dir, PAGE_NAME), out_dir)
        body += list(scenario_section(r, f"s{i}", run_files(r, out_dir), _page_link(r, out_dir), links))
    return html_document("callgen report", body)


def write_run_pages(suite: SuiteResult, out_dir: Path) -> list[Path]:
    """``report.html`` in every run folder that still exists (a flaky scenario's
    failed attempts' folders too), its links relative to it."""
    written = []
    for r in suite.results:
        attempts = attempt_pages(r, out_dir, PAGE_NAME)
        written += _attempt_pages(attempts, out_dir)
        files = run_files(r, out_dir)
        if not files.files:
            continue
        folder = Path(r.artefacts)
        folder = folder if folder.is_absolute() else out_dir / folder
        page = folder / PAGE_NAME
        write_atomic(page, render_run_page(r, folder, _index_link(out_dir, folder), relative_links(attempts, folder)),
                     mode=0o600)  # it quotes the transcripts
        written.append(page)
    return written


def _index_link(out_dir: Path, folder: Path) -> str:
    return quote(Path(os.path.relpath((out_dir / "index.html").resolve(), folder.resolve())).as_posix())


def _attempt_pages(pages: Mapping[int, Path], out_dir: Path) -> list[Path]:
    """A failed attempt's own page, drawn from its folder's result.json."""
    written = []
    for page in pages.values():
        attempt = attempt_result(page.parent)
        if attempt is not None:
            write_atomic(page, render_run_page(attempt, page.parent, _index_link(out_dir, page.parent)))
            written.append(page)
    return written


# --------------------------------------------------------------------------- Markdown


def _md(value: Any) -> str:
    """Markdown table cell: no newlines, pipes and markup escaped."""
    text = one_line(xml_text(value))
    for ch in "\\|*_`[]<>":
        text = text.replace(ch, "\\" + ch)
    return text


def _md_media(streams: Iterable[StreamFinding], owners: Mapping[str, str]) -> list[str]:
    lines = ["| direction | codec | packets | loss | jitter mean / max | SRTP |", "| --- | --- | --- | --- | --- | --- |"]
    for s in ordered_streams(streams, owners):
        label, suite = security_parts(s)
        srtp = f"{label} ({suite})" if suite and not label.startswith("SRTP, decrypted") else label
        lines.append(f"| {_md(direction_text(s, owners))} | {_md(s.codec or 'unknown')} | {_md('?' if s.packets is None else s.packets)} "
                     f"| {_md(loss_text(s))} | {ms_text(s.jitter_ms_mean)} / {ms_text(s.jitter_ms_max)} ms | {_md(srtp)} |")
    return lines if len(lines) > 2 else []


def _md_dtmf(events: Iterable[DtmfFinding], start: float) -> list[str]:
    digits = [f"{_md(e.digit)} (+{float(e.start) - start:.3f} s, {_md(e.method)})"
              if isinstance(e.start, (int, float)) else _md(e.digit) for e in events]
    return ["", "DTMF: " + ", ".join(digits)] if digits else []


def _md_scenario(r: ScenarioResult, out_dir: Path) -> list[str]:
    lines = ["", f"## {_md(r.name)} - {r.verdict.value.upper()}", "", f"file: {_md(r.file)}", ""]
    if r.error:
        lines += [f"**error:** {_md(r.error)}", ""]
    reasons = attempt_reasons(r)
    if reasons:
        lines += [f"Passed on attempt {r.attempts}; what failed before:", ""] + [f"- {_md(x)}" for x in reasons] + [""]
    if r.failed_checks:
        lines += ["Failed checks:", ""] + [f"- **{_md(c.name)}**: expected {_md(c.expected)}, seen {_md(c.seen)}"
                                           f"{f' ({_md(c.reason)})' if c.reason else ''} \\[{_md(c.evidence or '-')}\\]"
                                           for c in r.failed_checks] + [""]
    for flow in r.flows:
        media = call_media(flow, r.summary)
        table = _md_media(media.streams, media.owners)
        if table or media.dtmf:
            lines += ["", f"Media of {_md(flow.call)} ({_md(flow.caller)} → {_md(flow.callee)}):", ""] + table
            lines += _md_dtmf(media.dtmf, media.span.start)
    if not r.flows:  # results written before flows existed
        streams = r.summary.rtp_streams
        lines += ["", *_md_media([s for s in streams if s.call_id], {})]  # no SDP offered the others
        events = [e for e in r.summary.dtmf if "digit" in e.keys]
        first = r.summary.first_time
        lines += _md_dtmf(events, float(first) if isinstance(first, (int, float)) else 0.0)
    rows = findings_rows(r.summary.other())
    if rows:
        lines += ["", "Other findings:", ""] + [f"- **{_md(k)}**: {_md(d)}" for k, d in rows]
    if r.ladder:
        fence = "```"
        ladder = [xml_text(line).replace(fence, "\'\'\'") for line in r.ladder]
        lines += ["", "SIP ladder:", "", fence] + ladder + [fence]
    files = run_files(r, out_dir)
    lines += ["", "Files:", ""] + [f"- [{_md(name)}](<{link}>)" for name, link in files.files]
    if files.note:
        lines.append(f"- _{_md(files.note)}_")
    return lines


def render_markdown(suite: SuiteResult, out_dir: Path) -> str:
    """GitHub-flavoured summary (CI job summaries render it): failures first,
    failed checks before anything else, media as tables, links to the files."""
    ordered = failures_first(suite.results)
    lines = ["# callgen report", "", _md(totals_line(suite)), "",
             "| scenario | verdict | time | failed checks |", "| --- | --- | --- | --- |"]
    for r in ordered:
        failed = ("; ".join(_md(check_line(c)) for c in r.failed_checks) or _md(r.error)
                  or "; ".join(_md(line) for line in attempt_reasons(r)))
        lines.append(f"| {_md(r.name)} | {r.verdict.value.upper()} | {r.duration_s:.1f}s | {failed} |")
    for r in ordered:
        lines += _md_scenario(r, out_dir)
    return "\n".join(lines) + "\n"


def write_index(suite: SuiteResult, out_dir: Path) -> tuple[Path, Path]:
    """Write ``index.html`` and ``summary.md`` into ``out_dir``; returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, md_path = out_dir / "index.html", out_dir / "summary.md"
    write_run_pages(suite, out_dir)
    write_atomic(html_path, render_html(suite, out_dir))
    write_atomic(md_path, render_markdown(suite, out_dir))
    return html_path, md_path
