"""The console reader's fast path (issue 23: callgen's CPU): a line is parsed only when it holds text some
event needs; every line that makes an event still makes it, and the reader thread is named for the OS."""

from __future__ import annotations

import threading
from pathlib import Path

from callgen.pjsua.driver import EventKind, PjsuaAgent, name_this_thread, parse_line

#: one console line of every kind callgen reads (as pjsua prints them: callgen/pjsua/patterns.py)
LINES = {
    "You have 0 active calls": EventKind.READY,
    "10:00:00.000  pjsua_app.c  .....Call 0 state changed to EARLY (180 Ringing)": EventKind.CALL_STATE,
    "10:00:00.000  pjsua_app.c  .Call 3 is DISCONNECTED [reason=486 (Busy Here)]": EventKind.DISCONNECTED,
    "10:00:00.000  pjsua_app.c  Call 0 media 0 [type=audio], status is Local hold": EventKind.MEDIA,
    "10:00:00.000  pjsua_app.c  Incoming call for account 0!": EventKind.INCOMING,
    "10:00:00.000  pjsua_app.c  Incoming DTMF on call 0: 5, using RFC2833 method": EventKind.DTMF,
    "10:00:00.000  stream.c  Sending DTMF digit id 5": EventKind.DTMF_SENDING,
    "10:00:00.000  pjsua_call.c  Call 0: DTMF sent successfully with INFO": EventKind.INFO_DTMF_RESULT,
    "10:00:00.000  pjsua_call.c  Call 0: Failed to send DTMF with INFO: 501/Not Implemented": EventKind.INFO_DTMF_RESULT,
    "Unable to send DTMF: Remote does not support RFC 2833 [status=220111]": EventKind.DTMF_REFUSED,
    "Media is not established yet!": EventKind.DTMF_REFUSED,
    "No current call": EventKind.DTMF_REFUSED,
    "Call has been disconnected": EventKind.DTMF_REFUSED,
    "10:00:00.000  pjsua_call.c  .Unable to generate Contact header: Unsupported transport": EventKind.CALL_ERROR,
    "10:00:00.000  pjsua_app.c  Call 0: transfer status=200 (OK) [final]": EventKind.TRANSFER_STATUS,
    "sip:alice@127.0.0.1: unregistration success": EventKind.UNREG_OK,
    "sip:alice@127.0.0.1: registration success, status=200 (OK), will re-register in 300 seconds": EventKind.REG_OK,
    "SIP registration failed, status=401 (Unauthorized)": EventKind.REG_FAILED,
    "Call id (empty to cancel): Current call id=5": EventKind.CALL_SELECTED,
    "Call 7 is not active": EventKind.CALL_SELECTED,
    "echo callgen-sync-0123456789ab": EventKind.ECHO,
}


def test_every_kind_of_line_still_makes_its_event_and_a_call_dump_makes_none(tmp_path: Path):
    agent = PjsuaAgent("alice", ["pjsua"], tmp_path / "t.txt")
    dump = ["  [CONFIRMED] To: sip:bob@127.0.0.1;tag=d7", "    Call time: 00h:00m:08s, 1st res in 11 ms, conn in 11ms",
            "       RX pt=8, last update:00h:00m:03.123s ago", "Make call: ", "(You currently have 6 calls)"]
    agent._ingest(list(LINES) + dump)
    assert [e.kind for e in agent.events()] == list(LINES.values())
    for line, kind in LINES.items():  # the same events parse_line gives
        assert kind is EventKind.ECHO or parse_line(line, 0.0).kind is kind
    assert agent.output_lines() == list(LINES) + dump  # every line kept


def test_a_thread_named_for_the_os_shows_its_name_in_proc():
    seen = {}

    def work():
        before = name_this_thread("pjsua-alice-p2")
        with open(f"/proc/self/task/{threading.get_native_id()}/comm") as f:
            seen["comm"], seen["before"] = f.read().strip(), before

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert seen["comm"] == "pjsua-alice-p2" and seen["before"]
