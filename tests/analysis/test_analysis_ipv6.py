"""IPv6 calls in a capture: SIP, SDP ``c=IN IP6``, RTP and RFC 4733 digits between
``::1`` ports, on every link type a capture of ``lo`` or ``any`` is written with,
with IPv6 extension headers in front of UDP, and with the SDP address written in
another textual form than the packet headers' (``0:0:0:0:0:0:0:1`` is ``::1``)."""

from __future__ import annotations

import pytest
from capgen import CaptureWriter, RtpSender, sdp, sip_request, sip_response
from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop
from scapy.packet import Raw

from callgen.analysis import analyze_capture, ladder_lines
from callgen.analysis.sip import parse_sdp

V6 = "::1"
PTS = {8: "PCMA/8000", 120: "telephone-event/8000"}
CID = "v6-call@test"


def _udp(w: CaptureWriter, t: float, sport: int, dport: int, payload: bytes, ext: bool) -> None:
    if not ext:
        w.udp(t, V6, sport, V6, dport, payload)
        return
    w.frame(t, IPv6(src=V6, dst=V6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / UDP(sport=sport, dport=dport)
            / Raw(payload))


def _v6_call(w: CaptureWriter, sdp_addr: str = V6, ext: bool = False) -> None:
    """INVITE/200/ACK, RTP both ways with the digit 7 from the caller, BYE/200, all over ::1."""
    a, b = "[::1]:5060", "[::1]:5062"
    offer, answer = sdp(sdp_addr, 40000, PTS), sdp(sdp_addr, 40002, PTS)
    for t, sp, dp, data in [
        (1.000, 5060, 5062, sip_request("INVITE", CID, 1, a, b, offer)),
        (1.010, 5062, 5060, sip_response(200, "OK", CID, 1, "INVITE", b, a, answer)),
        (1.020, 5060, 5062, sip_request("ACK", CID, 1, a, b)),
        (3.000, 5060, 5062, sip_request("BYE", CID, 2, a, b)),
        (3.010, 5062, 5060, sip_response(200, "OK", CID, 2, "BYE", b, a)),
    ]:
        _udp(w, t, sp, dp, data, ext)
    out = RtpSender(ssrc=0xA6A6A6A6, seq=1, ts=0, event_pt=120)
    t = out.audio(1.1, 20)
    t = out.digit(t, "7")
    out.audio(t, 10)
    back = RtpSender(ssrc=0xB6B6B6B6, seq=500, ts=8000)
    back.audio(1.1, 40)
    for when, pkt in out.packets:
        _udp(w, when, 40000, 40002, pkt, ext)
    for when, pkt in back.packets:
        _udp(w, when, 40002, 40000, pkt, ext)


def _check(a) -> None:
    [d] = a.dialogs
    assert d.call_id == CID and d.final_code == 200
    assert [(m.src, m.dst) for m in d.messages][:2] == [("[::1]:5060", "[::1]:5062"), ("[::1]:5062", "[::1]:5060")]
    assert d.offer.audio().addr == V6 and d.answer.audio().port == 40002
    by_ssrc = {s.ssrc: s for s in a.rtp_streams}
    out, back = by_ssrc[0xA6A6A6A6], by_ssrc[0xB6B6B6B6]
    assert (out.src, out.dst) == ("[::1]:40000", "[::1]:40002")
    assert (back.src, back.dst) == ("[::1]:40002", "[::1]:40000")
    for st in (out, back):  # tied to the call through the SDP's c=IN IP6 address and port
        assert st.call_id == CID and st.announced and st.codec == "PCMA/8000" and st.lost == 0
    assert a.digits() == "7" and a.dtmf[0].call_id == CID
    assert ladder_lines(d)[0].split()[1:4] == ["[::1]:5060", "->", "[::1]:5062"]


@pytest.mark.parametrize("link", ["ether", "sll", "sll2", "raw", "null", "loop"])
def test_ipv6_call_on_every_link_type(tmp_path, link):
    path = tmp_path / f"v6-{link}.pcap"
    with CaptureWriter(str(path), link=link) as w:
        _v6_call(w)
    _check(analyze_capture(str(path)))


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_ipv6_extension_headers_are_skipped(tmp_path, fmt):
    """Hop-by-Hop and Destination Options headers before UDP: SIP and RTP are still found."""
    path = tmp_path / f"v6-ext.{fmt}"
    with CaptureWriter(str(path), fmt=fmt) as w:
        _v6_call(w, ext=True)
    _check(analyze_capture(str(path)))


@pytest.mark.parametrize("written", ["0:0:0:0:0:0:0:1", "0000::0001", "::0:1"])
def test_sdp_ipv6_address_in_another_textual_form_still_ties_the_streams(tmp_path, written):
    """The SDP may write ::1 in any RFC 4291 form; packet headers give the canonical one.
    Before the fix the streams were taken as unannounced (no call, no codec)."""
    path = tmp_path / "v6-form.pcap"
    with CaptureWriter(str(path)) as w:
        _v6_call(w, sdp_addr=written)
    _check(analyze_capture(str(path)))


def test_parse_sdp_ip6_connection_line():
    body = b"v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 0:0:0:0:0:0:0:1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n"
    [m] = parse_sdp(body).media
    assert (m.addr, m.port, m.rtpmap[8]) == ("::1", 4000, ("PCMA", 8000))
