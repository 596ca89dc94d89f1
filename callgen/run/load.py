"""A load run: one pjsua caller places calls at a rate to pjsua callees, at most
``max_concurrent`` up at once; pjsua hangs each up after ``hold_s`` (--duration).

The caller's console is the only channel: calls are placed over the menu one at a
time (``m`` and the URI, then its CALLING line gives pjsua's call slot), so INVITEs
leave in placing order, which is how the verdict stage ties each call to its dialog
in the capture.  With per-call DTMF the engine waits for the call to be CONFIRMED
and sends its own digits while it is pjsua's current call (the one just placed).
Every wait is bounded by the scenario deadline.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from callgen.errors import AgentTimeout, InfrastructureError
from callgen.pjsua import patterns as pp
from callgen.pjsua.driver import AgentEvent, EventKind, PjsuaAgent
from callgen.run.callflow import Deadline
from callgen.run.evidence import LoadCallRecord
from callgen.run.plan import RunPlan
from callgen.scenario.model import Load

#: how long a new call may take to show its CALLING line, and to be answered when DTMF must follow
PLACE_TIMEOUT_S = 5.0
ANSWER_TIMEOUT_S = 5.0


class LoadRun:
    def __init__(self, load: Load, plan: RunPlan, agents: dict[str, PjsuaAgent], deadline: Deadline,
                 progress: Callable[[str], None] | None = None, start_at: float | None = None,
                 journal: Path | None = None):
        self.start_at = start_at
        self.journal = journal  #: calls.jsonl: a row per call as it ends, so a run killed midway leaves them
        self.load = load
        self.plan = plan
        self.agents = agents
        self.caller = agents[load.caller]
        self.deadline = deadline
        self.progress = progress
        self._lock = threading.Lock()
        self._records: list[LoadCallRecord] = []
        self._active: dict[int, int] = {}  #: pjsua call slot -> index of the call in it
        self._seen = 0  #: caller events consumed
        self._answered = self._failed = 0
        self._as_set = 0  #: calls ended with the answer their callee is set to give (a busy callee's 486)
        self._placed_at: list[float] = []  #: monotonic times of the first and the latest call placed
        self._journal = None

    def records(self) -> tuple[LoadCallRecord, ...]:
        with self._lock:
            return tuple(self._records)

    # -- the caller's events -------------------------------------------------
    def _consume(self) -> None:
        """Fold the caller's new state lines into the call records."""
        events = self.caller.events_since(self._seen)
        for ev in events:
            self._fold(ev)
        self._seen += len(events)

    def _fold(self, ev: AgentEvent) -> None:
        if ev.call is None or ev.call not in self._active:
            return
        k = self._active[ev.call]
        rec = self._records[k]
        if ev.kind is EventKind.CALL_STATE and ev.state == pp.STATE_CONFIRMED and rec.confirmed is None:
            self._set(k, confirmed=ev.time)
            self._answered += 1
        elif ev.kind is EventKind.DISCONNECTED:
            self._set(k, ended=ev.time, code=ev.code, reason=ev.reason)
            del self._active[ev.call]
            if rec.confirmed is None:
                if ev.code is not None and ev.code == self._answer_of(rec.callee) and not 200 <= ev.code < 300:
                    self._as_set += 1
                else:
                    self._failed += 1
            self._journal_row(k)

    def _answer_of(self, callee: str) -> int | None:
        try:
            return self.plan.agent(callee).agent.answer
        except (KeyError, AttributeError):
            return None

    def _set(self, k: int, **changes) -> None:
        with self._lock:
            self._records[k] = dataclasses.replace(self._records[k], **changes)

    # -- the run ---------------------------------------------------------------
    def execute(self) -> None:
        try:
            self._execute()
        finally:
            if self._journal is not None:
                self._journal.close()
                self._journal = None

    def _journal_row(self, k: int) -> None:
        """Append call ``k``'s row to the journal and flush it (a full disk is not the load's fault: the row
        is still in the records, and the verdict writes calls.jsonl again at the end)."""
        if self.journal is None:
            return
        try:
            if self._journal is None:
                fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
                self._journal = os.fdopen(fd, "w", encoding="utf-8")
            self._journal.write(json.dumps(self._records[k].journal_row()) + "\n")
            self._journal.flush()
        except OSError:
            self.journal = None

    def _execute(self) -> None:
        load, planned = self.load, self.load.planned()
        t0 = time.monotonic()
        if self.start_at is not None:  # the shares of one load start together
            wait = self.start_at - time.time()
            if wait > self.deadline.left():
                raise InfrastructureError(f"--start-at is {wait:.0f} s away, past the scenario timeout")
            t0 += max(0.0, wait)
        self._seen = self.caller.mark()
        for k in range(planned):
            self._wait_turn(t0 + load.offset(k))
            self._place(k)
            self._note_placed()
            self._report(k + 1, t0)
        self._wait_all_ended()
        self._report(planned, t0, final=True)

    def _wait_turn(self, due: float) -> None:
        """Until the call is due and a slot is free (max_concurrent), folding events meanwhile."""
        while True:
            self._consume()
            self._check_alive()
            now = time.monotonic()
            if now >= due and len(self._active) < self.load.max_concurrent:
                return
            wait = max(0.001, due - now) if now < due else 0.5
            self._await_event(min(wait, self.deadline.bound(wait, "the next load call")))

    def _check_alive(self) -> None:
        """A pjsua of the load that died ends the run: what follows would only measure its absence."""
        dead = [name for name, a in self.agents.items() if a.died]
        if dead:
            raise InfrastructureError(f"agent {dead[0]}: pjsua died during the load, after {len(self._records)} calls")

    def _await_event(self, timeout: float) -> None:
        try:
            self.caller.wait_for(lambda e: True, "a state line", timeout, since=self._seen)
        except AgentTimeout:
            pass

    def _place(self, k: int) -> None:
        load = self.load
        callee = self.plan.agent(load.callee(k))
        uri = callee.contact_uri
        since = self.caller.mark()
        with self._lock:
            self._records.append(LoadCallRecord(load.number(k), callee.name, uri, load.digits(k) if load.dtmf else "",
                                                time.time(), None))
        self.caller.send(pp.CMD_MAKE_CALL, uri)
        try:  # the new call's first line: CALLING (only the call just made prints it), or pjsua's reason
            ev = self.caller.wait_for(
                lambda e: (e.kind is EventKind.CALL_STATE and e.state == pp.STATE_CALLING) or e.kind is EventKind.CALL_ERROR,
                f"load call {k} to start", self.deadline.bound(PLACE_TIMEOUT_S, f"placing load call {k}"), since=since)
        except AgentTimeout as exc:
            self._set(k, problem=str(exc))
            self._journal_row(k)
            return
        if ev.kind is EventKind.CALL_ERROR:
            self._set(k, problem=f"pjsua could not place it: {ev.reason}")
            self._journal_row(k)
            return
        # what came before the CALLING line (an older call leaving the slot it now takes) is folded first
        after = self.caller.events_since(since)
        self._consume_until(since + next(i for i, e in enumerate(after) if e is ev))
        self._active[ev.call] = k
        self._set(k, pjsua_call=ev.call)
        self._consume()
        if load.dtmf:
            self._send_digits(k, ev.call)

    def _consume_until(self, index: int) -> None:
        """Fold the caller's events before ``index``."""
        for ev in self.caller.events_since(self._seen)[: max(0, index - self._seen)]:
            self._fold(ev)
        self._seen = max(self._seen, index)

    def _send_digits(self, k: int, slot: int) -> None:
        """The call's own digits, once it is answered, while it is pjsua's current call."""
        try:  # an answer already folded into the record needs no wait
            if self._records[k].confirmed is None and self._records[k].ended is None:
                self.caller.wait_for(
                    lambda e: e.call == slot and (e.kind is EventKind.DISCONNECTED
                                                  or (e.kind is EventKind.CALL_STATE and e.state == pp.STATE_CONFIRMED)),
                    f"load call {k} to be answered", self.deadline.bound(ANSWER_TIMEOUT_S, f"answering load call {k}"),
                    since=self._seen)
        except AgentTimeout:
            return  # not answered: the verdict says so from the capture
        self._consume()
        rec = self._records[k]
        if rec.confirmed is None or rec.ended is not None:
            return
        refused = self.caller.send_dtmf(rec.digits)
        if refused:
            self._set(k, dtmf_refused=refused)

    def _wait_all_ended(self) -> None:
        """Every call ends by itself after hold_s (pjsua's --duration); bounded by the deadline."""
        end = time.monotonic() + self.load.hold_s + 10.0
        while True:
            self._consume()
            left = min(end - time.monotonic(), self.deadline.left())
            if not self._active or left <= 0:
                return
            self._await_event(min(left, 0.5))

    def _note_placed(self) -> None:
        now = time.monotonic()
        self._placed_at[1:] = [now] if self._placed_at else []
        if not self._placed_at:
            self._placed_at.append(now)

    def _rate(self, placed: int) -> str:
        """Calls per second between the first and the latest call placed: the first call alone has no rate
        (placed/elapsed then read "312.4 cps"), and the hold after the last call does not dilute it."""
        if placed < 2 or len(self._placed_at) < 2 or self._placed_at[1] <= self._placed_at[0]:
            return "-- cps"
        return f"{(placed - 1) / (self._placed_at[1] - self._placed_at[0]):.1f} cps"

    def _report(self, placed: int, t0: float, *, final: bool = False) -> None:
        if self.progress is None:
            return
        as_set = f"rejected as set {self._as_set}  " if self._as_set else ""
        self.progress(f"placed {placed}/{self.load.planned()}  active {len(self._active)}  answered {self._answered}  "
                      f"{as_set}failed {self._failed}  {self._rate(placed)}" + ("\n" if final else ""))
