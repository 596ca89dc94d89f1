"""A load run's verdict: every call proven from the capture, then the thresholds.

Calls leave the caller one at a time, so the k-th INVITE dialog the caller sent in
the capture is the k-th call it placed (its To names the callee it was sent to: a
cross-check).  A call is *proven* when the capture shows its whole outcome and the
caller's pjsua agrees with it: an answered call has its 2xx, ACK, BYE answered 200,
RTP both ways and (per-call DTMF) exactly its own digits; a rejected call has its
final response, the code pjsua reports.  Thresholds then become named checks, the
failing calls named in what they saw.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from callgen.analysis import CaptureAnalysis, Dialog, RtpStream
from callgen.run.evidence import Evidence, LoadCallRecord
from callgen.scenario.model import Load, Scenario
from callgen.verdict.loadlegs import LoadLeg, LoadThroughSut, leg_checks, legs_summary
from callgen.verdict.media import direction_summary, final_response, first_invite, media_addresses, sent_by
from callgen.verdict.mediaindex import MediaIndex, MediaLookup
from callgen.verdict.result import CheckResult, check

#: failing calls named in a check's "seen" text, at most
NAMED_CALLS = 10
#: a call's hold in the capture (its 2xx to its BYE) may differ from the drawn one by this much
HOLD_TOLERANCE_S = 1.0


@dataclass(frozen=True)
class Direction:
    packets: int
    loss_pct: float | None  #: None: no RTP to measure
    jitter_ms: float | None  #: None: no RTP, or a clock rate nobody announced

    def to_json(self) -> dict[str, Any]:
        return {"packets": self.packets, "loss_pct": _round(self.loss_pct), "jitter_ms": _round(self.jitter_ms)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Direction:
        return cls(int(d["packets"]), d.get("loss_pct"), d.get("jitter_ms"))


@dataclass(frozen=True)
class LoadCallRow:
    """One call of the load, as proven (or not) from the capture."""

    index: int
    callee: str
    call_id: str | None
    invite_time: float | None
    final_code: int | None
    setup_ms: float | None
    bye_time: float | None
    duration_s: float | None
    ack: bool
    bye_answered: bool
    forward: Direction  #: caller -> callee
    backward: Direction  #: callee -> caller
    srtp_decrypted: bool
    dtmf_sent: str
    dtmf_seen: str
    pjsua_code: int | None
    proven: bool
    why: tuple[str, ...] = field(default=())  #: why it is not proven
    hold_s: float | None = None  #: the hold callgen drew for it (its BYE must come that long after the answer)
    legs: tuple[LoadLeg, ...] = ()  #: through a SUT: the caller's and the callee's leg, each proven (loadlegs)
    caller: str = ""  #: the caller's pjsua process that placed it (``alice``, ``alice-p2``...: run.plan.process_name)
    #: when callgen asked pjsua to place it (its clock; ``invite_time`` - ``placed`` is pjsua's part of a late INVITE)
    placed: float | None = None

    @property
    def answered(self) -> bool:
        return self.final_code is not None and 200 <= self.final_code < 300

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index, "callee": self.callee, "call_id": self.call_id, "invite_time": _round(self.invite_time, 6),
            "final_code": self.final_code, "setup_ms": _round(self.setup_ms), "bye_time": _round(self.bye_time, 6),
            "duration_s": _round(self.duration_s), "ack": self.ack, "bye_answered": self.bye_answered,
            "rtp_caller_to_callee": self.forward.to_json(), "rtp_callee_to_caller": self.backward.to_json(),
            "srtp_decrypted": self.srtp_decrypted, "dtmf_sent": self.dtmf_sent, "dtmf_seen": self.dtmf_seen,
            "pjsua_code": self.pjsua_code, "hold_s": self.hold_s, "caller": self.caller,
            "placed_time": _round(self.placed, 6), "verdict": "proven" if self.proven else "unproven",
            "why": list(self.why),
        } | ({"legs": [g.to_json() for g in self.legs]} if self.legs else {})

    def directions(self) -> tuple:
        """Every direction measured: the row's own (the caller's leg) and, through a SUT, the callee leg's."""
        return (self.forward, self.backward) + tuple(f for g in self.legs[1:] for f in (g.forward, g.backward))

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LoadCallRow:
        """A row of calls.jsonl (merge-reports recomputes a sharded load's summary from them)."""
        return cls(int(d["index"]), str(d["callee"]), d.get("call_id"), d.get("invite_time"), d.get("final_code"),
                   d.get("setup_ms"), d.get("bye_time"), d.get("duration_s"), bool(d.get("ack")), bool(d.get("bye_answered")),
                   Direction.from_json(d["rtp_caller_to_callee"]), Direction.from_json(d["rtp_callee_to_caller"]),
                   bool(d.get("srtp_decrypted")), str(d.get("dtmf_sent", "")), str(d.get("dtmf_seen", "")),
                   d.get("pjsua_code"), d.get("verdict") == "proven", tuple(d.get("why", ())), d.get("hold_s"),
                   tuple(LoadLeg.from_json(g) for g in d.get("legs", ())), str(d.get("caller", "")), d.get("placed_time"))


