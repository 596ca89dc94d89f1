"""What the history keeps of one scenario run, taken from the suite report's JSON.

The history reads the same JSON that ``--json`` writes (``callgen.reports.jsonreport``)
and ``merge-reports`` merges, so a night can be recorded from a live run or from a
merged shard report alike.  Figures the report does not hold stay ``None``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from callgen.verdict.ladder import CallFlow
from callgen.verdict.result import ScenarioResult, Verdict

MAX_FAILED_CHECKS = 20  #: failed checks kept per scenario run (the rest are counted)
MAX_TEXT = 300  #: characters kept of one failed check or error line
MAX_LEGS = 32  #: media legs kept per scenario run

_PESQ = re.compile(r"PESQ MOS-LQO (\d+(?:\.\d+)?)")
_PESQ_CHECK = re.compile(r"^(call\d+)\.audio\[(.+)\]\.pesq$")


@dataclass(frozen=True)
class LegMetric:
    """One media direction of one call ("call1 alice→bob") as the capture measured it."""

    leg: str
    codec: str | None
    loss_pct: float | None
    jitter_ms: float | None
    mos: float | None  #: E-model estimate from the capture
    pesq: float | None  #: PESQ MOS-LQO of the recording, where the scenario asked for one


@dataclass(frozen=True)
class ScenarioNight:
    """One run of one scenario, ready to store."""

    scenario: str
    file: str
    klass: str  #: the library folder or first tag (as JUnit's classname)
    verdict: Verdict
    duration_s: float
    attempts: int
    flaky_attempts: int  #: failed attempts before the one that counted
    setup_ms: float | None  #: INVITE to final response, the slowest call (load: the median)
    failed_checks: tuple[str, ...]
    error: str
    revision: str  #: git revision of the scenario library ("" when unknown)
    legs: tuple[LegMetric, ...]


@dataclass(frozen=True)
class RunInfo:
    """One recorded run (a night, or one shard of it)."""

    night: str  #: the label nights are grouped by (default: the UTC date the run started)
    started: str  #: ISO time the run started
    source: str  #: where it was recorded from ("run", "merge-reports ...", a file)
    callgen_version: str


def _cut(text: Any) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_TEXT else line[: MAX_TEXT - 1] + "…"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None


def night_of(started: str) -> str:
    """The UTC date a run started (``YYYY-MM-DD``); today when the start is unknown."""
    try:
        when = dt.datetime.fromisoformat(started)
    except (TypeError, ValueError):
        when = dt.datetime.now(dt.UTC)
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC)
    return when.date().isoformat()


def setup_ms_of(flows: Sequence[CallFlow]) -> float | None:
    """The slowest call's setup: first INVITE to its first final response, from the flow."""
    worst = None
    for flow in flows:
        invite = next((m for m in flow.messages if m.method == "INVITE" and not m.retransmission), None)
        final = next((m for m in flow.messages if m.status is not None and m.status >= 200
                      and m.cseq_method == "INVITE" and invite is not None and m.time >= invite.time), None)
        if invite is not None and final is not None:
            ms = (final.time - invite.time) * 1000.0
            worst = ms if worst is None else max(worst, ms)
    return round(worst, 3) if worst is not None else None


def _owners(flow: CallFlow) -> dict[str, str]:
    """RTP address -> agent name, from the SDP each party sent (pjsua sends from where it receives)."""
    owners: dict[str, str] = {}
    for m in flow.messages:
        if m.sdp and m.sdp.addr and m.sdp.port:
            host = f"[{m.sdp.addr}]" if ":" in m.sdp.addr else m.sdp.addr
            owners.setdefault(f"{host}:{m.sdp.port}", flow.parties[m.src_party].label)
    return owners


def _pesq_by_receiver(checks: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], float]:
    """(``callN``, receiver) -> PESQ MOS-LQO, from the ``callN.audio[receiver].pesq`` checks' seen text."""
    out: dict[tuple[str, str], float] = {}
    for c in checks:
        name = _PESQ_CHECK.match(str(c.get("name", "")))
        found = _PESQ.search(str(c.get("seen", ""))) if name else None
        if name and found:
            out[(name.group(1), name.group(2))] = float(found.group(1))
    return out


def legs_of(result: ScenarioResult) -> tuple[LegMetric, ...]:
    """Every RTP stream of the run, named by call and the agents at its ends (stable across
    nights, unlike ports).  A load run gives one "all calls" leg with the medians."""
    summary = result.summary
    load = summary.load
    if load is not None:
        loss, jitter = load.loss_pct, load.jitter_ms
        return (LegMetric("all calls (median)", None, _number(loss.p50 if loss else None), _number(jitter.p50 if jitter else None),
                          None, None),)
    flows = result.flows
    by_call = {f.call_id: f for f in flows}
    pesq = _pesq_by_receiver([c.to_dict() for c in result.checks])
    legs: list[LegMetric] = []
    for s in summary.rtp_streams:
        flow = by_call.get(s.call_id or "")
        owners = _owners(flow) if flow else {}
        src, dst = s.src or "?", s.dst or "?"
        call = flow.call if flow else "call?"
        label = f"{call} {owners.get(src, src)}→{owners.get(dst, dst)}"
        expected, lost = _number(s.expected), _number(s.lost)
        loss = round(100.0 * lost / expected, 3) if expected and lost is not None else None
        legs.append(LegMetric(label, str(s.codec) if s.codec else None, loss, _number(s.jitter_ms_mean),
                              _number(s.mos), pesq.get((call, owners.get(dst, "")))))
    legs.sort(key=lambda leg: leg.leg)
    return tuple(legs[:MAX_LEGS])


def class_of(result: ScenarioResult) -> str:
    """The library folder of the scenario file, else its first tag, else "callgen" (JUnit's class)."""
    from callgen.reports.junit import classname_of

    return classname_of(result.file, result.tags).removeprefix("callgen.")


def scenario_night(data: Mapping[str, Any], revision: str = "") -> ScenarioNight:
    """One entry of a JSON report's ``results`` as the history keeps it."""
    result = ScenarioResult.from_dict(dict(data))
    failed = [f"{c.name}: expected {c.expected}, seen {c.seen}" for c in result.failed_checks]
    if len(failed) > MAX_FAILED_CHECKS:
        failed = failed[:MAX_FAILED_CHECKS] + [f"... and {len(failed) - MAX_FAILED_CHECKS} more failed checks"]
    attempts = result.summary.failed_attempts
    load = result.summary.load
    if load is not None and load.setup_ms is not None:
        setup = _number(load.setup_ms.p50)
    else:
        setup = setup_ms_of(result.flows)
    return ScenarioNight(
        scenario=result.name,
        file=result.file,
        klass=class_of(result),
        verdict=result.verdict,
        duration_s=round(result.duration_s, 3),
        attempts=result.attempts,
        flaky_attempts=len(attempts),
        setup_ms=setup,
        failed_checks=tuple(_cut(f) for f in failed),
        error=_cut(result.error) if result.error else "",
        revision=revision,
        legs=legs_of(result),
    )

