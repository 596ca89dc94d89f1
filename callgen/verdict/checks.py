"""Evidence -> named checks with PASS/FAIL, expected and seen.

Every verdict rests on the capture (``callgen.analysis``); what the pjsua
agents said is a second source used to cross-check, never the only one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from callgen.analysis import CaptureAnalysis, Dialog, analyze_capture, build_dialog, ladder_lines, sip_times_in_pjsua_log
from callgen.errors import CallgenError
from callgen.pjsua.calldump import CallDump
from callgen.run.evidence import Evidence
from callgen.scenario.model import Call, DtmfStep, HangupStep, HoldStep, PauseStep, RtpExpect, Scenario, TransferStep, Transport, WaitStep
from callgen.verdict.counters import counter_checks
from callgen.verdict.findings import Findings
from callgen.verdict.flows import lane_parties, register_flows
from callgen.verdict.headers import header_checks
from callgen.verdict.ladder import REGISTER_KEY, SUMMARY_KEY, CallInfo, build_flows
from callgen.verdict.legchecks import (
    call_id_check,
    cancel_leg_checks,
    leg_summary,
    media_path_check,
    relayed_bye_checks,
    relayed_media_checks,
)
from callgen.verdict.legs import CALLEE, CALLER, CallLegs, agent_addresses, find_legs
from callgen.verdict.load import load_checks, load_rows, load_summary
from callgen.verdict.loadprover import ProverProcess
from callgen.verdict.media import (
    CallMedia,
    audio_checks,
    call_media,
    dtmf_checks,
    final_response,
    first_invite,
    host_port,
    keying_checks,
    rtp_checks,
    sent_by,
    srtp_checks,
    wire_codecs,
)
from callgen.verdict.result import Check, Outcome, check
from callgen.verdict.transfer import attended_ladders, redirect_checks, referred, steps_before_attended, transfer_checks


def sip_source(d: Dialog) -> str:
    """Where a dialog's SIP was read: the capture, or pjsua's log standing in for it."""
    return "capture" if any(m.transport != "log" for m in d.messages) else "pjsua log"


def _over_tls(scenario: Scenario, call: Call) -> bool:
    uri = (call.uri or "").lower()
    return (scenario.agent(call.caller).transport is Transport.TLS or uri.startswith("sips:")
            or "transport=tls" in uri or (call.callee is not None and scenario.agent(call.callee).transport is Transport.TLS))


def _placed_by(d: Dialog, ag, agent) -> bool:
    inv = first_invite(d)
    return inv is not None and sent_by(inv, ag, agent)


def caller_ordinal(scenario: Scenario, call: Call) -> int:
    """``call`` is its caller's k-th call (0-based)."""
    return sum(1 for c in scenario.calls[: call.index] if c.caller == call.caller)


def dialogs_of_calls(scenario: Scenario, evidence: Evidence, analysis: CaptureAnalysis) -> dict[int, Dialog | None]:
    """The k-th call a caller placed is the k-th INVITE dialog it sent."""
    # a call a transfer caused (INVITE with Referred-By) is none of the scenario's calls
    ordered = sorted((d for d in analysis.dialogs if d.messages and not any(referred(m) for m in d.messages)),
                     key=lambda d: d.messages[0].time)
    out: dict[int, Dialog | None] = {}
    for call in scenario.calls:
        ag = evidence.agent(call.caller)
        mine = [d for d in ordered if _placed_by(d, ag, scenario.agent(call.caller))]
        k = caller_ordinal(scenario, call)
        out[call.index] = mine[k] if k < len(mine) else None
    return out


def expected_final_code(scenario: Scenario, call: Call) -> int | None:
    if call.expect.final_code is not None:
        return call.expect.final_code
    if call.expect.answered is not None:
        return None  # only 2xx vs not is asked
    if call.callee is not None and scenario.agent(call.callee).redirect_to:
        return 200  # the caller follows the redirect: the target's answer is the call's
    if call.callee is not None:
        answer = scenario.agent(call.callee).answer
        return 487 if answer < 200 else answer  # a call that only rings is cancelled
    return 200


def _msgs(d: Dialog, *, method: str | None = None, status_for: str | None = None):
    for m in d.messages:
        if method and m.method == method:
            yield m
        if status_for and m.status is not None and m.cseq_method == status_for:
            yield m