def _round(x: float | None, nd: int = 3) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, nd)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100; 100 is the maximum); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _direction(streams: list[RtpStream]) -> Direction:
    if not streams:
        return Direction(0, None, None)
    packets, expected, lost, jitter = direction_summary(tuple(streams))
    return Direction(packets, 100.0 * lost / expected if expected else 0.0, None if math.isnan(jitter) else jitter)


def _row(rec: LoadCallRecord, d: Dialog | None, index: MediaLookup | None, scenario: Scenario) -> LoadCallRow:
    none = Direction(0, None, None)
    if d is None:
        why = (rec.problem or "no INVITE for it in the capture",)
        return LoadCallRow(rec.index, rec.callee, None, None, None, None, None, None, False, False, none, none, False,
                           rec.digits, "", rec.code, False, why, rec.hold_s, caller=rec.caller,
                           placed=rec.placed)
    invite = first_invite(d)
    final = final_response(d)
    ack = any(m.method == "ACK" for m in d.messages)
    bye = next((m for m in d.messages if m.method == "BYE"), None)
    bye_ok = any(m.status == 200 and m.cseq_method == "BYE" for m in d.messages)
    offerer, answerer = media_addresses(d)
    # the call's media began after its INVITE and before its BYE (or the end of its dialog in the capture)
    window = (invite.time if invite else d.messages[0].time, bye.time if bye else math.inf)
    fwd_streams, bwd_streams = index.flow(answerer, window), index.flow(offerer, window)
    fwd, bwd = _direction(fwd_streams), _direction(bwd_streams)
    seen_digits = index.digits(answerer, window) if rec.digits else ""
    code = d.final_code
    why = []
    callee = scenario.agent(rec.callee)
    if invite is not None and f"{callee.user}@" not in (invite.header("To") or ""):
        why.append(f"its INVITE went to {invite.header('To')}, not to {rec.callee}")
    for name, value in scenario.load.headers if scenario.load is not None else ():
        want = value.replace("{n}", str(rec.index))  # Load.call_headers: {n} is the call's global number
        got = invite.header(name) if invite is not None else None
        if got != want:
            why.append(f"its INVITE has {name}: {got}, not {want}" if got is not None else f"its INVITE has no {name}: {want}")
    if code is None:
        why.append("no final response")
    elif rec.code is not None and rec.code != code:
        why.append(f"pjsua reports {rec.code}, the capture {code}")
    if code is not None and 200 <= code < 300:
        if not ack:
            why.append("no ACK")
        if not bye_ok:
            why.append("no BYE answered 200" if bye else "no BYE")
        if fwd.packets == 0 or bwd.packets == 0:
            why.append(f"RTP {fwd.packets} packets caller->callee, {bwd.packets} back")
        held = (bye.time - final.time) if bye and final else None
        if rec.hold_s is not None and bye is not None and held is not None and abs(held - rec.hold_s) > HOLD_TOLERANCE_S:
            why.append(f"held {held:.1f} s, not its {rec.hold_s:g} s")
        if rec.digits and seen_digits != rec.digits:
            why.append(f"DTMF {seen_digits or 'none'} instead of its own {rec.digits}"
                       + (f" (pjsua refused: {rec.dtmf_refused})" if rec.dtmf_refused else ""))
    setup = (final.time - invite.time) * 1000 if final and invite else None
    duration = (bye.time - final.time) if bye and final else None
    decrypted = bool(fwd_streams + bwd_streams) and all(s.decrypted for s in fwd_streams + bwd_streams)
    return LoadCallRow(rec.index, rec.callee, d.call_id, invite.time if invite else None, code, setup,
                       bye.time if bye else None, duration, ack, bye_ok, fwd, bwd, decrypted, rec.digits, seen_digits,
                       rec.code, not why, tuple(why), rec.hold_s, caller=rec.caller, placed=rec.placed)


