"""Verdict rules, fed small hand-built evidence (no processes, no capture file).

Each case names the rule it pins down; changing the rule fails the case.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from callgen.analysis import CaptureAnalysis, Dialog, RtpStream, Sdp, SdpMedia, SipMessage
from callgen.run.capture import CaptureStats
from callgen.run.evidence import AgentEvidence, Evidence, StepKind, StepOutcome
from callgen.scenario.loader import load_scenario
from callgen.scenario.model import RtpExpect
from callgen.verdict.checks import run_health, sip_checks, step_checks
from callgen.verdict.media import CallMedia, dtmf_checks, info_digits, rtp_checks, srtp_checks

ALICE, BOB = "127.0.0.1:20000", "127.0.0.1:20002"
A_RTP, B_RTP = "127.0.0.1:20040", "127.0.0.1:20060"


def scenario(tmp_path: Path, calls: str, agents: str = "alice: {role: caller}\n  bob: {role: callee}\n"):
    p = tmp_path / "s.yaml"
    p.write_text(f"name: s\nagents:\n  {agents}calls:\n{calls}", encoding="utf-8")
    return load_scenario(p)


def msg(t, src, dst, *, method=None, status=None, cseq=1, cseq_method="INVITE", body=b"", sdp=None,
        transport="udp", headers=(), call_id="c1"):
    return SipMessage(t, src, dst, transport, method, status, "", cseq_method if method is None else method,
                      call_id, tuple(headers), body, sdp, cseq)


def audio(port: int, pts=(8, 120), rtpmap=None, proto="RTP/AVP", crypto=()):
    rtpmap = rtpmap or {8: ("PCMA", 8000), 0: ("PCMU", 8000), 120: ("telephone-event", 8000)}
    te = tuple(pt for pt in pts if rtpmap.get(pt, ("",))[0] == "telephone-event")
    return Sdp((SdpMedia("audio", "127.0.0.1", port, proto, tuple(pts), {p: rtpmap[p] for p in pts if p in rtpmap}, te,
                         "sendrecv", crypto),))


def stream(src, dst, pts=(8,), *, packets=100, lost=0, entropy=4.0, decrypted=False):
    return RtpStream(src, dst, 1234, tuple(pts), "PCMA/8000", 8000, packets, packets + lost, lost, 0, 0, 0.1, 0.5, 20.0,
                     0.0, 2.0, False, False, decrypted, None, 0, None, entropy, "c1", True)


WHOLE_CAPTURE = CaptureStats(10, 0, "", "tcpdump")
NO_MEDIA = CallMedia((), ())


def evidence(tmp_path, *, steps=(), capture=WHOLE_CAPTURE, died=False) -> Evidence:
    agents = tuple(AgentEvidence(n, port, "127.0.0.1", tmp_path / f"{n}.log", tmp_path / "t", tmp_path / "c", (),
                                 -9 if died and n == "bob" else 0, "pjsua", died and n == "bob")
                   for n, port in (("alice", 20000), ("bob", 20002)))
    return Evidence(tmp_path, tmp_path / "capture.pcap", capture, agents, tuple(steps), 0.0, 1.0)


def analysis(dialogs=(), streams=(), packets=10) -> CaptureAnalysis:
    return CaptureAnalysis(tuple(dialogs), tuple(streams), (), packets, 0.0, 2.0)


def answered_dialog(extra=(), transport="udp", offer_pts=(8, 120), answer_pts=(8, 120)):
    m = [msg(0.0, ALICE, BOB, method="INVITE", sdp=audio(20040, offer_pts), transport=transport),
         msg(0.1, BOB, ALICE, status=200, sdp=audio(20060, answer_pts), transport=transport),
         msg(0.2, ALICE, BOB, method="ACK", transport=transport),
         *extra,
         msg(3.0, ALICE, BOB, method="BYE", cseq=9, transport=transport),
         msg(3.1, BOB, ALICE, status=200, cseq=9, cseq_method="BYE", transport=transport)]
    return Dialog("c1", tuple(sorted(m, key=lambda x: x.time)), 200, m[0].sdp, m[1].sdp)


def info(t, digit, cseq):
    return msg(t, ALICE, BOB, method="INFO", cseq=cseq, body=f"Signal={digit}\r\nDuration=160".encode(),
               headers=(("Content-Type", "application/dtmf-relay"),))


def info_answer(t, status, cseq):
    return msg(t, BOB, ALICE, status=status, cseq=cseq, cseq_method="INFO")


CALL_DTMF_INFO = """  - from: alice
    to: bob
    steps: [{wait: confirmed}, {dtmf: "42#", method: info}, {hangup: alice}]
    expect: {dtmf: {digits: "42#", method: info}}
