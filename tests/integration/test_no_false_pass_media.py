"""No false pass, round two (issue #20): media that was thrown away, refused, or
evidence that says more than happened.

Every far end here is SIPp with its own XML scenario (tests/data/sipp/), some
playing a capture the test builds with scapy (and SRTP packets protected by
pylibsrtp, independent of callgen's own SRTP code).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.integration.sipp_far_end import far_end, run_against

pytestmark = [pytest.mark.integration, pytest.mark.tool("sipp")]

#: the far end's SDES key (AES_CM_128: 16 bytes key + 14 bytes salt): it protects what the far end sends
ANSWER_KEY = bytes(range(1, 31))


def _rtp(seq: int, ts: int, ssrc: int, payload: bytes, pt: int = 8, marker: bool = False) -> bytes:
    return bytes([0x80, (0x80 if marker else 0) | pt]) + seq.to_bytes(2, "big") + ts.to_bytes(4, "big") \
        + ssrc.to_bytes(4, "big") + payload


def _write_pcap(path: Path, payloads: list[bytes], interval: float = 0.02) -> Path:
    """UDP datagrams every ``interval`` s, as SIPp's play_pcap_audio wants them."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import wrpcap

    frames = []
    for n, data in enumerate(payloads):
        pkt = Ether() / IP(src="127.0.0.1", dst="127.0.0.1") / UDP(sport=40000, dport=40002) / Raw(data)
        pkt.time = 1_700_000_000 + n * interval
        frames.append(pkt)
    wrpcap(str(path), frames)
    return path


def _tone(n: int) -> bytes:
    """160 bytes of PCMA that vary like speech (low entropy, clearly not ciphertext)."""
    return bytes((0xD5 ^ ((i * 7 + n) % 16)) for i in range(160))


def srtp_then_plain_pcap(path: Path, srtp_packets: int = 70, plain_packets: int = 166) -> Path:
    """One SSRC: ``srtp_packets`` protected with ANSWER_KEY (pylibsrtp), then plain PCMA."""
    import pylibsrtp

    policy = pylibsrtp.Policy(key=ANSWER_KEY, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                              srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80)
    session = pylibsrtp.Session(policy=policy)
    ssrc = 0x2A2A0070
    packets = []
    for n in range(srtp_packets + plain_packets):
        clear = _rtp(5000 + n, 160 * n, ssrc, _tone(n), marker=n == 0)
        packets.append(session.protect(clear) if n < srtp_packets else clear)
    return _write_pcap(path, packets)


SRTP_OPTIONAL_CALL = """
agents:
  alice: {role: caller, codecs: [PCMA], srtp: {use: optional, secure: 0}}
calls:
  - from: alice
    to: ${PEER}
    steps:
      - wait: confirmed
      - pause: 5.5
      - hangup: alice
      - wait: disconnected
    expect:
      srtp: true
      rtp: {min_packets: 100, max_loss_pct: 5}
"""


def test_optional_srtp_then_plain_rtp_on_one_ssrc_fails(cli, tmp_path, pjsua_bin):
    """70 SRTP packets then 166 plain ones: alice's pjsua keeps 70 and discards 166
    ("Failed to unprotect SRTP"). The stream is not decrypted, the discarded packets
    are not received, and the failing count is a failing check although SRTP was optional."""
    pcap = srtp_then_plain_pcap(tmp_path / "mixed.pcap")
    with far_end(tmp_path, "srtp_then_plain.xml", PCAP_FILE=str(pcap),
                 ANSWER_KEY=base64.b64encode(ANSWER_KEY).decode()) as sipp:
        r, result, checks = run_against(cli, tmp_path, sipp.uri, SRTP_OPTIONAL_CALL, "srtp_mixed")
    assert r.status == 1, r.out + r.err
    log = (tmp_path / "out" / "srtp_mixed" / "alice.pjsua.log").read_text(errors="replace")
    assert "Failed to unprotect SRTP" in log, "the far end's plain packets must reach alice"
    dec = checks["call1.srtp.decrypted"]
    assert not dec["passed"], dec
    assert "166" in dec["seen"], dec
    plain = checks["call1.srtp.no_plain_rtp"]
    assert not plain["passed"] and "166" in plain["seen"], plain
    got = checks["call1.rtp[callee->caller].packets"]
    assert not got["passed"] and got["seen"].startswith("70 packets"), got
    loss = checks["call1.rtp[callee->caller].loss"]
    assert not loss["passed"], loss
    # what alice sent was SRTP all through
    assert checks["call1.rtp[caller->callee].packets"]["passed"]


