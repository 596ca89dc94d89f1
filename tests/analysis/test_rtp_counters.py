"""pjsua's own RTP counters against the capture (issue 20's leftover: the stall check).

pjsua prints, when a call's media ends, how many RTP packets its stream received and
sent.  Here the log is doctored (a real dump's lines, the counts changed) and the capture
built with scapy: where they disagree, ``callN.rtp_counters[A]`` says so, and a capture
that holds less than pjsua exchanged makes the run an infrastructure error.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest

from callgen.pjsua.calldump import call_dumps
from callgen.run.capture import CaptureStats
from callgen.run.evidence import AgentEvidence, Evidence
from callgen.scenario.loader import load_scenario
from callgen.verdict.checks import evaluate
from callgen.verdict.counters import agree
from tests.analysis.callcap import LO, call
from tests.analysis.capgen import CaptureWriter

T0 = 1_796_300_000.0  # the call's INVITE (epoch seconds): the log's clock times are this day's
ALICE, BOB = 20000, 20002

SCENARIO = """name: counters
agents:
  alice: {role: caller, codecs: [PCMA]%s}
  bob: {role: callee, codecs: [PCMA]}
calls:
  - from: alice
    to: bob
    steps: [{wait: confirmed}, {pause: 3}, {hangup: alice}, {wait: disconnected}]