def load_rows(scenario: Scenario, evidence: Evidence, analysis: CaptureAnalysis) -> tuple[LoadCallRow, ...]:
    """Each placed call with the dialog its caller process sent in its placing order (a caller of many
    calls runs as several pjsua processes, each its own SIP port: each process's dialogs are its calls)."""
    load = scenario.load
    caller = scenario.agent(load.caller)
    names = {rec.caller or load.caller for rec in evidence.load_calls} | {load.caller}
    mine: dict[str, list[Dialog]] = {}
    for name in names:
        ag = evidence.agent(name)
        mine[name] = sorted((d for d in analysis.dialogs if (inv := first_invite(d)) is not None
                             and sent_by(inv, ag, caller)), key=lambda d: first_invite(d).time)
    index = MediaIndex(analysis)
    through = LoadThroughSut(scenario, evidence, analysis)  # each leg through a SUT (loadlegs)
    rows, taken = [], dict.fromkeys(names, 0)
    for rec in evidence.load_calls:
        d, name = None, rec.caller or load.caller
        if rec.pjsua_call is not None and taken[name] < len(mine[name]):
            d, taken[name] = mine[name][taken[name]], taken[name] + 1
        rows.append(through.prove_row(rec, d, _row(rec, through.near(d, rec.callee), index, scenario)))
    return tuple(rows)


def _named(rows: list[LoadCallRow], what) -> str:
    shown = ", ".join(f"call {r.index} ({what(r)})" for r in rows[:NAMED_CALLS])
    more = len(rows) - NAMED_CALLS
    return shown + (f" and {more} more" if more > 0 else "")


