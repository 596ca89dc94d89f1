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
from tests.analysis.callcap import call
from tests.analysis.capgen import CaptureWriter

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
