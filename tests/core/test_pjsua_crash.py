"""A pjsua that crashes is named with the signal its own crash handler printed (pjsua's main.c: "Error:
signal N:", a backtrace, exit status 1), not just "exit status 1" (a soak's caller died so after 3,000 calls
and the message said only "exit status 1")."""

from __future__ import annotations

import sys
from pathlib import Path

from callgen.pjsua.driver import PjsuaAgent, crash_signal, signal_name
from callgen.run.evidence import AgentEvidence

#: a stand-in for pjsua: its menu, the echo barrier, then a crash on the next command, as pjsua's handler does it
FAKE = """\
import sys
print("You have 0 active calls", flush=True)
for line in sys.stdin:
    if line.startswith("echo "):
        print(line.strip(), flush=True)  # echo on: pjsua echoes each command it reads
        continue
    print("Error: signal 11:", flush=True)
    print("./pjsua(+0x1f2a3)[0x55d0c0ffee00]", flush=True)
    sys.exit(1)
"""


def test_a_crashed_pjsua_is_named_with_its_signal_and_where_its_backtrace_is(tmp_path: Path):
    script = tmp_path / "fake_pjsua.py"
    script.write_text(FAKE)
    agent = PjsuaAgent("alice", [sys.executable, str(script)], tmp_path / "alice.transcript.txt")
    agent.start(timeout=10.0)
    try:
        agent.send("m")
        agent._reader.join(10.0)  # the console reader ends at pjsua's EOF
        assert agent.died
        assert agent.crash_signal == 11
        assert agent.death() == "it crashed on signal 11 (SIGSEGV), its backtrace is in alice.transcript.txt"
    finally:
        status = agent.stop(grace=2.0)
    ev = AgentEvidence("alice", 5060, "127.0.0.1", tmp_path / "l", agent.transcript_path, tmp_path / "c", (),
                       status, died=True, death=agent.death())
    assert ev.problem() == ("agent alice: pjsua died during the run (exit status 1: it crashed on signal 11 (SIGSEGV),"
                            " its backtrace is in alice.transcript.txt)"), ev.problem()


def test_a_pjsua_killed_from_outside_names_no_crash():
    assert crash_signal(["Call 3 state changed to CONFIRMED", "You have 4 active calls"]) is None
    assert crash_signal(["x", "Error: signal 6:", "./pjsua(+0x1)"]) == 6 and signal_name(6) == "signal 6 (SIGABRT)"
    assert signal_name(200) == "signal 200"