def sip_checks(scenario: Scenario, evidence: Evidence, call: Call, d: Dialog, legs: CallLegs | None = None) -> list[Check]:
    p = f"call{call.index + 1}"
    src = sip_source(d)
    checks = [check(f"{p}.invite", True, f"an INVITE from {call.caller}", f"INVITE {d.call_id}", evidence=src)]
    if src != "capture" and not _over_tls(scenario, call):
        # Plain SIP the capture should hold: the log is no proof of what crossed the wire.
        checks.append(check(f"{p}.sip_in_capture", False, "the call's SIP (UDP/TCP) in the capture",
                            "only in the pjsua logs", "the capture does not hold this call's SIP", src))
    return checks + [c if c.evidence != "capture" else replace(c, evidence=src)
                     for c in _dialog_checks(p, scenario, evidence, call, d, legs)]


def _dialog_checks(p: str, scenario: Scenario, evidence: Evidence, call: Call, d: Dialog,
                   legs: CallLegs | None = None) -> list[Check]:
    want = expected_final_code(scenario, call)
    seen = str(d.final_code) if d.final_code is not None else "no final response"
    checks = []
    if want is not None:
        checks.append(check(f"{p}.final_code", d.final_code == want, str(want), seen,
                            f"expected {want}, the capture shows {seen}"))
    answered = d.final_code is not None and 200 <= d.final_code < 300
    if call.expect.answered is not None:
        checks.append(check(f"{p}.answered", answered == call.expect.answered, "answered (2xx)" if call.expect.answered else "not answered",
                            seen, f"the call was {'' if answered else 'not '}answered ({seen})"))
    invite = first_invite(d)
    final = final_response(d)
    if call.expect.setup_ms_max is not None:
        ms = (final.time - invite.time) * 1000 if final and invite else None
        checks.append(check(f"{p}.setup_time", ms is not None and ms <= call.expect.setup_ms_max,
                            f"<= {call.expect.setup_ms_max:g} ms INVITE to final response",
                            f"{ms:.1f} ms" if ms is not None else "no final response", "call setup too slow"))
    if answered:
        checks += _answered_checks(p, scenario, evidence, call, d, final, legs)
    kinds = {type(s) for s in call.steps}
    for kind, rule in STEP_CHECKS.items():  # each step kind the call has adds its checks once
        if kind in kinds:
            checks += rule(p, call, d, answered)
    if legs is not None and not answered and HangupStep in kinds and d.final_code in (None, 487):
        checks += cancel_leg_checks(p, legs, _cancel_checks)
    return checks


def _answered_checks(p: str, scenario: Scenario, evidence: Evidence, call: Call, d: Dialog, final,
                     legs: CallLegs | None = None) -> list[Check]:
    checks = []
    acks = list(_msgs(d, method="ACK"))
    checks.append(check(f"{p}.ack", bool(acks), "ACK for the 2xx", f"{len(acks)} ACK"))
    hangups = [s for s in steps_before_attended(call) if isinstance(s, HangupStep)]  # later ones end the new call
    byes = list(_msgs(d, method="BYE"))
    bye_ok = [m for m in _msgs(d, status_for="BYE") if m.status == 200]
    if legs is not None and legs.relayed:
        checks += relayed_bye_checks(p, scenario, evidence, call, legs)
    elif hangups:
        who = evidence.agent(hangups[0].by)
        from_who = [m for m in byes if sent_by(m, who, scenario.agent(hangups[0].by))]
        checks.append(check(f"{p}.bye", bool(from_who), bye_sender(hangups[0].by, who.address, who.sip_port,
                                                                   scenario.agent(hangups[0].by).transport),
                            ", ".join(f"BYE from {m.src}" + (f" ({hangups[0].by})" if m in from_who else "") for m in byes)
                            or "no BYE"))
    if (hangups or byes) and not (legs is not None and legs.relayed):
        checks.append(check(f"{p}.bye_answered", bool(bye_ok), "200 OK to the BYE",
                            "200 OK" if bye_ok else ("BYE unanswered" if byes else "no BYE")))
    exp = call.expect
    if exp.duration_min_s is not None or exp.duration_max_s is not None:
        dur = (byes[0].time - final.time) if byes and final else None
        lo = exp.duration_min_s if exp.duration_min_s is not None else 0
        hi = exp.duration_max_s if exp.duration_max_s is not None else float("inf")
        checks.append(check(f"{p}.duration", dur is not None and lo <= dur <= hi, f"{lo:g} s <= duration <= {hi:g} s",
                            f"{dur:.2f} s (200 OK to BYE)" if dur is not None else "no BYE", "call duration out of range"))
    return checks