def _pct(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def load_checks(load: Load, rows: tuple[LoadCallRow, ...]) -> list[CheckResult]:
    """The thresholds, each a named check (expected vs seen, failing calls named)."""
    e = load.expect
    n = len(rows)
    planned = load.planned()
    answered = [r for r in rows if r.answered]
    out = [check("load.calls_placed", n == planned, f"{planned} calls placed", f"{n} placed",
                 f"only {n} of {planned} calls were placed", "pjsua")]
    if e.answered_pct_min is not None:
        pct = _pct(len(answered), n)
        refused = [r for r in rows if not r.answered]
        out.append(check("load.answered_pct", n > 0 and pct >= e.answered_pct_min, f">= {e.answered_pct_min:g}% answered (ASR)",
                         f"{pct:.2f}% ({len(answered)} of {n})" +
                         (f"; not answered: {_named(refused, lambda r: r.final_code or 'no answer')}" if refused else ""),
                         "too few calls answered"))
    unproven = [r for r in rows if not r.proven]
    pct = _pct(n - len(unproven), n)
    out.append(check("load.proven_pct", n > 0 and pct >= e.proven_pct_min, f">= {e.proven_pct_min:g}% of calls proven from the capture",
                     f"{pct:.2f}% ({n - len(unproven)} of {n})" +
                     (f"; unproven: {_named(unproven, lambda r: '; '.join(r.why))}" if unproven else ""),
                     "calls the capture does not prove"))
    setups = [r.setup_ms for r in rows if r.setup_ms is not None]
    for name, q, bound in e.setup_ms.bounds():
        got = percentile(setups, q)
        slow = sorted((r for r in rows if r.setup_ms is not None and r.setup_ms > bound), key=lambda r: -r.setup_ms)
        out.append(check(f"load.setup_ms.{name}", got is not None and got <= bound, f"setup time {name} <= {bound:g} ms",
                         (f"{got:.1f} ms" if got is not None else "no call set up")
                         + (f"; slower: {_named(slow, lambda r: f'{r.setup_ms:.0f} ms')}"
                            if slow and got is not None and got > bound else ""),
                         f"setup time {name} too slow"))
    for label, attr, bound in (("loss", "loss_pct", e.max_loss_pct), ("jitter", "jitter_ms", e.max_jitter_ms)):
        if bound is None:
            continue
        unit = "%" if label == "loss" else " ms"
        bad = [r for r in answered for dirn in r.directions() if getattr(dirn, attr) is None or getattr(dirn, attr) > bound]
        bad = list({r.index: r for r in bad}.values())
        worst = max((getattr(dn, attr) for r in answered for dn in r.directions() if getattr(dn, attr) is not None), default=None)
        out.append(check(f"load.rtp.{label}", bool(answered) and not bad, f"every answered call's {label} <= {bound:g}{unit} each way",
                         (f"worst {worst:.2f}{unit}" if worst is not None else "nothing measured")
                         + (f"; over: {_named(bad, lambda r, a=attr: '/'.join(_fmt(dn, a) for dn in r.directions()))}" if bad else ""),
                         f"{label} bound missed"))
    if e.dtmf_ok_pct_min is not None and load.dtmf:
        wrong = [r for r in answered if r.dtmf_seen != r.dtmf_sent]
        pct = _pct(len(answered) - len(wrong), len(answered))
        out.append(check("load.dtmf_ok_pct", bool(answered) and pct >= e.dtmf_ok_pct_min,
                         f">= {e.dtmf_ok_pct_min:g}% of answered calls show exactly their own digits",
                         f"{pct:.2f}% ({len(answered) - len(wrong)} of {len(answered)})"
                         + (f"; wrong: {_named(wrong, lambda r: f'{r.dtmf_seen or chr(8709)} for {r.dtmf_sent}')}" if wrong else ""),
                         "calls without their own digits"))
    return out + leg_checks(load, rows)


def _fmt(d: Direction, attr: str) -> str:
    v = getattr(d, attr)
    return "n/a" if v is None else f"{v:.2f}"


def _peak_per_second(edges: list[tuple[float, int]], t0: float, seconds: int) -> list[int]:
    """Per second of the run, the most calls up at any moment of it (``edges``: sorted
    (time, +1 start / -1 end)); a call up across a whole second counts in it too."""
    peaks = [0] * seconds
    active = last = 0
    for t, step in edges:
        b = min(max(int(t - t0), 0), seconds - 1)
        for k in range(last + 1, b + 1):  # seconds the calls already up ran through
            peaks[k] = max(peaks[k], active)
        active += step
        peaks[b] = max(peaks[b], active)
        last = b
    return peaks


def load_summary(rows: tuple[LoadCallRow, ...]) -> dict[str, Any]:
    """The run in figures (JSON-ready): ASR, codes, setup percentiles, concurrency, cps, media."""
    n = len(rows)
    answered = [r for r in rows if r.answered]
    setups = [r.setup_ms for r in rows if r.setup_ms is not None]
    spans = [(r.invite_time, r.bye_time or r.invite_time + (r.setup_ms or 0) / 1000) for r in rows if r.invite_time]
    edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    active = peak = 0
    for _, step in edges:
        active += step
        peak = max(peak, active)
    t0 = min((a for a, _ in spans), default=0.0)
    cps = Counter(int(a - t0) for a, _ in spans)
    seconds = int(max((b for _, b in spans), default=t0) - t0) + 1 if spans else 0
    # the most calls up at once (an INVITE sent, no BYE yet) within each second of the run:
    # the same definition as concurrency_max, so the chart's highest bar is that figure
    active_per_second = _peak_per_second(edges, t0, seconds)
    width = max(1.0, (percentile(setups, 100) or 0) / 20) if setups else 1.0
    width = float(next(w for w in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 1e9) if w >= width))
    histogram = Counter(int(v // width) for v in setups)

    def dist(values: list[float]) -> dict[str, float | None]:
        return {"p50": _round(percentile(values, 50)), "p95": _round(percentile(values, 95)), "max": _round(percentile(values, 100))}

    loss = [d.loss_pct for r in answered for d in r.directions() if d.loss_pct is not None]
    jitter = [d.jitter_ms for r in answered for d in r.directions() if d.jitter_ms is not None]
    dtmf_calls = [r for r in answered if r.dtmf_sent]
    return {
        "attempted": n,
        "answered": len(answered),
        "asr_pct": _round(_pct(len(answered), n)),
        "proven": sum(r.proven for r in rows),
        "proven_pct": _round(_pct(sum(r.proven for r in rows), n)),
        "final_codes": {str(k): v for k, v in sorted(Counter(r.final_code for r in rows if r.final_code).items())},
        "no_final_response": sum(r.final_code is None for r in rows),
        "setup_ms": {"p50": _round(percentile(setups, 50)), "p95": _round(percentile(setups, 95)),
                     "p99": _round(percentile(setups, 99)), "max": _round(percentile(setups, 100))},
        "concurrency_max": peak,
        "cps_per_second": [cps.get(s, 0) for s in range(seconds)],  # the same bins as active_per_second
        "active_per_second": active_per_second,
        "setup_histogram": {"bin_ms": width, "counts": [histogram.get(i, 0) for i in range(max(histogram) + 1)] if histogram else []},
        "loss_pct": dist(loss),
        "jitter_ms": dist(jitter),
        "dtmf_proven_pct": _round(_pct(sum(r.dtmf_seen == r.dtmf_sent for r in dtmf_calls), len(dtmf_calls))) if dtmf_calls else None,
        "unproven": [{"index": r.index, "why": list(r.why)} for r in rows if not r.proven][:50],
    } | legs_summary(rows)
