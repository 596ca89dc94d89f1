"""The load engine against a scripted pjsua console (no process): a call pjsua refuses as one too many
(its --max-calls reached: a slot is freed a moment after the DISCONNECTED line) is placed again once
another call has ended, with its own headers again; each call is hung up on itself ('g' N, 'h')."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from callgen.pjsua.driver import PjsuaAgent
from callgen.run.callflow import Deadline
from callgen.run.load import LoadRun
from callgen.scenario.model import Load


class ScriptedPjsua(PjsuaAgent):
    """Answers menu commands with the lines pjsua prints; the first ``refuse`` calls are refused as too many."""

    def __init__(self, tmp: Path, refuse: int, max_calls: int = 0):
        super().__init__("alice", ["pjsua"], tmp / "t.txt")
        self.refuse, self.next_call, self.current = refuse, 0, -1
        self.max_calls, self.up = max_calls, set()  #: max_calls: refuse (no line of another call) while full
        self.sent: list[str] = []
        self._asks = ""

    @property
    def died(self) -> bool:
        return False

    def send(self, *lines: str) -> None:
        for line in lines:
            self.sent.append(line)
            self._ingest(self._answer(line))

    def _answer(self, line: str) -> list[str]:
        asks, self._asks = self._asks, ""
        if asks == "m" and self.refuse:
            self.refuse -= 1
            return ["10:00:00.000            pjsua_call.c  Error making call: Too many objects of the specified type "
                    "[status=70010]", "10:00:00.001            pjsua_app.c  .Call 77 is DISCONNECTED [reason=200 (OK)]"]
        if asks == "m" and self.max_calls and len(self.up) >= self.max_calls:
            return ["10:00:00.000            pjsua_call.c  Error making call: Too many objects of the specified type "
                    "[status=70010]"]
        if asks == "m":
            n, self.next_call = self.next_call, self.next_call + 1
            self.current = n
            self.up.add(n)
            return [f"Call {n} state changed to CALLING", f"Call {n} state changed to CONFIRMED"]
        if asks == "g":
            self.current = int(line)
            return [f"Current call id={line}"]
        if asks:
            return []
        if line == "h":
            self.up.discard(self.current)
            return [f"Call {self.current} is DISCONNECTED [reason=200 (Normal call clearing)]"]
        self._asks = line  # m, g, k: the next line is their argument
        return []


def _plan(bob, callers=("alice",)):
    """A plan's face as the load engine sees it: bob's processes, the caller's processes."""
    return SimpleNamespace(agent=lambda name: bob,
                           processes=lambda name: (bob,) if name == "bob" else tuple(SimpleNamespace(name=n) for n in callers))


def test_a_call_refused_as_one_too_many_is_placed_again_and_each_is_hung_up_on_itself(tmp_path):
    caller = ScriptedPjsua(tmp_path, refuse=2)
    bob = SimpleNamespace(name="bob", contact_uri="sip:bob@127.0.0.1:5070", agent=SimpleNamespace(answer=200))
    plan = _plan(bob)
    load = Load("alice", ("bob",), rate=50, calls=3, hold_s=1, headers=(("X-Load-Call", "c{n}"),))
    run = LoadRun(load, plan, {"alice": caller}, Deadline(20))
    run.execute()
    records = run.records()
    assert [r.problem for r in records] == ["", "", ""], records
    assert [r.pjsua_call for r in records] == [0, 1, 2]
    assert all(r.code == 200 and r.hold_s == 1.0 for r in records), records
    # call 0 was refused twice: its header went with each of its three 'm's
    assert caller.sent.count("X-Load-Call: c0") == 3 and caller.sent.count("X-Load-Call: c1") == 1
    hangups = [caller.sent[i + 1] for i, line in enumerate(caller.sent[:-2]) if line == "g" and caller.sent[i + 2] == "h"]
    assert sorted(hangups) == ["0", "1", "2"], caller.sent


def test_hang_ups_go_on_while_a_call_waits_for_a_slot(tmp_path):
    """pjsua full (one call at most here): the next call waits for a slot, and the hang-up that frees it
    is done meanwhile (a blocking wait for a call to end stalled placing and made hang-ups seconds late)."""
    caller = ScriptedPjsua(tmp_path, refuse=0, max_calls=1)
    bob = SimpleNamespace(name="bob", contact_uri="sip:bob@127.0.0.1:5070", agent=SimpleNamespace(answer=200))
    load = Load("alice", ("bob",), rate=50, calls=2, hold_s=1)
    run = LoadRun(load, _plan(bob), {"alice": caller}, Deadline(20))
    run.execute()
    first, second = run.records()
    assert first.problem == "" and second.problem == "" and second.pjsua_call == 1, (first, second)
    assert first.ended - first.confirmed < 1.5  # hung up on time, not after the wait for a slot ran out