"""


def _dtmf(tmp_path, d, media=NO_MEDIA):
    sc = scenario(tmp_path, CALL_DTMF_INFO)
    ev = evidence(tmp_path)
    return {c.name: c for c in dtmf_checks("call1", sc, ev, analysis([d]), sc.calls[0], d, media, (0, 9))}


def test_info_digits_count_once_per_cseq_and_only_when_answered_2xx(tmp_path):
    # "4" retransmitted twice before its 200 (a slow peer), "2" answered 501, "#" never answered
    d = answered_dialog([info(1.0, "4", 2), info(1.5, "4", 2), info(2.5, "4", 2), info_answer(2.6, 200, 2),
                         info(1.01, "2", 3), info_answer(1.02, 501, 3), info(1.03, "#", 4)])
    got = info_digits(d, receiver_is_callee=True)
    assert [(i.digit, i.status, i.delivered) for i in got] == [("4", 200, True), ("2", 501, False), ("#", None, False)]
    checks = _dtmf(tmp_path, d)
    assert not checks["call1.dtmf"].passed
    assert "digits 4 (sip-info)" in checks["call1.dtmf"].seen
    assert "INFO 2 answered 501" in checks["call1.dtmf"].seen and "INFO # never answered" in checks["call1.dtmf"].seen


def test_info_retransmissions_of_answered_digits_pass(tmp_path):
    extra = [info(1.0, "4", 2), info(1.5, "4", 2), info_answer(1.6, 200, 2), info(1.7, "2", 3), info_answer(1.71, 200, 3),
             info(1.8, "#", 4), info(2.3, "#", 4), info_answer(2.4, 200, 4)]
    checks = _dtmf(tmp_path, answered_dialog(extra))
    assert checks["call1.dtmf"].passed, checks["call1.dtmf"]
    assert checks["call1.dtmf.method"].passed


def test_expecting_no_dtmf(tmp_path):
    sc = scenario(tmp_path, """  - from: alice
    to: bob
    steps: [{wait: confirmed}, {hangup: alice}]
""")
    from dataclasses import replace

    from callgen.scenario.model import DtmfExpect

    call = replace(sc.calls[0], expect=replace(sc.calls[0].expect, dtmf=DtmfExpect(digits="")))
    quiet = answered_dialog()
    noisy = answered_dialog([info(1.0, "7", 2), info_answer(1.1, 200, 2)])
    for d, ok in ((quiet, True), (noisy, False)):
        checks = {c.name: c for c in dtmf_checks("call1", sc, evidence(tmp_path), analysis([d]), call, d,
                                                 CallMedia((), ()), (0, 9))}
        assert checks["call1.dtmf"].passed is ok, checks["call1.dtmf"]
        assert "no DTMF at bob" == checks["call1.dtmf"].expected


@pytest.mark.parametrize("fwd_pts,bwd_pts,ok_fwd,ok_bwd", [
    ((8, 120), (8,), True, True),
    ((8,), (0,), True, False),  # answered PCMA, sent PCMU back
    ((9,), (8,), False, True),  # G722 never offered
])  # fmt: skip
def test_rtp_of_unnegotiated_payload_types_fails(fwd_pts, bwd_pts, ok_fwd, ok_bwd):
    d = answered_dialog(offer_pts=(8, 0, 120), answer_pts=(8, 120))
    media = CallMedia((stream(A_RTP, B_RTP, fwd_pts),), (stream(B_RTP, A_RTP, bwd_pts),))
    checks = {c.name: c for c in rtp_checks("call1", media, RtpExpect(min_packets=1), d)}
    assert checks["call1.rtp[caller->callee].payload_types"].passed is ok_fwd
    assert checks["call1.rtp[callee->caller].payload_types"].passed is ok_bwd


def test_codec_check_looks_at_what_flowed(tmp_path):
    from callgen.verdict.checks import _codec_check

    d = answered_dialog(offer_pts=(0,), answer_pts=(0,))
    good = CallMedia((stream(A_RTP, B_RTP, (0,)),), (stream(B_RTP, A_RTP, (0,)),))
    bad = CallMedia((stream(A_RTP, B_RTP, (0,)),), (stream(B_RTP, A_RTP, (8,)),))
    assert _codec_check("call1", "PCMU", d, good).passed
    c = _codec_check("call1", "PCMU", d, bad)
    assert not c.passed and "callee->caller PCMA" in c.seen, c


CALL_HANGUP_EARLY = """  - from: alice
    to: bob
    steps: [{wait: ringing}, {hangup: alice}]