def _cancel_checks(p: str, d: Dialog) -> list[Check]:
    """Hanging up before the answer is a CANCEL, answered 200, and the INVITE ends 487.
    Before any provisional response no CANCEL may be sent (RFC 3261 9.1): then
    there is nothing to check here; the final code check says what came back."""
    provisional = [m for m in _msgs(d, status_for="INVITE") if m.status is not None and m.status < 200]
    if not provisional and d.final_code is None:
        return []
    cancels = list(_msgs(d, method="CANCEL"))
    ok = [m for m in _msgs(d, status_for="CANCEL") if m.status == 200]
    return [check(f"{p}.cancel", bool(cancels) and bool(ok), "CANCEL answered 200 OK",
                  f"{len(cancels)} CANCEL, {'200 OK' if ok else 'no 200 OK'} to it", "the call was not cancelled cleanly")]


def _codec_check(p: str, want: str, d: Dialog, media: CallMedia) -> Check:
    """The SDP answer selected ``want``, and the audio that flowed either way is ``want``."""
    seen = "no SDP answer"
    a = d.answer.audio() if d.answer else None
    if a is not None:
        pts = [pt for pt in a.payload_types if pt not in a.telephone_event_pts]
        if pts:
            seen = a.rtpmap.get(pts[0], (f"PT {pts[0]}", 0))[0]
    name = want.split("/")[0].lower()
    declined = a is not None and a.port == 0  # m=audio 0: the far end refused the stream (RFC 3264 6)
    if declined:
        seen += " (declined: m=audio 0)"
    ok = seen.lower() == name
    wire = {label: wire_codecs(d, streams, forward=fwd)
            for fwd, label, streams in ((True, "caller->callee", media.forward), (False, "callee->caller", media.backward))}
    wrong = {label: names for label, names in wire.items() if any(n.lower() != name for n in names)}
    silent = not any(wire.values())  # nothing on the wire either way proves no codec
    shown = "; ".join(f"{label} {'/'.join(names) or 'no RTP'}" for label, names in wire.items())
    if declined:
        reason = "the SDP answer declined the audio stream (m=audio 0): no codec was selected"
    elif not ok:
        reason = f"the SDP answer selected {seen}, not {want}"
    elif silent:
        reason = f"no RTP either way: {want} never went on the wire"
    else:
        reason = "; ".join(f"{label} carried {'/'.join(n)}" for label, n in wrong.items())
    return check(f"{p}.codec", ok and not wrong and not silent, f"{want} in the SDP answer and on the wire",
                 f"SDP answer {seen}; RTP {shown}", reason)


#: the answer's direction that accepts an offered one (RFC 3264 6.1)
_FITTING_ANSWER = {"sendonly": ("recvonly", "inactive"), "inactive": ("inactive",),
                   "sendrecv": ("sendrecv", "sendonly", "recvonly", "inactive")}


@dataclass(frozen=True)
class ReInvite:
    """A re-INVITE with SDP (one per CSeq) and how it ended."""

    offered: str  #: the offer's audio direction
    status: int | None  #: its final response; None: none seen
    answered: str | None  #: the audio direction of the 2xx's SDP answer (None: no SDP in it)

    @property
    def accepted(self) -> bool:
        """Answered 2xx with a direction that fits the offer (no SDP in the 2xx: nothing to contradict)."""
        return (self.status is not None and 200 <= self.status < 300
                and (self.answered is None or self.answered in _FITTING_ANSWER.get(self.offered, ())))

    def describe(self) -> str:
        got = ("no final response" if self.status is None
               else f"{self.status}" + (f" {self.answered}" if self.answered else ""))
        return f"{self.offered} -> {got}"


