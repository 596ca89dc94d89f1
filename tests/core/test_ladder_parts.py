"""The parts behind the ladder's new labels (issue 25): the analysis keeps a request's
Request-URI, the top Via names the transport, a target's address names its lane, and an
arrow label is cut to the room between its lifelines (with the transport kept whole)."""

from __future__ import annotations

from callgen.analysis.sip import build_message, parse_sip
from callgen.reports.svg import CHAR_PX, _arrow_label
from callgen.verdict.flows import target_endpoint
from callgen.verdict.ladder import FlowMessage, message_text, via_transport

INVITE = (b"INVITE sip:bob@127.0.0.1:51602;transport=tls SIP/2.0\r\n"
          b"Via: SIP/2.0/TLS 127.0.0.1:5061;rport;branch=z9hG4bKx\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n"
          b"Content-Length: 0\r\n\r\n")
TRYING = (b"SIP/2.0 100 trying -- your call is important to us\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\n"
          b"Call-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")


def test_request_uri_and_transport_are_kept():
    invite = build_message(parse_sip(INVITE), 1.0, "127.0.0.1:5061", "127.0.0.1:51602", "tcp")
    assert invite.request_uri == "sip:bob@127.0.0.1:51602;transport=tls" and via_transport(invite) == "TLS"
    assert message_text(invite).startswith("INVITE sip:bob@127.0.0.1:51602;transport=tls SIP/2.0\r\n")
    trying = build_message(parse_sip(TRYING), 1.0, "127.0.0.1:51602", "127.0.0.1:5061", "udp")
    assert trying.request_uri == "" and via_transport(trying) == "UDP"


def test_a_targets_address_names_its_lane():
    assert target_endpoint("127.0.0.1:5070") == ("127.0.0.1", 5070)
    assert target_endpoint("sip:127.0.0.1:5070;lr") == ("127.0.0.1", 5070)
    assert target_endpoint("[::1]:5070") == ("::1", 5070)
    assert target_endpoint("sip:[0:0:0:0:0:0:0:1]:5070;lr") == ("::1", 5070)  # the same lane as an agent on ::1
    assert target_endpoint("sip:pbx.example") is None and target_endpoint("not a host") is None


def _msg(**kw) -> FlowMessage:
    base = dict(time=0.0, src="a", dst="b", src_party=0, dst_party=1, method=None, status=100,
                reason="trying -- your call is important to us", cseq=1, cseq_method="INVITE",
                retransmission=False, source="capture", sdp=None, text="")
    return FlowMessage(**{**base, **kw})


def test_labels_fit_between_their_lifelines():
    room = 250 - 16
    long_reason = _arrow_label(_msg(), room)
    assert long_reason.endswith("…") and len(long_reason) * CHAR_PX <= room
    tls = _arrow_label(_msg(method="INVITE", status=None, reason="", request_uri="sip:bob@127.0.0.1:51602;transport=tls",
                            transport="TLS"), room)
    assert tls.startswith("INVITE sip:bob@127.0.0.1:") and tls.endswith("… · TLS") and len(tls) * CHAR_PX <= room
    assert _arrow_label(_msg(status=200, reason="OK", transport="UDP"), room) == "200 OK"


def test_a_tls_agents_lane_shows_its_tls_port():
    """Over TLS an agent listens on its SIP port + 1: its lane head says that port, not the UDP one."""
    from callgen.analysis import build_dialog
    from callgen.verdict.ladder import AgentAddress, CallInfo, build_flow

    invite = build_message(parse_sip(INVITE), 1.0, "127.0.0.1:5061", "127.0.0.1:51602", "tcp")
    agents = [AgentAddress("alice", "127.0.0.1", 5060, shown_port=5061), AgentAddress("bob", "127.0.0.1", 51601)]
    flow = build_flow(CallInfo("call1", "alice", "bob"), build_dialog("c1", [invite]), agents, [10_000])
    parties = {p.name: p.address for p in flow.parties}
    assert parties["alice"] == "127.0.0.1:5061", parties
