"""A whole SIP call (INVITE, 100, 200 with SDP, ACK, RTP both ways, BYE, 200) written into a
capture with ``capgen.CaptureWriter``: over UDP, or over TCP from a client's own port."""

from __future__ import annotations

from tests.analysis.capgen import RtpSender, sdp

LO = "127.0.0.1"
PCMA = {8: "PCMA/8000", 120: "telephone-event/8000"}


def request(method, call_id, cseq, src_port, dst_port, via_port, transport, body=b"", to_tag=""):
    head = [f"{method} sip:bob@{LO}:{dst_port}{';transport=tcp' if transport == 'TCP' else ''} SIP/2.0",
            f"Via: SIP/2.0/{transport} {LO}:{via_port};rport;branch=z9hG4bK{call_id}{cseq}{method}",
            "Max-Forwards: 70", f"From: <sip:alice@{LO}>;tag=a-{call_id}", f"To: <sip:bob@{LO}>{to_tag}",
            f"Contact: <sip:alice@{LO}:{via_port}>", f"Call-ID: {call_id}", f"CSeq: {cseq} {method}"]
    return _finish(head, body)


def response(code, reason, call_id, cseq, method, via_port, transport, bob_port, body=b""):
    head = [f"SIP/2.0 {code} {reason}",
            f"Via: SIP/2.0/{transport} {LO}:{via_port};rport;branch=z9hG4bK{call_id}{cseq}{method}",
            f"From: <sip:alice@{LO}>;tag=a-{call_id}", f"To: <sip:bob@{LO}>;tag=b-{call_id}",
            f"Contact: <sip:bob@{LO}:{bob_port}>", f"Call-ID: {call_id}", f"CSeq: {cseq} {method}"]
    return _finish(head, body)


def _finish(head, body):
    if body:
        head.append("Content-Type: application/sdp")
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class Conn:
    """One direction of a TCP connection (sequence numbers go on), or UDP."""

    def __init__(self, w, sport, dport, tcp):
        self.w, self.sport, self.dport, self.tcp, self.seq = w, sport, dport, tcp, 1000

    def send(self, t, payload):
        if self.tcp:
            self.w.tcp(t, LO, self.sport, LO, self.dport, self.seq, payload)
            self.seq += len(payload)
        else:
            self.w.udp(t, LO, self.sport, LO, self.dport, payload)


def call(w, t0, call_id, *, alice, bob, alice_src, tcp, rtp_a, rtp_b, media=True, packets=(150, 150), reinvite_at=None):
    """alice (SIP port ``alice``, sending from ``alice_src``) calls bob, talks 3 s, hangs up.
    ``packets``: RTP alice -> bob and back, 20 ms apart from 50 ms after the INVITE;
    ``reinvite_at``: seconds after the INVITE alice re-offers the same media (answered 200)."""
    tr = "TCP" if tcp else "UDP"
    out = Conn(w, alice_src, bob, tcp)
    back = Conn(w, bob, alice_src, tcp)
    out.send(t0, request("INVITE", call_id, 1, alice_src, bob, alice, tr, sdp(LO, rtp_a, PCMA)))
    back.send(t0 + 0.01, response(100, "Trying", call_id, 1, "INVITE", alice, tr, bob))
    back.send(t0 + 0.02, response(200, "OK", call_id, 1, "INVITE", alice, tr, bob, sdp(LO, rtp_b, PCMA)))
    tag = f";tag=b-{call_id}"
    out.send(t0 + 0.03, request("ACK", call_id, 1, alice_src, bob, alice, tr, to_tag=tag))
    if reinvite_at is not None:
        out.send(t0 + reinvite_at, request("INVITE", call_id, 3, alice_src, bob, alice, tr, sdp(LO, rtp_a, PCMA), to_tag=tag))
        back.send(t0 + reinvite_at + 0.01, response(200, "OK", call_id, 3, "INVITE", alice, tr, bob, sdp(LO, rtp_b, PCMA)))
        out.send(t0 + reinvite_at + 0.02, request("ACK", call_id, 3, alice_src, bob, alice, tr, to_tag=tag))
    if media:
        for ssrc, src, dst, n in ((0x1111, rtp_a, rtp_b, packets[0]), (0x2222, rtp_b, rtp_a, packets[1])):
            s = RtpSender(ssrc=ssrc, seq=100, ts=0)
            s.audio(t0 + 0.05, n)
            for t, pkt in s.packets:
                w.udp(t, LO, src, LO, dst, pkt)
    out.send(t0 + 3.2, request("BYE", call_id, 4, alice_src, bob, alice, tr, to_tag=tag))
    back.send(t0 + 3.21, response(200, "OK", call_id, 4, "BYE", alice, tr, bob))