def re_invites(d: Dialog) -> list[ReInvite]:
    """In-dialog INVITEs (a To tag) with SDP, in order, with their final responses."""
    first: dict[int, str] = {}
    for m in d.messages:
        if (m.method == "INVITE" and m.sdp is not None and "tag=" in (m.header("To") or "").replace(" ", "")
                and m.cseq not in first):
            a = m.sdp.audio()
            first[m.cseq] = a.direction if a else "?"
    out = []
    for cseq, offered in first.items():
        final = next((m for m in d.messages if m.status is not None and m.status >= 200
                      and m.cseq_method == "INVITE" and m.cseq == cseq), None)
        answer = final.sdp.audio() if final is not None and final.sdp is not None else None
        out.append(ReInvite(offered, final.status if final else None, answer.direction if answer else None))
    return out


def bye_sender(name: str, address: str, sip_port: int, transport: Transport) -> str:
    """Who must send the BYE: over UDP the agent's SIP port; over TCP/TLS its connection's
    port is ephemeral, so its address and identity (a port there would be one it never used)."""
    if transport is Transport.UDP:
        return f"BYE from {name} ({host_port(address, sip_port)})"
    return f"BYE from {name} ({address}, over its {transport.value.upper()} connection)"


def _no_checks(p: str, call: Call, d: Dialog, answered: bool) -> list[Check]:
    return []


def _hangup_checks(p: str, call: Call, d: Dialog, answered: bool) -> list[Check]:
    """Answered, the BYE checks come with the answer (``_answered_checks``); before it a CANCEL."""
    return _cancel_checks(p, d) if not answered and d.final_code in (None, 487) else []


def _hold_checks(p: str, call: Call, d: Dialog, answered: bool = False) -> list[Check]:
    """A hold is proven by a re-INVITE offering sendonly/inactive that was answered 2xx
    with a fitting direction; a refused one (488, say) holds nothing."""
    offers = re_invites(d)
    seen = "re-INVITEs: " + (", ".join(r.describe() for r in offers) or "none")
    out = []
    holds = [s for s in call.steps if isinstance(s, HoldStep) and not s.release]
    unholds = [s for s in call.steps if isinstance(s, HoldStep) and s.release]
    held = next((k for k, r in enumerate(offers) if r.offered in ("sendonly", "inactive") and r.accepted), None)
    if holds:
        tried = any(r.offered in ("sendonly", "inactive") for r in offers)
        out.append(check(f"{p}.hold", held is not None, "a re-INVITE with a=sendonly answered 2xx (recvonly/inactive)", seen,
                         "the hold re-INVITE was not accepted" if tried else "no hold re-INVITE in the capture"))
    if unholds:
        ok = held is not None and any(r.offered == "sendrecv" and r.accepted for r in offers[held + 1:])
        out.append(check(f"{p}.unhold", ok, "a later re-INVITE with a=sendrecv answered 2xx", seen,
                         "the hold was not released in the capture"))
    return out


#: step model class (``callgen.scenario.steps``) -> the SIP checks a call with such a step gets
#: (in this order, after the final code and the answer); tests/core/test_step_seam.py keeps it complete.
#: Pauses feed the default RTP expectation (``_default_rtp``), DTMF steps the DTMF checks' method.
STEP_CHECKS: dict[type, Callable[[str, Call, Dialog, bool], list[Check]]] = {
    WaitStep: _no_checks,
    PauseStep: _no_checks,
    HangupStep: _hangup_checks,
    DtmfStep: _no_checks,
    HoldStep: _hold_checks,
    TransferStep: _no_checks,  # its checks read the evidence too: verdict/transfer.transfer_checks, called by evaluate()
}


def _default_rtp(scenario: Scenario, call: Call, d: Dialog) -> RtpExpect | None:
    """An answered call between pjsua agents that stays up for at least a
    second must carry RTP both ways (SIPp's built-in scenarios send none)."""
    if call.expect.rtp is not None:
        return call.expect.rtp
    if call.callee is None or not scenario.agent(call.callee).is_pjsua or not scenario.agent(call.caller).is_pjsua:
        return None
    if d.final_code is None or not 200 <= d.final_code < 300:
        return None
    if sum(s.seconds for s in steps_before_attended(call) if isinstance(s, PauseStep)) >= 1.0:  # the call's own dialog
        return RtpExpect(min_packets=1)
    return None


