"""Evidence -> named checks with PASS/FAIL, expected and seen.

Every verdict rests on the capture (``callgen.analysis``); what the pjsua
agents said is a second source used to cross-check, never the only one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callgen.analysis import CaptureAnalysis, Dialog, analyze_capture, ladder_lines
from callgen.errors import CallgenError
from callgen.evidence import Evidence
from callgen.model import Call, HangupStep, Scenario
from callgen.result import CheckResult


@dataclass(frozen=True)
class Outcome:
    checks: tuple[CheckResult, ...]
    ladder: tuple[str, ...] = ()
    summary: dict[str, Any] = field(default_factory=dict)


def _host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _invite_src(d: Dialog) -> str | None:
    first = next((m for m in d.messages if m.method == "INVITE"), None)
    return first.src if first else None


def dialogs_of_calls(scenario: Scenario, evidence: Evidence, analysis: CaptureAnalysis) -> dict[int, Dialog | None]:
    """The k-th call a caller placed is the k-th INVITE dialog from its SIP address."""
    by_src: dict[str, list[Dialog]] = {}
    for d in sorted(analysis.dialogs, key=lambda d: d.messages[0].time if d.messages else 0):
        src = _invite_src(d)
        if src:
            by_src.setdefault(src, []).append(d)
    out: dict[int, Dialog | None] = {}
    taken: dict[str, int] = {}
    for call in scenario.calls:
        ag = evidence.agent(call.caller)
        src = _host_port(ag.address, ag.sip_port)
        k = taken.get(src, 0)
        taken[src] = k + 1
        lst = by_src.get(src, [])
        out[call.index] = lst[k] if k < len(lst) else None
    return out


def expected_final_code(scenario: Scenario, call: Call) -> int:
    if call.expect.final_code is not None:
        return call.expect.final_code
    if call.callee is not None:
        return scenario.agent(call.callee).answer
    return 200


def _check(name: str, ok: bool, expected: str, seen: str, reason: str = "", evidence: str = "capture") -> CheckResult:
    return CheckResult(name=name, passed=ok, expected=expected, seen=seen, reason=reason, evidence=evidence)


def _messages(d: Dialog, *, method: str | None = None, status_for: str | None = None):
    for m in d.messages:
        if method and m.method == method:
            yield m
        if status_for and m.status is not None and m.cseq_method == status_for:
            yield m


def call_checks(scenario: Scenario, evidence: Evidence, call: Call, d: Dialog | None) -> list[CheckResult]:
    p = f"call{call.index + 1}"
    want = expected_final_code(scenario, call)
    checks = []
    if d is None:
        return [_check(f"{p}.invite", False, "an INVITE from " + call.caller, "no INVITE from its SIP port in the capture")]
    checks.append(_check(f"{p}.invite", True, f"an INVITE from {call.caller}", f"INVITE {d.call_id}"))
    seen = str(d.final_code) if d.final_code is not None else "no final response"
    checks.append(_check(f"{p}.final_code", d.final_code == want, str(want), seen,
                         "" if d.final_code == want else f"expected {want}, the capture shows {seen}"))
    if d.final_code is not None and 200 <= d.final_code < 300:
        acks = list(_messages(d, method="ACK"))
        checks.append(_check(f"{p}.ack", bool(acks), "ACK for the 2xx", f"{len(acks)} ACK"))
        hangups = [s for s in call.steps if isinstance(s, HangupStep)]
        byes = list(_messages(d, method="BYE"))
        bye_ok = [m for m in _messages(d, status_for="BYE") if m.status == 200]
        if hangups:
            who = evidence.agent(hangups[0].by)
            src = _host_port(who.address, who.sip_port)
            from_who = [m for m in byes if m.src == src]
            checks.append(_check(f"{p}.bye", bool(from_who), f"BYE from {hangups[0].by} ({src})",
                                 ", ".join(f"BYE from {m.src}" for m in byes) or "no BYE"))
        checks.append(_check(f"{p}.bye_answered", bool(bye_ok), "200 OK to the BYE",
                             "200 OK" if bye_ok else ("BYE unanswered" if byes else "no BYE")))
    if call.expect.codec:
        checks.append(_codec_check(p, call.expect.codec, d))
    return checks


def _codec_check(p: str, want: str, d: Dialog) -> CheckResult:
    seen = "no SDP answer"
    if d.answer and d.answer.media:
        m = d.answer.media[0]
        pts = [pt for pt in m.payload_types if pt not in m.telephone_event_pts]
        if pts:
            name = m.rtpmap.get(pts[0], (f"PT {pts[0]}", 0))[0]
            seen = name
    ok = seen.lower() == want.lower()
    return _check(f"{p}.codec", ok, want, seen, "" if ok else f"the SDP answer selected {seen}, not {want}")


def step_checks(evidence: Evidence) -> list[CheckResult]:
    out = []
    for s in evidence.steps:
        if s.step < 0:
            continue
        out.append(_check(f"call{s.call + 1}.step{s.step + 1}", s.ok, s.action, s.detail, "" if s.ok else s.detail, "pjsua"))
    return out


def agent_agreement(scenario: Scenario, evidence: Evidence, call: Call, d: Dialog | None) -> list[CheckResult]:
    """pjsua's own account of the call must match the capture."""
    if d is None or d.final_code is None:
        return []
    ag = evidence.agent(call.caller)
    disc = [e for e in ag.events if e.kind.value == "disconnected"]
    if not disc:
        return []
    pjsua_code = disc[min(call.index, len(disc) - 1)].code
    if d.final_code >= 300:
        ok = pjsua_code == d.final_code
        return [_check(f"call{call.index + 1}.pjsua_agrees", ok, f"caller pjsua reports {d.final_code}",
                       f"caller pjsua reports {pjsua_code}", "" if ok else "pjsua and the capture disagree", "pjsua")]
    return []


def evaluate(scenario: Scenario, evidence: Evidence) -> Outcome:
    checks: list[CheckResult] = []
    if not evidence.pcap_path.is_file():
        return Outcome((_check("capture", False, "a capture file", "none written", evidence.error),))
    try:
        analysis = analyze_capture(str(evidence.pcap_path), key_logs=tuple(str(a.log_path) for a in evidence.agents if a.log_path.is_file()))
    except CallgenError as exc:
        return Outcome((_check("capture", False, "a readable capture", str(exc)),))
    dialogs = dialogs_of_calls(scenario, evidence, analysis)
    ladder: list[str] = []
    for call in scenario.calls:
        d = dialogs[call.index]
        checks += call_checks(scenario, evidence, call, d)
        checks += agent_agreement(scenario, evidence, call, d)
        if d is not None:
            ladder.append(f"call{call.index + 1} {call.caller} -> {call.callee or call.uri}  Call-ID {d.call_id}")
            ladder += ["  " + l for l in ladder_lines(d)]
    checks += step_checks(evidence)
    summary = analysis.to_json()
    summary.pop("dialogs", None)
    return Outcome(tuple(checks), tuple(ladder), summary)
