"""Checks of a call whose agents talk through a system under test: every leg on its own,
and across the middle (what left one agent arrived at the other).

Check names: a check about one leg is ``callN.caller_leg.X`` or ``callN.callee_leg.X``
(X as for a direct call: ``rtp[caller->callee].packets``, ``srtp.sdp``, ``codec``, ...);
``callN.relay[caller->callee]`` compares the packets sent on the near leg with those
received on the far leg.  What a receiver got is proven on the receiver's leg and keeps
its direct-call name (``callN.dtmf``, ``callN.bye``); each failure names its leg.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from callgen.analysis import CaptureAnalysis, Dialog
from callgen.run.evidence import Evidence
from callgen.scenario.model import Call, HangupStep, RtpExpect, Scenario, leg_roles
from callgen.verdict.legs import CALLEE, CALLER, CallLeg, CallLegs, agent_addresses, sdp_addresses
from callgen.verdict.media import (
    CallMedia,
    _dtmf_in_capture,
    direction_summary,
    dtmf_checks,
    host_port,
    keying_checks,
    rtp_checks,
    sent_by,
    srtp_checks,
)
from callgen.verdict.result import CheckResult, check

#: packets the relay may lose across the middle when the scenario gives no max_loss_pct
DEFAULT_RELAY_LOSS_PCT = 10.0


def leg_prefix(p: str, role: str) -> str:
    return f"{p}.{role}_leg"


def on_leg(checks: list[CheckResult], leg: CallLeg) -> list[CheckResult]:
    """Say in every failure which leg (and which way on it) the evidence came from."""
    out = []
    for c in checks:
        if c.passed:
            out.append(c)
            continue
        reason = c.reason.replace("caller->callee", f"caller->callee ({leg.label(True)})").replace(
            "callee->caller", f"callee->caller ({leg.label(False)})")
        out.append(dataclasses.replace(c, reason=f"{reason} on {leg.describe()}"))
    return out


def _no_leg(p: str, role: str, legs: CallLegs) -> CheckResult:
    return check(f"{p}.{role}_leg", False, f"the {role}'s leg in the capture", legs.missing or "not found",
                 f"the {role}'s leg is missing: {legs.missing or 'not found'}")


def relay_checks(p: str, legs: CallLegs, want: RtpExpect) -> list[CheckResult]:
    """Per direction: packets received on the far leg against packets sent on the near leg."""
    near_far = ((True, legs.leg(CALLER), legs.leg(CALLEE)), (False, legs.leg(CALLEE), legs.leg(CALLER)))
    tol = want.max_loss_pct if want.max_loss_pct is not None else DEFAULT_RELAY_LOSS_PCT
    out = []
    for forward, near, far in near_far:
        if near is None or far is None:
            continue
        label = "caller->callee" if forward else "callee->caller"
        sent = direction_summary(near.media.forward if forward else near.media.backward)[0]
        got = direction_summary(far.media.forward if forward else far.media.backward)[0]
        ok = got >= 1 and got >= sent * (1 - tol / 100.0)
        receiver = far.agent
        out.append(check(f"{p}.relay[{label}]", ok,
                         f"what {near.label(forward)} carried arrives {far.label(forward)} (>= {100 - tol:g}% of the packets)",
                         f"{sent} packets on {near.agent}'s leg ({near.label(forward)}), {got} on {far.agent}'s leg "
                         f"({far.label(forward)})",
                         f"the system under test relayed {got} of {sent} packets {label}: media toward {receiver} "
                         f"went missing on {far.describe()}"))
    return out


#: the direct call's codec rule (``checks._codec_check``): (prefix, codec, dialog, media) -> check
CodecRule = Callable[[str, str, Dialog, CallMedia], CheckResult]
#: the direct call's CANCEL rule (``checks._cancel_checks``): (prefix, dialog) -> checks
CancelRule = Callable[[str, Dialog], list]


def _codec_on_leg(name: str, want: str, leg: CallLeg, rule: CodecRule) -> CheckResult:
    """The direct call's rule, applied to one leg's SDP and media."""
    return dataclasses.replace(rule("x", want, leg.dialog, leg.media), name=name)


def dtmf_leg_checks(p: str, scenario: Scenario, evidence: Evidence, analysis: CaptureAnalysis, call: Call,
                    legs: CallLegs) -> list[CheckResult]:
    """Digits are proven once, on the receiver's leg; with ``leg: both`` also on the sender's
    leg, so digits the relay dropped fail on the leg where they went missing."""
    want = call.expect.dtmf
    assert want is not None
    receiver = want.receiver or call.callee
    rrole = CALLEE if receiver == call.callee else CALLER
    srole = CALLER if rrole == CALLEE else CALLEE
    rleg, sleg = legs.leg(rrole), legs.leg(srole)
    if rleg is None:
        return [_no_leg(p, rrole, legs)]
    window = (rleg.dialog.messages[0].time - 1, rleg.dialog.messages[-1].time + 1)
    out = [dataclasses.replace(c, seen=f"{c.seen} on {rleg.describe()}") if c.evidence == "capture" else c
           for c in on_leg(dtmf_checks(p, scenario, evidence, analysis, call, rleg.dialog, rleg.media, window), rleg)]
    if sleg is not None and srole in leg_roles(want.leg) and want.digits:
        evs, _ = _dtmf_in_capture(analysis, sleg.dialog, sleg.media, receiver_is_callee=rrole == CALLEE)
        digits = "".join(e.digit for e in evs)
        toward = sleg.label(rrole == CALLEE)
        out += on_leg([check(f"{leg_prefix(p, srole)}.dtmf", digits == want.digits, f"digits {want.digits} {toward}",
                             f"digits {digits or '(none)'} {toward}",
                             f"expected {want.digits} {toward}, the capture shows {digits or 'no digits'}")], sleg)
    return out


def relayed_media_checks(p: str, scenario: Scenario, evidence: Evidence, analysis: CaptureAnalysis, call: Call,
                         legs: CallLegs, rtp: RtpExpect | None, codec_rule: CodecRule) -> list[CheckResult]:
    out: list[CheckResult] = []
    exp = call.expect
    for role in (CALLER, CALLEE):
        want = exp.codec_for(role)
        if want:
            leg = legs.leg(role)
            out += [_no_leg(p, role, legs)] if leg is None else on_leg(
                [_codec_on_leg(f"{leg_prefix(p, role)}.codec", want, leg, codec_rule)], leg)
    if rtp is not None:
        roles = leg_roles(rtp.leg or exp.leg)
        for role in roles:
            leg = legs.leg(role)
            out += [_no_leg(p, role, legs)] if leg is None else on_leg(rtp_checks(leg_prefix(p, role), leg.media, rtp, leg.dialog), leg)
        if len(roles) == 2:
            out += relay_checks(p, legs, rtp)
    srtp_any = False
    for role in (CALLER, CALLEE):
        want = exp.srtp_for(role)
        if want is None:
            continue
        leg = legs.leg(role)
        if leg is None:
            out.append(_no_leg(p, role, legs))
            continue
        srtp_any = srtp_any or want
        out += on_leg(srtp_checks(leg_prefix(p, role), want, scenario, call, leg.dialog, leg.media), leg)
    if srtp_any:
        out += keying_checks(p, scenario, evidence, call)
    if exp.dtmf is not None:
        out += dtmf_leg_checks(p, scenario, evidence, analysis, call, legs)
    return out


def media_path_check(p: str, legs: CallLegs, want: str) -> CheckResult:
    """anchored: the caller's SDP points at the system under test (not at the callee's own
    media address) and the caller's media went there; direct: it points at the callee."""
    caller = legs.caller
    _, toward_caller = sdp_addresses(caller.dialog)  # where the caller was told to send
    callee = legs.leg(CALLEE)
    callee_own = sdp_addresses(callee.dialog)[1] if callee is not None and legs.relayed else toward_caller
    anchored = legs.relayed and bool(toward_caller) and toward_caller.isdisjoint(callee_own)
    seen = (f"the caller sends to {', '.join(sorted(toward_caller)) or 'nowhere'}; the callee receives at "
            f"{', '.join(sorted(callee_own)) or 'unknown'}")
    ok = anchored if want == "anchored" else not anchored
    return check(f"{p}.media_path", ok, f"media {want}", seen,
                 "the caller's SDP points at the callee itself: the media is not anchored" if want == "anchored"
                 else "the caller's SDP points at the system under test: the media is anchored, not direct")


