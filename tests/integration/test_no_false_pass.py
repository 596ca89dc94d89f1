"""No false pass against peers that are not pjsua (issue #9).

Each far end here misbehaves the way real equipment does, played by SIPp with
its own XML scenario (tests/data/sipp/): INFO refused with 501, an answer
without telephone-event, RTP of a payload type the SDP never negotiated.  On
the code before this test every one of these scenarios passed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.sipp_far_end import SIPP_XML, far_end, run_against

pytestmark = pytest.mark.tool("sipp")


def test_info_dtmf_answered_501_is_not_delivered(cli, tmp_path, pjsua_bin):
    body = """
agents:
  alice: {role: caller, codecs: [PCMU]}
calls:
  - from: alice
    to: ${PEER}
    steps:
      - wait: confirmed
      - dtmf: "42#"
        method: info
      - hangup: alice
      - wait: disconnected
    expect:
      dtmf: {digits: "42#", method: info}
"""
    with far_end(tmp_path, "info_501.xml") as sipp:
        r, result, checks = run_against(cli, tmp_path, sipp.uri, body, "info_501")
    assert r.status == 1, r.out + r.err
    assert result["verdict"] == "fail"
    dtmf = checks["call1.dtmf"]
    assert not dtmf["passed"]
    assert "501" in dtmf["seen"] and "digits (none)" in dtmf["seen"], dtmf
    assert "the far end (sip:peer@" in dtmf["expected"]  # not "at None"
    step = checks["call1.step2"]
    assert not step["passed"] and "501" in step["seen"], step


def test_rfc2833_refused_by_pjsua_fails_the_step(cli, tmp_path, pjsua_bin):
    """The far end answered without telephone-event: pjsua will not send RFC 2833."""
    body = """
agents:
  alice: {role: caller, codecs: [PCMU]}
calls:
  - from: alice
    to: ${PEER}
    steps:
      - wait: confirmed
      - dtmf: "5"
      - pause: 0.3
      - hangup: alice
      - wait: disconnected
"""
    with far_end(tmp_path, "no_telephone_event.xml") as sipp:
        r, result, checks = run_against(cli, tmp_path, sipp.uri, body, "no_te")
    assert r.status == 1, r.out + r.err
    step = checks["call1.step2"]
    assert not step["passed"], step
    assert "refused" in step["seen"] and "2833" in step["seen"], step
    assert step["evidence"] == "pjsua"


def _pcma_rtp_pcap(path: Path, packets: int = 60) -> Path:
    """RTP of payload type 8 (PCMA) every 20 ms, as SIPp's play_pcap_audio wants it."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.layers.rtp import RTP
    from scapy.utils import wrpcap

    frames = []
    for n in range(packets):
        pkt = (Ether() / IP(src="127.0.0.1", dst="127.0.0.1") / UDP(sport=40000, dport=40002)
               / RTP(version=2, payload_type=8, sequence=1000 + n, timestamp=160 * n, sourcesync=0x5150CA8)
               / (b"\xd5" * 160))
        pkt.time = 1_700_000_000 + n * 0.02
        frames.append(pkt)
    wrpcap(str(path), frames)
    return path


def test_rtp_of_an_unnegotiated_payload_type_fails_codec_and_rtp(cli, tmp_path, pjsua_bin):
    pcap = _pcma_rtp_pcap(tmp_path / "pcma.pcap")
    xml = (SIPP_XML / "other_payload_type.xml").read_text().replace("PCAP_FILE", str(pcap))
    body = """
agents:
  alice: {role: caller, codecs: [PCMU]}
calls:
  - from: alice
    to: ${PEER}
    steps:
      - wait: confirmed
      - pause: 1.5
      - hangup: alice
      - wait: disconnected
    expect:
      codec: PCMU
      rtp: {min_packets: 10}
"""
    with far_end(tmp_path, "other_payload_type.xml", xml) as sipp:
        r, result, checks = run_against(cli, tmp_path, sipp.uri, body, "other_pt")
    assert r.status == 1, r.out + r.err
    codec = checks["call1.codec"]
    assert not codec["passed"] and "PCMA" in codec["seen"], codec
    pts = checks["call1.rtp[callee->caller].payload_types"]
    assert not pts["passed"] and "[8]" in pts["reason"], pts
    # what alice sent was the negotiated PCMU
    assert checks["call1.rtp[caller->callee].payload_types"]["passed"]


def test_info_retransmitted_by_a_slow_peer_is_one_digit(cli, tmp_path, pjsua_bin):
    body = """
agents:
  alice: {role: caller, codecs: [PCMU]}
calls:
  - from: alice
    to: ${PEER}
    steps:
      - wait: confirmed
      - dtmf: "4"
        method: info
      - hangup: alice
      - wait: disconnected
    expect:
      dtmf: {digits: "4", method: info}
"""
    with far_end(tmp_path, "info_slow.xml") as sipp:
        r, result, checks = run_against(cli, tmp_path, sipp.uri, body, "info_slow")
    assert r.status == 0, r.out + r.err
    from callgen.analysis import analyze_capture

    infos = [m for d in analyze_capture(str(tmp_path / "out" / "info_slow" / "capture.pcap")).dialogs
             for m in d.messages if m.method == "INFO"]
    assert len(infos) >= 2 and len({m.cseq for m in infos}) == 1, "the INFO was retransmitted"
    assert checks["call1.dtmf"]["seen"].startswith("digits 4 (sip-info)")
