"""From stored scenario runs to what a nightly reader asks: per scenario a row of nights,
what newly fails, what was flaky lately, what got slower than its own median."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from callgen.history.model import LegMetric
from callgen.history.store import StoredResult
from callgen.verdict.result import Verdict

#: a night with several runs of a scenario (repeats, a rerun) shows the worst of them
SEVERITY = {Verdict.PASS: 0, Verdict.FLAKY: 1, Verdict.FAIL: 2, Verdict.ERROR: 3}
BAD = (Verdict.FAIL, Verdict.ERROR)


@dataclass(frozen=True)
class Cell:
    """One scenario in one night."""

    night: str
    verdict: Verdict
    runs: int
    duration_s: float  #: the longest run of the night
    setup_ms: float | None
    mos: float | None  #: the worst leg's E-model MOS
    pesq: float | None  #: the worst PESQ score
    flaky_attempts: int
    failed_checks: tuple[str, ...]
    error: str
    revision: str
    legs: tuple[LegMetric, ...] = ()  #: the worst run's media legs

    @property
    def reason(self) -> str:
        if self.error:
            return self.error
        if self.failed_checks:
            return self.failed_checks[0]
        if self.flaky_attempts:
            return f"passed after {self.flaky_attempts} failed attempt{'s' if self.flaky_attempts != 1 else ''}"
        return ""


@dataclass(frozen=True)
class Row:
    scenario: str
    klass: str
    file: str
    cells: tuple[Cell | None, ...]  #: aligned with ``History.nights``; None: not run that night

    @property
    def ran(self) -> list[Cell]:
        return [c for c in self.cells if c is not None]

    @property
    def last(self) -> Cell | None:
        return self.cells[-1] if self.cells else None


@dataclass(frozen=True)
class Finding:
    scenario: str
    text: str


@dataclass(frozen=True)
class History:
    nights: tuple[str, ...]
    rows: tuple[Row, ...]
    newly_failing: tuple[Finding, ...]
    still_failing: tuple[Finding, ...]
    fixed: tuple[Finding, ...]
    flaky: tuple[Finding, ...]
    slower: tuple[Finding, ...]
    flaky_window: int
    slower_factor: float


def _min(values: Sequence[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return min(found) if found else None


def _cell(night: str, runs: Sequence[StoredResult]) -> Cell:
    worst = max(runs, key=lambda r: SEVERITY[r.entry.verdict])
    entries = [r.entry for r in runs]
    setups = [e.setup_ms for e in entries if e.setup_ms is not None]
    return Cell(
        night=night,
        verdict=worst.entry.verdict,
        runs=len(runs),
        duration_s=max(e.duration_s for e in entries),
        setup_ms=max(setups) if setups else None,
        mos=_min([leg.mos for e in entries for leg in e.legs]),
        pesq=_min([leg.pesq for e in entries for leg in e.legs]),
        flaky_attempts=sum(e.flaky_attempts for e in entries),
        failed_checks=worst.entry.failed_checks,
        error=worst.entry.error,
        revision=worst.entry.revision,
        legs=worst.entry.legs,
    )


def _median_excess(now: float | None, before: Sequence[float | None], factor: float, floor: float) -> float | None:
    """The median of ``before`` when ``now`` exceeds it by ``factor`` and by at least ``floor``."""
    values = [v for v in before if v is not None]
    if now is None or len(values) < 2:
        return None
    median = statistics.median(values)
    return median if now > median * factor and now - median >= floor else None


def _findings(rows: Sequence[Row], nights: Sequence[str], window: int, factor: float) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {"newly": [], "still": [], "fixed": [], "flaky": [], "slower": []}
    recent = set(nights[-window:])
    for row in rows:
        last = row.last
        earlier = [c for c in row.cells[:-1] if c is not None]
        prev = earlier[-1] if earlier else None
        if last is not None and last.verdict in BAD:
            if prev is None or prev.verdict not in BAD:
                since = f"first recorded night {last.night}" if prev is None else f"passed on {prev.night}"
                out["newly"].append(Finding(row.scenario, f"{last.verdict.value.upper()} ({since}): {last.reason}"))
            else:
                streak = 0
                for c in reversed(row.ran):
                    if c.verdict not in BAD:
                        break
                    streak += 1
                first_bad = row.ran[-streak].night
                out["still"].append(Finding(row.scenario, f"failing {streak} nights in a row, since {first_bad}: {last.reason}"))
        elif last is not None and prev is not None and prev.verdict in BAD:
            out["fixed"].append(Finding(row.scenario, f"{last.verdict.value.upper()} again (failed on {prev.night})"))
        flaky = [c for c in row.ran if c.night in recent and (c.verdict is Verdict.FLAKY or c.flaky_attempts)]
        if flaky:
            shown = sum(1 for c in row.ran if c.night in recent)
            out["flaky"].append(Finding(row.scenario, f"flaky on {len(flaky)} of its {shown} nights in the last {window}"
                                                      f" (last {flaky[-1].night}: {flaky[-1].reason})"))
        if last is not None:
            slow = []
            median = _median_excess(last.duration_s, [c.duration_s for c in earlier], factor, 0.5)
            if median is not None:
                slow.append(f"took {last.duration_s:.1f} s, its median {median:.1f} s")
            median = _median_excess(last.setup_ms, [c.setup_ms for c in earlier], factor, 20.0)
            if median is not None:
                slow.append(f"setup {last.setup_ms:.0f} ms, its median {median:.0f} ms")
            if slow:
                out["slower"].append(Finding(row.scenario, "; ".join(slow)))
    return out


def build_history(stored: Sequence[StoredResult], *, flaky_window: int = 7, slower_factor: float = 1.5,
                  last: int | None = None) -> History:
    """Group stored runs by night (ordered by when the night's first run started) and scenario;
    only the ``last`` nights when given."""
    first_start: dict[str, str] = {}
    for r in stored:
        first_start[r.night] = min(first_start.get(r.night, r.started), r.started)
    nights = tuple(sorted(first_start, key=lambda n: (first_start[n], n)))
    if last is not None and len(nights) > last:
        nights = nights[-last:]
        shown = set(nights)
        stored = [r for r in stored if r.night in shown]
    grouped: dict[str, dict[str, list[StoredResult]]] = {}
    for r in stored:
        grouped.setdefault(r.entry.scenario, {}).setdefault(r.night, []).append(r)
    rows = []
    for scenario, by_night in grouped.items():
        latest = max((r for runs in by_night.values() for r in runs), key=lambda r: (r.started, r.run_id))
        cells = tuple(_cell(n, by_night[n]) if n in by_night else None for n in nights)
        rows.append(Row(scenario, latest.entry.klass, latest.entry.file, cells))
    # the reader's order: failing now first, then flaky, then by name
    rows.sort(key=lambda row: (-(SEVERITY[row.last.verdict] if row.last else -1), row.klass, row.scenario))
    found = _findings(rows, nights, flaky_window, slower_factor)
    return History(nights, tuple(rows), tuple(found["newly"]), tuple(found["still"]), tuple(found["fixed"]),
                   tuple(found["flaky"]), tuple(found["slower"]), flaky_window, slower_factor)