def media_checks(scenario: Scenario, evidence: Evidence, analysis: CaptureAnalysis, call: Call, d: Dialog,
                 legs: CallLegs | None = None) -> list[Check]:
    p = f"call{call.index + 1}"
    media = legs.caller.media if legs is not None else call_media(analysis, d)
    out = []
    if call.expect.media is not None and legs is not None:
        out.append(media_path_check(p, legs, call.expect.media))
    if call.expect.call_id is not None and legs is not None:
        out.append(call_id_check(p, legs, call.expect.call_id))
    rtp = _default_rtp(scenario, call, d)
    if legs is not None and legs.relayed:
        out += relayed_media_checks(p, scenario, evidence, analysis, call, legs, rtp, _codec_check)
        return out + _audio(p, call, evidence, media)
    codec = call.expect.codec_for(CALLER) or call.expect.codec_for(CALLEE) or call.expect.codec
    if codec:
        out.append(_codec_check(p, codec, d, media))
    if rtp is not None:
        out += rtp_checks(p, media, rtp, d)
    srtp = next((w for w in (call.expect.srtp_for(CALLER), call.expect.srtp_for(CALLEE)) if w is not None), call.expect.srtp)
    if srtp is not None:
        out += srtp_checks(p, srtp, scenario, call, d, media)
        if srtp:
            out += keying_checks(p, scenario, evidence, call)
    if call.expect.dtmf is not None:
        window = (d.messages[0].time - 1, d.messages[-1].time + 1)
        out += dtmf_checks(p, scenario, evidence, analysis, call, d, media, window)
    return out + _audio(p, call, evidence, media)


def _audio(p: str, call: Call, evidence: Evidence, media: CallMedia) -> list[Check]:
    out = []
    for want in call.expect.audio:
        toward = media.forward if want.receiver == call.callee else media.backward
        codec = next((s.codec for s in toward if s.codec), None)
        out += audio_checks(p, want, evidence.run_dir, codec)
    return out


def _flow_of(call: Call, d: Dialog | None, legs: CallLegs | None) -> tuple[CallInfo, Dialog | None]:
    """What the ladder draws: the caller's dialog, or through a system under test both legs
    in one picture, the SUT its own lane, each leg's Call-ID."""
    info = CallInfo(f"call{call.index + 1}", call.caller, call.callee or call.uri or "")
    if d is None or legs is None or not legs.relayed:
        return info, d
    both = build_dialog(legs.caller.call_id, [m for leg in legs.legs for m in leg.dialog.messages])
    return replace(info, sut=legs.caller.peer, sut_address=legs.sut or "",
                   legs=tuple((leg.agent, leg.call_id) for leg in legs.legs)), both


def call_legs(scenario: Scenario, evidence: Evidence, analysis: CaptureAnalysis, call: Call, d: Dialog,
              taken: set[str]) -> CallLegs:
    """The call's legs: the caller's dialog, and the callee's when a system under test sits between."""
    ag = evidence.agent(call.caller)
    caller = (call.caller, agent_addresses(ag.address, ag.sip_port))
    callee = None
    if call.callee is not None and call.callee in {a.name for a in evidence.agents}:
        cg = evidence.agent(call.callee)
        callee = (call.callee, agent_addresses(cg.address, cg.sip_port))
    inv = first_invite(d)
    sut = next((name for name, value in scenario.resolved_targets if inv is not None and value == inv.dst), None)
    return find_legs(analysis, d, caller, callee, taken, sut or (inv.dst if inv else "SUT"))


def step_checks(evidence: Evidence) -> list[Check]:
    """One check per recorded outcome, named by its kind (a second one of a name gets a number)."""
    out, used = [], {}
    for s in evidence.steps:
        name = s.check_name
        if name is None:
            continue
        used[name] = used.get(name, 0) + 1
        if used[name] > 1:
            name = f"{name}.{used[name]}"
        out.append(check(name, s.ok, s.action, s.detail, s.detail, s.source))
    return out