def test_plain_rtp_where_srtp_was_negotiated_is_reported_plain(cli, tmp_path, pjsua_bin):
    """The far end negotiates SDES-SRTP, then sends nothing but plain RTP: that is
    unencrypted media, not "a wrong key"."""
    pcap = srtp_then_plain_pcap(tmp_path / "plain.pcap", srtp_packets=0, plain_packets=200)
    with far_end(tmp_path, "srtp_then_plain.xml", PCAP_FILE=str(pcap),
                 ANSWER_KEY=base64.b64encode(ANSWER_KEY).decode()) as sipp:
        r, result, checks = run_against(cli, tmp_path, sipp.uri, SRTP_OPTIONAL_CALL, "srtp_plain")
    assert r.status == 1, r.out + r.err
    dec = checks["call1.srtp.decrypted"]
    assert not dec["passed"], dec
    back = next(s for s in result["summary"]["rtp_streams"] if s["auth_failures"])
    assert back["authenticated"] == 0 and back["failed_entropy"] < 7, back
    why = back["decrypt_error"]
    assert "plain RTP" in why and "unencrypted" in why and "wrong key" not in why, why
    assert why in dec["seen"]
    assert not checks["call1.srtp.no_plain_rtp"]["passed"]
    got = checks["call1.rtp[callee->caller].packets"]
    assert not got["passed"] and got["seen"].startswith("0 packets"), got


def test_uri_call_without_steps_honours_expected_final_code(cli, tmp_path, pjsua_bin):
    """A URI call with no steps and expect.final_code 486: the default steps wait for
    the end of the call, and the verdict judges the final code (no "wait confirmed")."""
    body = """
agents:
  alice: {role: caller}
calls:
  - from: alice
    to: ${PEER}
    expect:
      final_code: 486
"""
    with far_end(tmp_path, "busy_486.xml") as sipp:
        r, result, checks = run_against(cli, tmp_path, sipp.uri, body, "busy")
    assert r.status == 0, r.out + r.err
    assert checks["call1.final_code"]["passed"] and checks["call1.final_code"]["seen"] == "486"
    steps = [c for n, c in checks.items() if ".step" in n]
    assert steps and all("confirmed" not in c["expected"] for c in steps), steps


def test_scenario_timeout_during_a_wait_names_the_step(cli, tmp_path, pjsua_bin):
    """The scenario timeout runs out while waiting for CONFIRMED at a far end that
    rings forever: the error names that step, not "ending the call"."""
    body = """
agents:
  alice: {role: caller}
calls:
  - from: alice
    to: ${PEER}
    steps:
      - wait: ringing
      - wait: confirmed
        timeout: 30
"""
    with far_end(tmp_path, "rings_forever.xml") as sipp:
        r, result, checks = run_against(cli, tmp_path, sipp.uri, body, "noanswer", timeout=3)
    assert r.status == 3, r.out + r.err
    assert result["verdict"] == "error"
    assert "scenario timeout (3 s)" in result["error"] and "wait confirmed" in result["error"], result["error"]
    assert "ending the call" not in result["error"]
    assert result["duration_s"] < 15


def test_sips_uri_from_an_agent_without_tls_is_refused_before_running(cli, tmp_path):
    """Dialling sips: (or ;transport=tls) from UDP-only agents sends nothing: exit 2 at
    validate with file:line, not a capture error after the run."""
    scenario = tmp_path / "sips.yaml"
    scenario.write_text("name: sips\nagents:\n  alice: {role: caller}\ncalls:\n  - from: alice\n"
                        "    to: sips:peer@127.0.0.1:5999\n", encoding="utf-8")
    for command in (("validate", str(scenario)), ("run", str(scenario), "-o", str(tmp_path / "out"))):
        r = cli(*command)
        assert r.status == 2, r.out + r.err
        assert f"{scenario}:6: calls[0].to: 'sips:peer@127.0.0.1:5999' needs TLS" in r.err, r.err
    assert not (tmp_path / "out" / "sips" / "capture.pcap").exists()


def test_codec_of_a_declined_stream_does_not_pass(cli, tmp_path, pjsua_bin):
    """The far end answers m=audio 0 (declined) with PCMA listed and no RTP flows:
    nothing shows PCMA "in the SDP answer and on the wire"."""
    body = """
agents:
  alice: {role: caller, codecs: [PCMA]}
calls:
  - from: alice
    to: ${PEER}
    steps:
      - wait: confirmed
      - pause: 1
      - hangup: alice
      - wait: disconnected
    expect:
      codec: PCMA
"""
    with far_end(tmp_path, "declined_audio.xml") as sipp:
        r, result, checks = run_against(cli, tmp_path, sipp.uri, body, "declined")
    assert r.status == 1, r.out + r.err
    codec = checks["call1.codec"]
    assert not codec["passed"], codec
    assert "m=audio 0" in codec["seen"] and "declined" in codec["reason"], codec


def test_hold_refused_with_488_is_no_hold(cli, tmp_path, pjsua_bin):
    body = """
agents:
  alice: {role: caller, codecs: [PCMA]}
calls:
  - from: alice
    to: ${PEER}
    steps:
      - wait: confirmed
      - hold: alice
      - pause: 0.5
      - hangup: alice
      - wait: disconnected
"""
    with far_end(tmp_path, "hold_488.xml") as sipp:
        r, result, checks = run_against(cli, tmp_path, sipp.uri, body, "hold488")
    assert r.status == 1, r.out + r.err
    hold = checks["call1.hold"]
    assert not hold["passed"], hold
    assert "sendonly -> 488" in hold["seen"] and "not accepted" in hold["reason"], hold


