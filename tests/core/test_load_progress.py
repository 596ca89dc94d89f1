"""The load run's live line: a sane rate from the first call on, no stale characters when
a shorter line replaces a longer one, and answers the scenario asked for (a busy callee's
486) not counted as failed."""

from __future__ import annotations

import io
from types import SimpleNamespace

from callgen.cli.core import _progress_line
from callgen.pjsua import patterns as pp
from callgen.pjsua.driver import AgentEvent, EventKind
from callgen.run.evidence import LoadCallRecord
from callgen.run.load import LoadRun
from callgen.scenario.model import Load


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def screen(raw: str) -> list[str]:
    """What a terminal shows: "\\r" returns to column 0, ESC[K clears to the end of the line."""
    lines, line, col, i = [], [], 0, 0
    while i < len(raw):
        if raw.startswith("\033[K", i):
            del line[col:]
            i += 3
            continue
        ch = raw[i]
        if ch == "\r":
            col = 0
        elif ch == "\n":
            lines.append("".join(line))
            line, col = [], 0
        else:
            line[col:col + 1] = [ch]
            col += 1
        i += 1
    return lines + ["".join(line)]


def test_a_shorter_final_line_leaves_no_stale_character():
    err = Tty()
    show = _progress_line(SimpleNamespace(err=err, out=io.StringIO()))
    show("placed 10/10  active 10  answered 10  failed 0  31.4 cps")
    show("placed 10/10  active 0  answered 10  failed 0  3.1 cps\n")
    assert screen(err.getvalue())[0] == "placed 10/10  active 0  answered 10  failed 0  3.1 cps"


def _run(callees=("bob", "busy"), rate=10.0):
    answers = {"alice": 200, "bob": 200, "busy": 486}
    plan = SimpleNamespace(agent=lambda name: SimpleNamespace(name=name, agent=SimpleNamespace(answer=answers[name])),
                           processes=lambda name: (SimpleNamespace(name=name),))
    lines: list[str] = []
    run = LoadRun(Load(caller="alice", callees=callees, rate=rate, calls=4), plan, {"alice": object()},
                  deadline=None, progress=lines.append)
    return run, lines


def _call(run: LoadRun, k: int, slot: int, callee: str) -> None:
    run._records.append(LoadCallRecord(k, callee, f"sip:{callee}@127.0.0.1", "", 0.0, slot))
    run.callers[0].active[slot] = k
    run._active += 1


def test_the_busy_answer_the_scenario_asked_for_is_not_failed():
    run, lines = _run()
    _call(run, 0, 0, "bob")
    _call(run, 1, 1, "busy")
    _call(run, 2, 2, "bob")
    run._fold(run.callers[0], AgentEvent(EventKind.CALL_STATE, 1.0, call=0, state=pp.STATE_CONFIRMED))
    run._fold(run.callers[0], AgentEvent(EventKind.DISCONNECTED, 1.1, call=1, code=486, reason="Busy Here"))
    run._fold(run.callers[0], AgentEvent(EventKind.DISCONNECTED, 1.2, call=2, code=503, reason="Service Unavailable"))
    run._report(3, 0.0)
    assert "answered 1  rejected as set 1  failed 1" in lines[-1]


def test_the_rate_of_the_first_calls_is_not_a_burst(monkeypatch):
    run, lines = _run()
    clock = iter([100.003, 100.103, 100.203, 100.303])
    monkeypatch.setattr("callgen.run.load.time.monotonic", lambda: next(clock))
    run._note_placed()  # the first call, 3 ms after the start: 1 / 0.003 s read "333.3 cps"
    run._report(1, 100.0)
    assert lines[-1].endswith("-- cps")
    for _ in range(3):  # three more, one every 0.1 s: 10 calls per second
        run._note_placed()
    run._report(4, 100.0)
    assert lines[-1].endswith("10.0 cps")
