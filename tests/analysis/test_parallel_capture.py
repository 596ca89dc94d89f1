"""A scenario's verdict judges only its own agents' traffic, though its capture holds more.

``callgen run -j 2`` runs two scenarios at once on loopback.  Each captures the ports of its
own block, but a block lies inside Linux's ephemeral port range, so the other scenario's TCP
connections (a client's ephemeral source port) land in this capture now and then.  Every
library scenario calls its agents alice and bob at 127.0.0.1: the other alice's INVITE over TCP
carries the same ``From: sip:alice@127.0.0.1``.  The verdict took it for this alice's call
(over TCP it recognised the caller by From and address) and judged the call as relayed by an
unknown system under test at the other bob's port - seen once in a library run as
``audio_both_ways`` "relayed via 127.0.0.1:59602".  A request is the agent's when it leaves its
SIP port or, over a connection from an ephemeral port, names the agent's SIP port in its top Via.
"""

from __future__ import annotations

import pytest

from callgen.run.capture import CaptureStats
from callgen.run.evidence import AgentEvidence, Evidence
from callgen.scenario.loader import load_scenario
from callgen.verdict.checks import evaluate
from tests.analysis.capgen import CaptureWriter, RtpSender, sdp

LO = "127.0.0.1"
ALICE, BOB = 20000, 20002  # this scenario's block starts at 20000 (alice's RTP 20040, bob's 20060)
EPHEMERAL = 20123  # the other alice's TCP source port, by chance inside this block
OTHER_ALICE, OTHER_BOB = 59600, 59602  # the other scenario's block

SCENARIO = """name: audio_both_ways
agents:
  alice: {role: caller, codecs: [PCMA]}
  bob: {role: callee, codecs: [PCMA]%s}
calls:
  - from: alice
    to: bob
    steps: [{wait: confirmed}, {pause: 3}, {hangup: alice}, {wait: disconnected}]
    expect:
      rtp: {min_packets: 100}
"""

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


def call(w, t0, call_id, *, alice, bob, alice_src, tcp, rtp_a, rtp_b, media=True):
    """alice (SIP port ``alice``, sending from ``alice_src``) calls bob, talks 3 s, hangs up."""
    tr = "TCP" if tcp else "UDP"
    out = Conn(w, alice_src, bob, tcp)
    back = Conn(w, bob, alice_src, tcp)
    out.send(t0, request("INVITE", call_id, 1, alice_src, bob, alice, tr, sdp(LO, rtp_a, PCMA)))
    back.send(t0 + 0.01, response(100, "Trying", call_id, 1, "INVITE", alice, tr, bob))
    back.send(t0 + 0.02, response(200, "OK", call_id, 1, "INVITE", alice, tr, bob, sdp(LO, rtp_b, PCMA)))
    tag = f";tag=b-{call_id}"
    out.send(t0 + 0.03, request("ACK", call_id, 1, alice_src, bob, alice, tr, to_tag=tag))
    if media:
        for ssrc, src, dst in ((0x1111, rtp_a, rtp_b), (0x2222, rtp_b, rtp_a)):
            s = RtpSender(ssrc=ssrc, seq=100, ts=0)
            s.audio(t0 + 0.05, 150)
            for t, pkt in s.packets:
                w.udp(t, LO, src, LO, dst, pkt)
    out.send(t0 + 3.2, request("BYE", call_id, 2, alice_src, bob, alice, tr, to_tag=tag))
    back.send(t0 + 3.21, response(200, "OK", call_id, 2, "BYE", alice, tr, bob))


def run(tmp_path, *, own_tcp):
    pcap = tmp_path / "capture.pcap"
    with CaptureWriter(str(pcap)) as w:
        # the other scenario's call starts first; only its SIP between the other alice's
        # ephemeral port and the other bob is in this capture (its RTP ports lie elsewhere)
        call(w, 100.0, "other-call", alice=OTHER_ALICE, bob=OTHER_BOB, alice_src=EPHEMERAL, tcp=True,
             rtp_a=59640, rtp_b=59660, media=False)
        call(w, 100.5, "own-call", alice=ALICE, bob=BOB, alice_src=20321 if own_tcp else ALICE, tcp=own_tcp,
             rtp_a=20040, rtp_b=20060)
    text = SCENARIO % (", transport: tcp" if own_tcp else "")
    (tmp_path / "s.yaml").write_text(text, encoding="utf-8")
    sc = load_scenario(tmp_path / "s.yaml")
    agents = tuple(AgentEvidence(n, port, LO, tmp_path / f"{n}.log", tmp_path / f"{n}.t", tmp_path / f"{n}.cfg", (), 0)
                   for n, port in (("alice", ALICE), ("bob", BOB)))
    ev = Evidence(tmp_path, pcap, CaptureStats(10, 0, "", "tcpdump"), agents, (), 99.0, 104.5)
    return evaluate(sc, ev)


@pytest.mark.parametrize("own_tcp", [False, True], ids=["own-call-udp", "own-call-tcp"])
def test_another_scenarios_tcp_invite_from_the_same_user_is_not_this_call(tmp_path, own_tcp):
    out = run(tmp_path, own_tcp=own_tcp)
    failed = [f"{c.name}: {c.reason}" for c in out.checks if not c.passed]
    assert not failed, failed
    legs = out.summary.to_dict()["legs"]["call1"]
    assert [(g["role"], g["peer"], g["call_id"]) for g in legs] == [("caller", "bob", "own-call")], legs
    names = {c.name for c in out.checks}
    assert {"call1.final_code", "call1.rtp[caller->callee].packets", "call1.rtp[callee->caller].packets"} <= names
    assert not any(".relay" in n or n.startswith("call1.caller.") for n in names), names