def registration_checks(scenario: Scenario, evidence: Evidence, analysis: CaptureAnalysis) -> list[Check]:
    """What the registrar answered each registering agent, seen in the capture."""
    out = []
    for agent in scenario.agents:
        if agent.register is None:
            continue
        ag = evidence.agent(agent.name)
        mine = {host_port(ag.address, ag.sip_port + k) for k in (0, 1)}
        reqs = [m for d in analysis.dialogs for m in d.messages if m.method == "REGISTER" and m.src in mine]
        ids = {m.call_id for m in reqs}
        answers = sorted((m for d in analysis.dialogs for m in d.messages
                          if m.cseq_method == "REGISTER" and m.status is not None and m.call_id in ids and m.dst in mine),
                         key=lambda m: m.time)
        codes = [m.status for m in answers]
        final = next((c for c in reversed(codes) if c >= 200 and c not in (401, 407)), codes[-1] if codes else None)
        source = "capture" if any(m.transport != "log" for m in reqs + answers) or not reqs else "pjsua log"
        want_ok = agent.register.expect_success
        ok = final is not None and ((200 <= final < 300) if want_ok else final >= 300)
        out.append(check(f"register.{agent.name}.capture", ok, "REGISTER answered 2xx" if want_ok else "REGISTER refused",
                         f"{len(reqs)} REGISTER, answers {', '.join(map(str, codes)) or 'none'}",
                         f"the registrar answered {final}" if final else "no answer to REGISTER in the capture", source))
    return out


def agent_agreement(scenario: Scenario, evidence: Evidence, call: Call, d: Dialog) -> list[Check]:
    """pjsua's own account of the call must match the capture."""
    if d.final_code is None or d.final_code < 300:
        return []
    ag = evidence.agent(call.caller)
    disc = [e for e in ag.events if e.kind.value == "disconnected"]
    if not disc:
        return []
    k = caller_ordinal(scenario, call)
    if k >= len(disc):
        return []
    code = disc[k].code
    ok = code == d.final_code
    return [check(f"call{call.index + 1}.pjsua_agrees", ok, f"caller pjsua reports {d.final_code}",
                  f"caller pjsua reports {code}", "pjsua and the capture disagree", "pjsua")]


def evaluate(scenario: Scenario, evidence: Evidence) -> Outcome:
    prover = evidence.load_prover if isinstance(evidence.load_prover, ProverProcess) else None
    if prover is None and not evidence.pcap_path.is_file():
        why = f"no capture file was written ({evidence.capture.tool})"
        return Outcome((check("capture", False, "a capture file", "none written", evidence.error or why, evidence.capture.tool),),
                       infrastructure=(why,))
    logs = tuple(str(a.log_path) for a in evidence.agents if a.kind == "pjsua" and a.log_path.is_file())
    try:  # a load's calls were proven file by file while it ran: what is left of the capture is small
        analysis = prover.residual() if prover is not None else analyze_capture(str(evidence.pcap_path), key_logs=logs)
    except CallgenError as exc:
        return Outcome((check("capture", False, "a readable capture", str(exc)),),
                       infrastructure=(f"the capture cannot be read: {exc}",))
    health, problems = run_health(evidence, analysis)
    dialogs = dialogs_of_calls(scenario, evidence, analysis)
    checks: list[Check] = list(health)
    ladder: list[str] = []
    taken: set[str] = set()
    all_legs: dict[int, CallLegs] = {}
    dumps: dict[str, list[CallDump]] = {}  # each pjsua agent's call dumps (its RTP counters), read on first use
    for call in scenario.calls:
        d = dialogs[call.index]
        if d is None:
            checks.append(check(f"call{call.index + 1}.invite", False, f"an INVITE from {call.caller}",
                                "no INVITE from its SIP ports in the capture or the logs"))
            continue
        legs = all_legs[call.index] = call_legs(scenario, evidence, analysis, call, d, taken)
        near = legs.caller.dialog
        checks += sip_checks(scenario, evidence, call, near, legs)
        checks += header_checks(scenario, evidence, analysis, call, near)
        checks += transfer_checks(scenario, evidence, analysis, call, near)
        checks += redirect_checks(scenario, evidence, call, near)
        checks += agent_agreement(scenario, evidence, call, near)
        checks += media_checks(scenario, evidence, analysis, call, near, legs)
        if scenario.load is None:
            counted, missed = counter_checks(f"call{call.index + 1}", scenario, evidence, analysis, call, legs, dumps)
            checks += counted
            problems += missed
        ladder.append(f"call{call.index + 1} {call.caller} -> {call.callee or call.uri}  Call-ID {d.call_id}")
        if legs.relayed:
            for leg in legs.legs:
                ladder.append(f"  {leg.describe()}")
                ladder += ["    " + line for line in ladder_lines(leg.dialog)]
        else:
            ladder += ["  " + line for line in ladder_lines(d)]
        for label, other in attended_ladders(scenario, evidence, analysis, call, near):
            ladder.append(f"  {label}  Call-ID {other.call_id}")
            ladder += ["    " + line for line in ladder_lines(other)]
    rows = ()
    if scenario.load is not None:
        rows = prover.rows() if prover is not None else load_rows(scenario, evidence, analysis)
        checks += load_checks(scenario.load, rows)
    checks += registration_checks(scenario, evidence, analysis)
    checks += step_checks(evidence)
    summary = analysis.to_json()
    summary.pop("dialogs", None)
    summary["legs"] = {f"call{i + 1}": leg_summary(legs) for i, legs in all_legs.items()}
    lanes = lane_parties(scenario, evidence)
    summary[SUMMARY_KEY] = build_flows([_flow_of(c, dialogs[c.index], all_legs.get(c.index)) for c in scenario.calls], lanes)
    registrations = register_flows(scenario, evidence, analysis, lanes)
    if registrations:
        summary[REGISTER_KEY] = registrations
    if scenario.load is not None:  # thousands of streams: calls.jsonl has each call's; result.json the totals
        summary["rtp_streams_count"] = len(summary.pop("rtp_streams", ()))
        summary["dtmf_events_count"] = len(summary.pop("dtmf", ()))
        summary["load"] = {**load_summary(rows), "share": list(scenario.load.share)}
        if prover is not None:
            summary["rtp_streams_count"], summary["dtmf_events_count"] = prover.streams_counted, prover.dtmf_counted
            summary["load"].update(capture_files=prover.files_analysed, capture_max_mb=round(prover.max_on_disk_mb or 0.0, 1))
    return Outcome(tuple(checks), tuple(ladder), Findings.from_dict(summary), tuple(problems), rows)