def relayed_bye_checks(p: str, scenario: Scenario, evidence: Evidence, call: Call, legs: CallLegs) -> list[CheckResult]:
    """The agent that hangs up sends its BYE on its own leg; on the other leg the system under
    test relays it (its BYE is accepted there as the relay), and each leg's BYE is answered 200."""
    out = []
    hangups = [s for s in call.steps if isinstance(s, HangupStep)]
    by = hangups[0].by if hangups else None
    for leg in legs.legs:
        d = leg.dialog
        byes = [m for m in d.messages if m.method == "BYE"]
        answered = [m for m in d.messages if m.status == 200 and m.cseq_method == "BYE"]
        own = by == leg.agent
        name = f"{p}.bye" if own else f"{leg_prefix(p, leg.role)}.bye"
        ev = evidence.agent(leg.agent)
        mine = agent_addresses(ev.address, ev.sip_port)
        if by is not None and own:
            ok = any(sent_by(m, ev, scenario.agent(leg.agent)) for m in byes)
            out.append(check(name, ok, f"BYE from {by} ({host_port(ev.address, ev.sip_port)}) on {leg.describe()}",
                             ", ".join(f"BYE from {m.src}" for m in byes) or "no BYE",
                             f"no BYE from {by} on {leg.describe()}"))
        elif by is not None:
            relayed = [m for m in byes if m.dst in mine or not sent_by(m, ev, scenario.agent(leg.agent))]
            out.append(check(name, bool(relayed), f"the BYE relayed to {leg.agent} by the system under test",
                             ", ".join(f"BYE from {m.src}" for m in byes) or "no BYE",
                             f"{by}'s BYE never reached {leg.describe()}"))
        if by is not None or byes:
            out.append(check(f"{p}.bye_answered" if own or (by is None and leg.role == CALLER)
                             else f"{leg_prefix(p, leg.role)}.bye_answered",
                             bool(answered), "200 OK to the BYE",
                             "200 OK" if answered else ("BYE unanswered" if byes else "no BYE"),
                             f"the BYE was not answered 200 on {leg.describe()}"))
    return out