"""


def _clock(t: float) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%H:%M:%S.%f")[:-3]


def dump_log(path, t: float, remote_tag: str, rx: int, tx: int, call: int = 0) -> None:
    """A pjsua log whose call ``call`` ended at ``t`` with these counters (the lines as pjsua 2.17 prints them)."""
    lines = [
        f"{_clock(t - 1)}           pjsua_call.c  Making call with acc #0 to sip:bob@127.0.0.1:20002",
        f"{_clock(t)}           pjsua_call.c !Call {call} hanging up: code=0..",
        f"{_clock(t)}          pjsua_media.c  .Call {call}: deinitializing media..",
        f"{_clock(t)}          pjsua_media.c  ..",
        f"  [CONFIRMED] To: sip:bob@127.0.0.1;tag={remote_tag}",
        "    Call time: 00h:00m:03s, 1st res in 4 ms, conn in 6ms",
        "    #0 audio PCMA @8kHz, sendrecv, peer=127.0.0.1:20060",
        "       SRTP status: Not active Crypto-suite: ",
        "       RX pt=8, last update:00h:00m:02.788s ago",
        f"          total {rx}pkt 24.1KB (30.2KB +IP hdr) @avg=64.2Kbps/80.3Kbps",
        "          pkt loss=0 (0.0%), discrd=0 (0.0%), dup=0 (0.0%), reord=0 (0.0%)",
        "                (msec)    min     avg     max     last    dev",
        "          loss period:   0.000   0.000   0.000   0.000   0.000",
        "          jitter     :   0.000   0.232   0.250   0.250   0.056",
        "       TX pt=8, ptime=20, last update:00h:00m:02.772s ago",
        f"          total {tx}pkt 24.0KB (30.0KB +IP hdr) @avg=63.8Kbps/79.8Kbps",
        "          pkt loss=0 (0.0%), dup=0 (0.0%), reorder=0 (0.0%)",
        "       RTT msec      :   0.061   0.061   0.061   0.061   0.000",
        f"{_clock(t)}           conference.c  ....Remove port 5 requested",
        f"{_clock(t)}            pjsua_app.c  .Call {call} is DISCONNECTED [reason=200 (OK)]",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.utime(path, (t + 1, t + 1))


def judge(tmp_path, *, captured=(150, 150), counted=(150, 150), reinvite_at=None, impair=""):
    """alice's log says it received ``counted[0]`` and sent ``counted[1]``; the capture holds
    ``captured`` packets alice -> bob and back."""
    pcap = tmp_path / "capture.pcap"
    with CaptureWriter(str(pcap)) as w:
        call(w, T0, "c1", alice=ALICE, bob=BOB, alice_src=ALICE, tcp=False, rtp_a=20040, rtp_b=20060,
             packets=captured, reinvite_at=reinvite_at)
    dump_log(tmp_path / "alice.log", T0 + 3.2, "b-c1", rx=counted[0], tx=counted[1])
    (tmp_path / "s.yaml").write_text(SCENARIO % impair, encoding="utf-8")
    sc = load_scenario(tmp_path / "s.yaml")
    agents = tuple(AgentEvidence(n, port, LO, tmp_path / f"{n}.log", tmp_path / f"{n}.t", tmp_path / f"{n}.cfg", (), 0)
                   for n, port in (("alice", ALICE), ("bob", BOB)))
    ev = Evidence(tmp_path, pcap, CaptureStats(10, 0, "", "tcpdump"), agents, (), T0 - 1, T0 + 4)
    out = evaluate(sc, ev)
    return out, {c.name: c for c in out.checks}


def test_the_dump_is_read_from_the_log(tmp_path):
    dump_log(tmp_path / "a.log", T0 + 3.2, "xyz", rx=151, tx=150, call=2)
    (d,) = call_dumps(tmp_path / "a.log")
    assert (d.call, d.remote_tag, round(d.time - T0, 3)) == (2, "xyz", 3.2)
    assert [(m.kind, m.peer, m.rx_packets, m.tx_packets) for m in d.media] == [("audio", "127.0.0.1:20060", 151, 150)]


def test_counters_that_agree_pass_with_both_sources_named(tmp_path):
    out, checks = judge(tmp_path, captured=(150, 150), counted=(148, 150))
    c = checks["call1.rtp_counters[alice]"]
    assert c.passed, c
    assert c.evidence == "pjsua log alice vs capture"
    assert c.seen == "pjsua log: received 148, sent 150; capture: 150 toward alice, 150 from alice"
    assert "call1.rtp_counters[bob]" not in checks  # bob's log printed nothing: nothing to compare
    assert not out.infrastructure


def test_a_capture_that_missed_packets_pjsua_exchanged_is_an_infrastructure_error(tmp_path):
    # the capture stalled after 40 packets each way; alice's pjsua counted the whole call
    out, checks = judge(tmp_path, captured=(40, 40), counted=(150, 150))
    c = checks["call1.rtp_counters[alice]"]
    assert not c.passed
    assert "alice's pjsua received 150 RTP packets, the capture holds 40" in c.reason
    assert "alice's pjsua sent 150 RTP packets, the capture holds 40" in c.reason
    assert "the capture missed traffic" in c.reason
    assert any("the capture holds 40" in p and "tcpdump missed packets" in p for p in out.infrastructure), out.infrastructure


def test_packets_on_the_wire_that_pjsua_never_took_fail_the_call(tmp_path):
    # 150 packets reached alice's media address; its stream took 20 (the rest discarded)
    out, checks = judge(tmp_path, captured=(150, 150), counted=(20, 150))
    c = checks["call1.rtp_counters[alice]"]
    assert not c.passed
    assert "the capture shows 150 RTP packets toward alice's media address" in c.reason and "its pjsua received 20" in c.reason
    assert not out.infrastructure  # the capture is whole: the call is at fault


def test_after_a_re_invite_only_the_last_streams_packets_are_compared(tmp_path):
    # 150 packets each way from +0.05 s; the re-INVITE answered at +2.01 s: pjsua's new stream
    # then saw the last ~52 packets each way
    _, checks = judge(tmp_path, counted=(52, 52), reinvite_at=2.0)
    c = checks["call1.rtp_counters[alice]"]
    assert c.passed, c
    _, checks = judge(tmp_path, counted=(150, 150), reinvite_at=2.0)
    assert not checks["call1.rtp_counters[alice]"].passed  # the whole call's count is not the last stream's


def test_an_agents_own_rx_loss_is_not_a_discard(tmp_path):
    _, checks = judge(tmp_path, captured=(150, 150), counted=(100, 150), impair=", impair: {rx_loss_pct: 30}")
    assert checks["call1.rtp_counters[alice]"].passed


@pytest.mark.parametrize("a, b, same", [(150, 140, True), (150, 139, False), (1000, 950, True), (1000, 949, False),
                                        (0, 10, True), (0, 11, False)])
def test_slack(a, b, same):
    assert agree(a, b) is same