#: a SIP message an agent logged this long after the capture's last packet was not captured
STALL_MARGIN_S = 1.0


def _capture_stalled(evidence: Evidence, analysis: CaptureAnalysis) -> list[str]:
    """Did the capture stop receiving while the agents still exchanged SIP? Every SIP message a
    pjsua agent sent or received crosses the captured ports, so one its log shows well after the
    capture's last packet means the capture stalled (a tool stopped, a full disk, a dead socket)."""
    last = analysis.last_time
    if last is None:
        return []
    out = []
    for a in evidence.agents:
        if a.kind != "pjsua" or not a.log_path.is_file():
            continue
        after = sip_times_in_pjsua_log(str(a.log_path), after=last + STALL_MARGIN_S)
        if after:
            out.append(f"{a.name}'s pjsua log shows {len(after)} SIP message(s) after the capture's last packet,"
                       f" the last {max(after) - last:.1f} s after it: {evidence.capture.tool} stopped capturing mid-run")
    return out


def run_health(evidence: Evidence, analysis: CaptureAnalysis) -> tuple[list[Check], list[str]]:
    """Is the capture the whole record of the run, and did every agent live to the end?
    Each problem is also a failed check naming what failed."""
    cap = evidence.capture
    problems = cap.problems()
    if analysis.packets == 0:
        problems.append(f"the capture holds no packet ({evidence.pcap_path.name}: {cap.tool} recorded nothing)")
    else:
        problems += _capture_stalled(evidence, analysis)
    seen = (f"{analysis.packets} packets" + (f", {cap.dropped_by_kernel} dropped" if cap.dropped_by_kernel else "")
            + (", the tool died before the end" if cap.exited_early else ""))
    checks = [check("capture.complete", not problems, "a live capture of the whole run, nothing dropped", seen,
                    "; ".join(problems), cap.tool)]
    for a in evidence.agents:
        if a.problem():
            problems.append(a.problem())
            checks.append(check(f"agent.{a.name}.alive", False, f"{a.name} runs until callgen stops it", a.problem(),
                                a.problem(), "process"))
    return checks, problems