"""


def test_no_cancel_check_before_any_provisional_response(tmp_path):
    sc = scenario(tmp_path, CALL_HANGUP_EARLY, "alice: {role: caller}\n  bob: {role: callee, answer: 180}\n")
    silent = Dialog("c1", (msg(0.0, ALICE, BOB, method="INVITE"),), None, None, None)
    names = {c.name for c in sip_checks(sc, evidence(tmp_path), sc.calls[0], silent)}
    assert "call1.cancel" not in names
    ringing = Dialog("c1", (msg(0.0, ALICE, BOB, method="INVITE"), msg(0.1, BOB, ALICE, status=180)), None, None, None)
    cancel = {c.name: c for c in sip_checks(sc, evidence(tmp_path), sc.calls[0], ringing)}["call1.cancel"]
    assert not cancel.passed and "0 CANCEL" in cancel.seen


CALL_BASIC = """  - from: alice
    to: bob
    steps: [{wait: confirmed}, {pause: 1}, {hangup: alice}]
"""


@pytest.mark.parametrize("transport,tls,label,missing", [
    ("udp", False, "capture", False),
    ("log", False, "pjsua log", True),  # plain SIP only in the logs: the capture missed it
    ("log", True, "pjsua log", False),  # TLS: the log is the only clear text, and says so
])  # fmt: skip
def test_sip_checks_name_the_source_they_used(tmp_path, transport, tls, label, missing):
    agents = ("alice: {role: caller, transport: tls}\n  bob: {role: callee, transport: tls}\n" if tls
              else "alice: {role: caller}\n  bob: {role: callee}\n")
    sc = scenario(tmp_path, CALL_BASIC, agents)
    checks = {c.name: c for c in sip_checks(sc, evidence(tmp_path), sc.calls[0], answered_dialog(transport=transport))}
    assert {c.evidence for n, c in checks.items() if n != "call1.sip_in_capture"} == {label}
    assert ("call1.sip_in_capture" in checks) is missing
    if missing:
        assert not checks["call1.sip_in_capture"].passed


@pytest.mark.parametrize("capture,packets,died,problem", [
    (CaptureStats(10, 0, "", "tcpdump"), 10, False, None),
    (CaptureStats(None, None, "", "tcpdump", True, -9), 10, False, "tcpdump died during the run (killed by signal 9)"),
    (CaptureStats(10, 3, "", "dumpcap"), 10, False, "dumpcap reports 3 packets dropped by the kernel"),
    (CaptureStats(0, 0, "", "tcpdump"), 0, False, "the capture holds no packet"),
    (CaptureStats(10, 0, "", "tcpdump"), 10, True, "agent bob: pjsua died during the run (killed by signal 9)"),
])  # fmt: skip
def test_run_health(tmp_path, capture, packets, died, problem):
    checks, problems = run_health(evidence(tmp_path, capture=capture, died=died), analysis(packets=packets))
    if problem is None:
        assert problems == [] and all(c.passed for c in checks)
    else:
        assert any(problem in p for p in problems), problems
        assert not all(c.passed for c in checks)


def test_step_checks_name_sipp_as_their_source(tmp_path):
    steps = [StepOutcome(StepKind.SIPP_UAS, "sipp uas bob answers", True, "sipp exit 0", 1.0, agent="bob"),
             StepOutcome(StepKind.DIAL, "dial sip:bob@127.0.0.1", True, "pjsua call 0", 1.0, 0, agent="alice"),
             StepOutcome(StepKind.STEP, "wait confirmed", True, "CONFIRMED", 1.0, 0, 0, "alice"),
             StepOutcome(StepKind.AUDIO, "connect player", False, "no player", 1.0, 0, 0, "alice"),
             StepOutcome(StepKind.AUDIO, "connect recorder", False, "no recorder", 1.0, 0, 0, "alice"),
             StepOutcome(StepKind.REGISTER, "register bob at sip:127.0.0.1", True, "200 OK", 1.0, agent="bob"),
             StepOutcome(StepKind.SIPP_CALL, "sipp uac carol calls", False, "exit 1", 1.0, 1, agent="carol")]
    checks = {c.name: c for c in step_checks(evidence(tmp_path, steps=steps))}
    assert list(checks) == ["sipp.bob", "call1.step1", "call1.step1.connect", "call1.step1.connect.2",
                            "register.bob", "call2.sipp"]
    assert {n: c.evidence for n, c in checks.items()} == {
        "sipp.bob": "sipp", "call1.step1": "pjsua", "call1.step1.connect": "pjsua", "call1.step1.connect.2": "pjsua",
        "register.bob": "pjsua", "call2.sipp": "sipp"}


def test_srtp_payload_entropy_never_prints_minus_zero(tmp_path):
    sc = scenario(tmp_path, CALL_BASIC)
    d = answered_dialog()
    media = CallMedia((stream(A_RTP, B_RTP, entropy=-0.0),), ())
    c = {c.name: c for c in srtp_checks("call1", True, sc, sc.calls[0], d, media)}["call1.srtp.payload"]
    assert "0.00 bits/byte" in c.seen and "-0.00" not in c.seen


# --------------------------------------------------------------- more verdict rules (issue #11)

from callgen.pjsua.driver import AgentEvent, EventKind  # noqa: E402
from callgen.verdict.checks import agent_agreement, expected_final_code, registration_checks  # noqa: E402


@pytest.mark.parametrize("bob,steps,expect,want", [
    ("{role: callee}", "[{wait: confirmed}, {hangup: alice}]", "", 200),
    ("{role: callee, answer: 486}", "[{wait: disconnected}]", "", 486),
    ("{role: callee, answer: 180}", "[{wait: ringing}, {hangup: alice}]", "", 487),  # a ringing callee is cancelled
    ("{role: callee}", "[{wait: confirmed}, {hangup: alice}]", "\n    expect: {final_code: 603}", 603),
    ("{role: callee}", "[{wait: confirmed}, {hangup: alice}]", "\n    expect: {answered: true}", None),
])  # fmt: skip
def test_expected_final_code_defaults(tmp_path, bob, steps, expect, want):
    sc = scenario(tmp_path, f"  - from: alice\n    to: bob\n    steps: {steps}{expect}\n", f"alice: {{role: caller}}\n  bob: {bob}\n")
    assert expected_final_code(sc, sc.calls[0]) == want


def test_final_code_check_compares_with_the_capture(tmp_path):
    sc = scenario(tmp_path, "  - from: alice\n    to: bob\n    steps: [{wait: disconnected}]\n",
                  "alice: {role: caller}\n  bob: {role: callee, answer: 486}\n")
    busy = Dialog("c1", (msg(0.0, ALICE, BOB, method="INVITE"), msg(0.1, BOB, ALICE, status=486)), 486, None, None)
    ok = Dialog("c1", answered_dialog().messages, 200, None, None)
    assert {c.name: c for c in sip_checks(sc, evidence(tmp_path), sc.calls[0], busy)}["call1.final_code"].passed
    failed = {c.name: c for c in sip_checks(sc, evidence(tmp_path), sc.calls[0], ok)}["call1.final_code"]
    assert not failed.passed and failed.seen == "200"


def test_hold_and_unhold_need_their_reinvites(tmp_path):
    sc = scenario(tmp_path, "  - from: alice\n    to: bob\n    steps: [{wait: confirmed}, {hold: alice}, {unhold: alice}, "
                            "{hangup: alice}]\n")

    def sdp(port, direction):
        m0 = audio(port).media[0]
        return Sdp((SdpMedia(m0.media, m0.addr, m0.port, m0.proto, m0.payload_types, m0.rtpmap, m0.telephone_event_pts,
                             direction),))

    def reinvite(t, direction, cseq, status=200, answer="sendrecv"):
        """The in-dialog INVITE (To tag) and its final response (with an SDP answer when 2xx)."""
        tag = (("To", "<sip:bob@127.0.0.1>;tag=b1"),)
        return [msg(t, ALICE, BOB, method="INVITE", cseq=cseq, sdp=sdp(20040, direction), headers=tag),
                msg(t + 0.01, BOB, ALICE, status=status, cseq=cseq, headers=tag,
                    sdp=sdp(20042, answer) if status < 300 else None)]

    held = answered_dialog(reinvite(1.0, "sendonly", 2, answer="recvonly") + reinvite(2.0, "sendrecv", 3))
    c = {x.name: x for x in sip_checks(sc, evidence(tmp_path), sc.calls[0], held)}
    assert c["call1.hold"].passed and c["call1.unhold"].passed
    never_released = answered_dialog(reinvite(1.0, "sendonly", 2, answer="recvonly"))
    c = {x.name: x for x in sip_checks(sc, evidence(tmp_path), sc.calls[0], never_released)}
    assert c["call1.hold"].passed and not c["call1.unhold"].passed
    c = {x.name: x for x in sip_checks(sc, evidence(tmp_path), sc.calls[0], answered_dialog())}
    assert not c["call1.hold"].passed
    # refused (488), or "accepted" with an answer that does not fit a hold: no hold
    for bad in (reinvite(1.0, "sendonly", 2, status=488), reinvite(1.0, "sendonly", 2, answer="sendrecv")):
        c = {x.name: x for x in sip_checks(sc, evidence(tmp_path), sc.calls[0], answered_dialog(bad))}
        assert not c["call1.hold"].passed and "not accepted" in c["call1.hold"].reason, c["call1.hold"]


@pytest.mark.parametrize("codes,expect,ok", [
    ((401, 200), "", True),  # challenged, then accepted
    ((401, 403), "", False),
    ((401, 403), ", expect: failure", True),
    ((), "", False),  # never answered
])  # fmt: skip
def test_registration_is_judged_from_the_capture(tmp_path, codes, expect, ok):
    agents = ("alice: {role: caller, register: {registrar: 'sip:127.0.0.1:5070', password: pw" + expect + "}}\n"
              "  bob: {role: callee}\n")
    sc = scenario(tmp_path, "  - from: alice\n    to: bob\n", agents)
    kam = "127.0.0.1:5070"
    msgs = [msg(0.0, ALICE, kam, method="REGISTER", call_id="r1")]
    msgs += [msg(0.1 * (i + 1), kam, ALICE, status=code, cseq_method="REGISTER", call_id="r1") for i, code in enumerate(codes)]
    reg = Dialog("r1", tuple(msgs), None, None, None)
    c = {x.name: x for x in registration_checks(sc, evidence(tmp_path), analysis([reg]))}
    assert c["register.alice.capture"].passed is ok, c


def test_pjsua_must_agree_with_the_capture(tmp_path):
    sc = scenario(tmp_path, "  - from: alice\n    to: bob\n    steps: [{wait: disconnected}]\n",
                  "alice: {role: caller}\n  bob: {role: callee, answer: 486}\n")
    busy = Dialog("c1", (msg(0.0, ALICE, BOB, method="INVITE"), msg(0.1, BOB, ALICE, status=486)), 486, None, None)

    def ev(code):
        base = evidence(tmp_path)
        alice = base.agents[0]
        said = (AgentEvent(EventKind.DISCONNECTED, 1.0, 0, "DISCONNCTD", code, "Busy"),)
        import dataclasses

        return dataclasses.replace(base, agents=(dataclasses.replace(alice, events=said),) + base.agents[1:])

    assert agent_agreement(sc, ev(486), sc.calls[0], busy)[0].passed
    disagree = agent_agreement(sc, ev(408), sc.calls[0], busy)[0]
    assert not disagree.passed and disagree.evidence == "pjsua"


def test_the_bye_check_names_no_port_a_tls_agent_never_used():
    from callgen.scenario.model import Transport
    from callgen.verdict.checks import bye_sender

    assert bye_sender("bob", "127.0.0.1", 56400, Transport.UDP) == "BYE from bob (127.0.0.1:56400)"
    tls = bye_sender("bob", "127.0.0.1", 56400, Transport.TLS)
    assert "56400" not in tls and "TLS" in tls and "bob" in tls