def cancel_leg_checks(p: str, legs: CallLegs, rule: CancelRule) -> list[CheckResult]:
    """The callee's leg of a call cancelled before the answer: the CANCEL reached it too
    (``rule``: the direct call's CANCEL rule, applied to the callee's leg)."""
    leg = legs.leg(CALLEE)
    if not legs.relayed or leg is None:
        return []
    return on_leg([dataclasses.replace(c, name=c.name.replace("x.", f"{leg_prefix(p, CALLEE)}.", 1))
                   for c in rule("x", leg.dialog)], leg)


def leg_summary(legs: CallLegs) -> list[dict]:
    """For result.json and the reports: each leg, its agents and its Call-ID."""
    return [{"role": g.role, "agent": g.agent, "peer": g.peer, "call_id": g.call_id,
             "forward": g.label(True), "backward": g.label(False)} for g in legs.legs]


def call_id_check(p: str, legs: CallLegs, want: str) -> CheckResult:
    """``expect.call_id``: the callee's leg carries the caller's Call-ID (same) or another (changed)."""
    callee = legs.leg(CALLEE)
    if not legs.relayed or callee is None:
        seen = "one leg: no system under test between the agents" if not legs.relayed else (legs.missing or "no callee's leg")
        return check(f"{p}.call_id", False, f"the callee's leg with the {want} Call-ID", seen, f"no callee's leg to compare: {seen}")
    same = callee.call_id == legs.caller.call_id
    seen = f"{legs.caller.agent}'s leg {legs.caller.call_id}, {callee.agent}'s leg {callee.call_id}"
    return check(f"{p}.call_id", same == (want == "same"), f"the callee's leg with the {want} Call-ID", seen,
                 "the system under test " + ("changed the Call-ID" if not same else "kept the Call-ID")
                 + f" ({seen})")
