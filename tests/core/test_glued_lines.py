"""pjsua's worker threads log while its main thread prints the menu prompt: two state lines can reach
the console as one ("...CONNECTING>>> 10:51:06.733 ... CONFIRMED", seen in a 50 cps load, where the
CONFIRMED was lost and the call was never given its digits nor hung up).  Every state in a line counts."""

from __future__ import annotations

from pathlib import Path

from callgen.pjsua.driver import EventKind, PjsuaAgent

GLUED = ("Call 17 state changed to CONNECTING>>> 10:51:06.733            pjsua_app.c  "
         ".....Call 17 state changed to CONFIRMED")


def test_two_state_lines_glued_into_one_give_two_events(tmp_path: Path):
    agent = PjsuaAgent("alice", ["pjsua"], tmp_path / "t.txt")
    agent._ingest([GLUED, "Make call: 10:50:56.253            pjsua_app.c  .......Call 18 state changed to CALLING",
                   "10:51:06.731            pjsua_app.c  .Call 110 is DISCONNECTED [reason=200 (OK)]"
                   "10:51:06.732            pjsua_app.c  .Call 18 state changed to CONFIRMED",
                   "10:53:48.972            pjsua_app.c  .....Call 463 state changed to CONNECTING10:53:48.972            "
                   "pjsua_app.c  .....Call 463 state changed to CONFIRMED  [CONFIRMED] To: sip:bob@127.0.0.1;tag=7e",
                   "11:10:34.964            pjsua_app.c  .....Call 96 state changed to CONFIRMEDCall id (empty to cancel): "
                   "Current call id=203"])
    got = [(e.kind, e.call, e.state) for e in agent.events()]
    assert got == [(EventKind.CALL_STATE, 17, "CONNECTING"), (EventKind.CALL_STATE, 17, "CONFIRMED"),
                   (EventKind.CALL_STATE, 18, "CALLING"), (EventKind.DISCONNECTED, 110, "DISCONNCTD"),
                   (EventKind.CALL_STATE, 18, "CONFIRMED"), (EventKind.CALL_STATE, 463, "CONNECTING"),
                   (EventKind.CALL_STATE, 463, "CONFIRMED"), (EventKind.CALL_STATE, 96, "CONFIRMED"),
                   (EventKind.CALL_SELECTED, 203, "")], got


def test_state_lines_glued_without_a_time_stamp_between_each_count(tmp_path: Path):
    """Seen in `make bench-load` (2026-12-03): four state lines of two calls and a DISCONNECTED in one console
    line, the later ones without their time stamps; the CONFIRMED of calls 96 and 100 were lost, so neither
    got its digits nor its hang-up (held 27.8 s instead of 10.6 s and 9 s: 2 calls unproven)."""
    agent = PjsuaAgent("alice", ["pjsua"], tmp_path / "t.txt")
    agent._ingest(["12:04:09.332            pjsua_app.c !.....Call 96 state changed to CONNECTINGCall 96 state changed "
                   "to CONFIRMEDCall 100 state changed to CONNECTINGCall 100 state changed to CONFIRMED12:04:09.334"
                   "            pjsua_app.c !.Call 146 is DISCONNECTED [reason=200 (OK)]"])
    got = [(e.kind, e.call, e.state) for e in agent.events()]
    assert got == [(EventKind.CALL_STATE, 96, "CONNECTING"), (EventKind.CALL_STATE, 96, "CONFIRMED"),
                   (EventKind.CALL_STATE, 100, "CONNECTING"), (EventKind.CALL_STATE, 100, "CONFIRMED"),
                   (EventKind.DISCONNECTED, 146, "DISCONNCTD")], got
