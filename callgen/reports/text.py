"""Plain-text reports for the terminal: one scenario in detail, a suite as a table.

Used by the CLI for single runs (``format_scenario``) and suites
(``format_summary``); the failed checks always show expected vs seen, because
that is what a reader needs to decide whether the system or the scenario is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from callgen.verdict.result import CheckResult, ScenarioResult, Verdict

if TYPE_CHECKING:
    from callgen.suite.execute import SuiteResult


def added_reason(check: CheckResult) -> str:
    """The check's reason, or "" when it only restates expected and seen
    ("expected 486, the capture shows 200" beside "expected 486, seen 200")."""
    reason = check.reason.strip()
    expected, seen = str(check.expected).strip(), str(check.seen).strip()
    if reason and expected and seen and expected in reason and seen in reason:
        words = re.findall(r"\w+", reason.replace(expected, " ").replace(seen, " "))
        if all(w.lower() in _FILLER for w in words):
            return ""
    return reason


_FILLER = {"expected", "the", "capture", "shows", "showed", "seen", "saw", "got", "but", "log", "logs", "pjsua"}


def check_line(check: CheckResult) -> str:
    """``PASS name: expected X, seen Y (reason) [evidence]`` on one line."""
    mark = "PASS" if check.passed else "FAIL"
    line = f"{mark} {check.name}: expected {check.expected}, seen {check.seen}"
    reason = added_reason(check)
    if reason:
        line += f" ({reason})"
    if check.evidence:
        line += f" [{check.evidence}]"
    return one_line(line)


def failed_check_line(check: CheckResult) -> str:
    """A failed check, compact: ``name: expected X, seen Y``."""
    return one_line(f"{check.name}: expected {check.expected}, seen {check.seen}")


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def one_line(text: object) -> str:
    """Whitespace folded to single spaces and control characters (escape
    sequences, NULs from pjsua logs) removed, so one value stays one clean line."""
    return " ".join(_CONTROL.sub("", str(text)).split())


def clean_line(text: object) -> str:
    """Control characters removed but spacing kept (SIP ladders are aligned)."""
    return _CONTROL.sub("", str(text).replace("\t", "    ")).rstrip()


def attempts_text(result: ScenarioResult) -> str:
    return f"{result.attempts} attempt{'s' if result.attempts != 1 else ''}"


def format_scenario(result: ScenarioResult) -> str:
    """Detail of one scenario: verdict, every check, error, failed attempts, SIP ladder."""
    lines = [
        f"{result.name}: {result.verdict.value.upper()} in {result.duration_s:.1f}s ({attempts_text(result)})",
        f"  file: {result.file}",
    ]
    if result.artefacts:
        lines.append(f"  artefacts: {result.artefacts}")
    if result.error:
        lines.append(f"  error: {one_line(result.error)}")
    if result.checks:
        failed = result.failed_checks
        n = len(result.checks)
        lines.append(f"  checks: {len(failed)} of {n} failed" if failed else f"  checks: all {n} passed")
        # the failures first: 20-30 PASS lines must not hide the one FAIL
        lines.extend(f"    {check_line(c)}" for c in failed + tuple(c for c in result.checks if c.passed))
    for att in result.summary.failed_attempts:
        lines.append(f"  attempt {att.attempt}: {str(att.verdict).upper()}"
                     + (f" - {one_line(att.error)}" if att.error else ""))
        for c in att.failed_checks:
            lines.append(f"    FAIL {one_line(c.name)}: expected {one_line(c.expected)},"
                         f" seen {one_line(c.seen)}")
    if result.ladder:
        lines.append("  SIP ladder:")
        lines.extend(f"    {clean_line(line)}" for line in result.ladder)
    return "\n".join(lines) + "\n"


def failing_pages(results: Sequence[ScenarioResult], out_dir: Path, page_name: str) -> str:
    """``FAIL name: path/report.html`` for every scenario that did not plainly pass and has a page."""
    lines = []
    for r in results:
        if r.verdict is Verdict.PASS or not r.artefacts:
            continue
        folder = Path(r.artefacts)
        page = (folder if folder.is_absolute() else out_dir / folder) / page_name
        if page.is_file():
            lines.append(f"{r.verdict.value.upper()} {one_line(r.name)}: {page}")
    return "".join(line + "\n" for line in lines)


def _problems(result: ScenarioResult) -> list[str]:
    out = [failed_check_line(c) for c in result.failed_checks]
    if result.verdict is Verdict.ERROR and result.error:
        out.insert(0, "error: " + one_line(result.error))
    if result.verdict is Verdict.FLAKY:
        n = len(result.summary.failed_attempts)
        out.insert(0, f"passed on attempt {result.attempts} after {n} failed")
    return out or [""]


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    out = []
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r, widths, strict=False)] + [r[-1]]  # the last column is not padded
        out.append("  ".join(cells).rstrip())
    return out


def totals_line(suite: SuiteResult) -> str:
    n = len(suite.results)
    parts = [
        f"{suite.count(Verdict.PASS)} passed",
        f"{suite.count(Verdict.FAIL)} failed",
        f"{suite.count(Verdict.ERROR)} error",
        f"{suite.count(Verdict.FLAKY)} flaky",
    ]
    line = f"{n} scenario run{'s' if n != 1 else ''}: {', '.join(parts)} in {suite.duration_s:.1f}s (jobs {suite.jobs})"
    if suite.interrupted:
        line += f"; INTERRUPTED, {suite.not_run} not run"
    return line


def format_summary(suite: SuiteResult) -> str:
    """The final table: scenario, verdict, duration, failed checks (expected vs seen)."""
    rows: list[list[str]] = [["SCENARIO", "VERDICT", "TIME", "FAILED CHECKS"]]
    for r in suite.results:
        problems = _problems(r)
        rows.append([r.name, r.verdict.value.upper(), f"{r.duration_s:.1f}s", problems[0]])
        rows.extend(["", "", "", p] for p in problems[1:])
    lines = _table(rows) if suite.results else ["(no scenario was run)"]
    lines.append("")
    lines.append(totals_line(suite))
    return "\n".join(lines) + "\n"
