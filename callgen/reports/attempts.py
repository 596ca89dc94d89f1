"""A flaky scenario's failed attempts, reason first, for every report.

A FLAKY result is the passing attempt; what went wrong before travels in
``summary.failed_attempts`` (see ``callgen.suite.execute._combine``).  The index's
failed-checks column, ``summary.md`` and the run's page show that reason first, and
each failed attempt's folder gets its own ``report.html`` from its ``result.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from callgen.reports.svg import esc
from callgen.reports.text import added_reason, check_line, one_line
from callgen.verdict.findings import FailedCheck
from callgen.verdict.result import CheckResult, ScenarioResult, Verdict


@dataclass(frozen=True)
class FailedAttempt:
    """One failed attempt of a scenario that passed later."""

    number: int
    verdict: str
    error: str
    checks: tuple[CheckResult, ...]
    folder: str  #: its run folder ("" if not kept)

    def reasons(self) -> list[str]:
        """``attempt 1 FAIL: FAIL call1.final_code: expected 200, seen 486 [capture]``, one per failed check."""
        head = f"attempt {self.number} {self.verdict.upper()}"
        lines = [f"{head}: {check_line(c)}" for c in self.checks]
        if self.error or not lines:
            lines.insert(0, f"{head}: {one_line(self.error) or 'no reason recorded'}")
        return lines


def _check(c: FailedCheck) -> CheckResult:
    return CheckResult(name=str(c.name), passed=False, expected=str(c.expected), seen=str(c.seen),
                       reason=str(c.reason or ""), evidence=str(c.evidence or ""))


def failed_attempts(result: ScenarioResult) -> list[FailedAttempt]:
    out = []
    for a in result.summary.failed_attempts:
        checks = tuple(_check(c) for c in a.failed_checks)
        number = a.attempt
        out.append(FailedAttempt(number if isinstance(number, int) else len(out) + 1, str(a.verdict or "fail"),
                                 str(a.error or ""), checks, str(a.artefacts or "")))
    return out


def attempt_reasons(result: ScenarioResult) -> list[str]:
    """Every failed attempt's reasons, in order (empty unless the result is FLAKY)."""
    if result.verdict is not Verdict.FLAKY:
        return []
    return [line for a in failed_attempts(result) for line in a.reasons()]


def attempt_folder(attempt: FailedAttempt, out_dir: Path) -> Path | None:
    if not attempt.folder:
        return None
    folder = Path(attempt.folder)
    folder = folder if folder.is_absolute() else out_dir / folder
    return folder if folder.is_dir() else None


def attempt_result(folder: Path) -> ScenarioResult | None:
    """The failed attempt as it was judged (its folder's ``result.json``), None if unreadable."""
    try:
        return ScenarioResult.from_dict(json.loads((folder / "result.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def flaky_html(result: ScenarioResult, page_links: Mapping[int, str]) -> Iterable[str]:
    """The box at the top of a FLAKY scenario: which attempt failed and why, with its page."""
    attempts = failed_attempts(result) if result.verdict is Verdict.FLAKY else []
    if not attempts:
        return
    yield (f'<div class="failed flaky-first" data-kind="flaky"><h3>Flaky: passed on attempt {result.attempts} '
           f"after {len(attempts)} failed</h3>")
    for a in attempts:
        link = page_links.get(a.number, "")
        page = f' (<a href="{esc(link)}">page of attempt {a.number}</a>)' if link else ""
        yield f"<h4>Attempt {a.number}: {esc(a.verdict.upper())}{page}</h4>"
        if a.error:
            yield f'<p class="error-line">error: {esc(a.error)}</p>'
        if a.checks:
            yield '<table class="failed-checks"><tr><th>check</th><th>expected</th><th>seen</th><th>why</th><th>evidence</th></tr>'
            yield from (f"<tr><td>{esc(c.name)}</td><td>{esc(c.expected)}</td><td>{esc(c.seen)}</td>"
                        f"<td>{esc(added_reason(c))}</td><td>{esc(c.evidence or '-')}</td></tr>" for c in a.checks)
            yield "</table>"
        if not a.error and not a.checks:
            yield '<p class="muted">no reason recorded</p>'
    yield "</div>"


def attempt_pages(result: ScenarioResult, out_dir: Path, page_name: str) -> dict[int, Path]:
    """attempt number -> the page its folder gets (only folders still holding ``result.json``)."""
    if result.verdict is not Verdict.FLAKY:
        return {}
    pages = {}
    for a in failed_attempts(result):
        folder = attempt_folder(a, out_dir)
        if folder is not None and (folder / "result.json").is_file():
            pages[a.number] = folder / page_name
    return pages


def relative_links(pages: Mapping[int, Path], base: Path) -> dict[int, str]:
    """The pages as links relative to the folder ``base`` the linking page sits in."""
    return {n: quote(Path(os.path.relpath(p.resolve(), base.resolve())).as_posix()) for n, p in pages.items()}