def dtmf_pcap(path: Path, digits: str, event_pt: int) -> Path:
    """PCMU audio on one SSRC with RFC 4733 events of ``event_pt`` for ``digits``, as pjsua sends
    them: marker on the first packet, one timestamp per digit, duration growing, 3 end packets."""
    ssrc, seq, ts, packets = 0x0D7F0101, 100, 0, []

    def audio(n):
        nonlocal seq, ts
        for _ in range(n):
            packets.append(_rtp(seq, ts, ssrc, b"\xff" * 160, pt=0))
            seq, ts = seq + 1, ts + 160

    audio(25)
    for d in digits:
        code = "0123456789*#".index(d)
        start = ts
        for k in range(10):
            end = k >= 7
            dur = min(160 * (k + 1), 1280)
            packets.append(_rtp(seq, start, ssrc, bytes([code, (0x80 if end else 0) | 10]) + dur.to_bytes(2, "big"),
                                pt=event_pt, marker=k == 0))
            seq += 1
        ts = start + 1280 + 160
        audio(15)
    audio(25)
    return _write_pcap(path, packets)


def test_rfc4733_events_of_a_pt_the_receiver_never_offered_are_no_digits(cli, tmp_path, pjsua_bin):
    """alice offered telephone-event 120; the far end sends its events with PT 101 (its
    own answer's number). alice's pjsua drops them ("Bad RTP pt 101"): no digits at alice."""
    pcap = dtmf_pcap(tmp_path / "dtmf101.pcap", "1#", 101)
    body = """
agents:
  alice: {role: caller, codecs: [PCMU]}
calls:
  - from: alice
    to: ${PEER}
    steps:
      - wait: confirmed
      - pause: 2.5
      - hangup: alice
      - wait: disconnected
    expect:
      dtmf: {digits: "1#", receiver: alice}
"""
    with far_end(tmp_path, "dtmf_pt_101.xml", PCAP_FILE=str(pcap)) as sipp:
        r, result, checks = run_against(cli, tmp_path, sipp.uri, body, "dtmf101")
    assert r.status == 1, r.out + r.err
    log = (tmp_path / "out" / "dtmf101" / "alice.pjsua.log").read_text(errors="replace")
    assert "Bad RTP pt 101" in log, "alice's pjsua must have dropped the events"
    dtmf = checks["call1.dtmf"]
    assert not dtmf["passed"] and dtmf["seen"].startswith("digits (none)"), dtmf
    assert "RTP of PT 101" in dtmf["seen"] and "expects 120" in dtmf["seen"], dtmf
    assert checks["call1.dtmf.pjsua_log"]["passed"], checks["call1.dtmf.pjsua_log"]  # alice logged none either
    events = [e for e in result["summary"]["dtmf"] if e["method"] == "rfc4733"]
    assert not events, events  # the analyser keeps PT 101 out of the events towards alice


INFO_CALL = """
agents:
  alice: {role: caller, codecs: [PCMU]}
calls:
  - from: alice
    to: ${PEER}
    steps:
      - wait: confirmed
      - dtmf: "DIGITS"
        method: info
      - hangup: alice
      - wait: disconnected
"""


@pytest.mark.parametrize("xml,digits", [("info_501.xml", "42#"), ("info_slow.xml", "4")])
def test_analyze_json_says_which_info_digits_were_answered_2xx(cli, tmp_path, pjsua_bin, xml, digits):
    """One DTMF entry per INFO transaction (retransmissions folded in and counted), with
    its final response; only those answered 2xx are delivered digits."""
    with far_end(tmp_path, xml) as sipp:
        run_against(cli, tmp_path, sipp.uri, INFO_CALL.replace("DIGITS", digits), "info")
    pcap = tmp_path / "out" / "info" / "capture.pcap"
    r = cli("analyze", "--json", str(pcap))
    doc = json.loads(r.out)
    infos = [e for e in doc["dtmf"] if e["method"] == "sip-info"]
    assert "".join(e["digit"] for e in infos) == digits, infos  # no retransmission listed as a digit
    if xml == "info_501.xml":
        assert all(e["status"] == 501 and e["delivered"] is False for e in infos), infos
    else:
        assert infos[0]["status"] == 200 and infos[0]["delivered"] is True, infos
        assert infos[0]["retransmissions"] >= 1, infos  # the slow peer made alice send it again
    from callgen.analysis import analyze_capture

    a = analyze_capture(str(pcap))
    assert a.digits(method="sip-info") == ("" if xml == "info_501.xml" else digits)
    text = cli("analyze", str(pcap)).out
    assert ("not delivered" in text) == (xml == "info_501.xml"), text
