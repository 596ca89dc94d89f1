"""A load run: the caller's pjsua process(es) place calls at a rate to pjsua callees, at
most ``max_concurrent`` up at once; callgen hangs each up after its own hold (``hold_s``,
a number or drawn per call from ``{min, max}``).

A caller that must hold more calls than one pjsua does runs as several processes
(``callgen.run.plan.load_processes``): call k is placed by process k mod N, and goes to
its callee's processes in turn.  Each process's console is its only channel: a call is
handed over with ``m`` and the URI, and its CALLING line, read later, gives pjsua's call
slot; a process gets its next ``m`` only once its previous one was answered, so its INVITEs
leave in its placing order, which is how the verdict stage ties each call to its dialog in
the capture.  Placing never waits for another call: an answered call's digits and its
hang-up are actions due at a time (its answer; its answer plus its hold), done between
placements on the call itself (menu 'g' selects it: callgen's patch 0002).
Every wait is bounded by the scenario deadline.
"""

from __future__ import annotations

import dataclasses
import gc
import heapq
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from callgen.errors import InfrastructureError, Interrupted
from callgen.pjsua import patterns as pp
from callgen.pjsua.driver import AgentEvent, EventKind, PjsuaAgent, name_this_thread
from callgen.run.callflow import Deadline
from callgen.run.evidence import LoadCallRecord
from callgen.run.plan import RunPlan, load_callee_process
from callgen.scenario.model import Load

#: how long a new call may take to show its CALLING line
PLACE_TIMEOUT_S = 5.0
#: the caller's --duration is the longest hold plus this: a net, should callgen's own hang-up never come
DURATION_NET_S = 30
#: every this many calls placed, the objects so far (events, records) leave the garbage collector's view
#: (``gc.freeze``): a full collection of a long load's ~150,000 objects stalled placing 26 ms (make
#: bench-load: its call 1374, 29.98 s in, counted in the next second, in two runs)
GC_FREEZE_EVERY = 200


@dataclasses.dataclass
class _Caller:
    """One pjsua process of the load's caller, and what callgen tracks of it."""

    name: str  #: the process's agent name (``alice``, ``alice-p2``...)
    agent: PjsuaAgent
    cap: int  #: calls it may hold at once (its part of max_concurrent)
    seen: int = 0  #: its events consumed
    active: dict[int, int] = dataclasses.field(default_factory=dict)  #: pjsua call slot -> index of the call in it
    #: (slot, k, what) of each 'g' sent, not yet answered
    selects: deque[tuple[int, int, str]] = dataclasses.field(default_factory=deque)
    digits_of: int | None = None  #: the call whose digits were sent last (a refusal is its)
    pending: _Pending | None = None  #: the call whose 'm' went out, its CALLING line (or refusal) not yet read
    ended: int = 0  #: DISCONNECTED lines read (a call refused as one too many is sent again after one)


@dataclasses.dataclass
class _Pending:
    """A call handed to a caller process ('m' sent) whose first line has not been read yet."""

    k: int
    uri: str
    tried: int  #: the process's event index before the 'm': its answer comes after
    give_up: float  #: monotonic: PLACE_TIMEOUT_S after its first 'm'
    refused_at: int | None = None  #: ``ended`` when pjsua refused it as one too many (sent again after one more)


class LoadRun:
    def __init__(self, load: Load, plan: RunPlan, agents: dict[str, PjsuaAgent], deadline: Deadline,
                 progress: Callable[[str], None] | None = None, start_at: float | None = None,
                 journal: Path | None = None, health: Callable[[], str | None] | None = None):
        self.start_at = start_at
        #: why the load must stop, from outside the load (its capture prover fell behind); None while all is well
        self.health = health
        self.journal = journal  #: calls.jsonl: a row per call as it ends, so a run killed midway leaves them
        self.load = load
        self.plan = plan
        self.agents = agents
        procs = plan.processes(load.caller)
        cap = -(-load.max_concurrent // len(procs))  # as plan.load_process_cap: its part of max_concurrent
        #: the caller's pjsua processes: call k is placed by process k mod N
        self.callers = [_Caller(ap.name, agents[ap.name], cap) for ap in procs]
        self.caller = self.callers[0].agent
        self.deadline = deadline
        self.progress = progress
        self._lock = threading.Lock()
        self._records: list[LoadCallRecord] = []
        #: the records placed or changed since ``changes`` was last asked (the prover, in its own process, gets
        #: only these: copying every record to it at every look would cost more as the run grows)
        self._changed: dict[int, None] = {}
        self._active = 0  #: calls up, all processes together
        self._answered = self._failed = 0
        self._as_set = 0  #: calls ended with the answer their callee is set to give (a busy callee's 486)
        self._placed_at: list[float] = []  #: monotonic times of the first and the latest call placed
        self._journal = None
        #: (time.time() due, sequence, what, k, caller, slot): digits and hang-ups of answered calls, earliest first
        self._actions: list[tuple[float, int, str, int, int, int]] = []
        self._sequence = 0
        self._wake = threading.Event()  #: set by any caller process's reader as new lines come
        self._turn = 0  #: the caller process whose turn it is to place the next call
        self._uris: dict[str, str] = {}  #: each callee process's URI

    def records(self) -> tuple[LoadCallRecord, ...]:
        with self._lock:
            return tuple(self._records)

    def changes(self) -> list[tuple[int, LoadCallRecord]]:
        """(position, record) of each call placed or changed since the last ask, in position order."""
        with self._lock:
            out = [(k, self._records[k]) for k in sorted(self._changed)]
            self._changed.clear()
            return out

    # -- the caller's events -------------------------------------------------
    def _consume(self) -> None:
        """Fold every caller process's new state lines into the call records."""
        for c in self.callers:
            events = c.agent.events_since(c.seen)
            for ev in events:
                self._fold(c, ev)
                c.seen += 1

    def _fold(self, c: _Caller, ev: AgentEvent) -> None:
        if c.pending is not None and c.seen >= c.pending.tried and (
                (ev.kind is EventKind.CALL_STATE and ev.state == pp.STATE_CALLING) or ev.kind is EventKind.CALL_ERROR):
            self._fold_placed(c, ev)
            return
        if ev.kind is EventKind.DISCONNECTED:
            c.ended += 1
        if ev.kind is EventKind.CALL_SELECTED:
            self._fold_selected(c, ev)
            return
        if ev.kind is EventKind.DTMF_REFUSED and c.digits_of is not None:
            self._set(c.digits_of, dtmf_refused=ev.reason)
            return
        if ev.call is None or ev.call not in c.active:
            return
        k = c.active[ev.call]
        rec = self._records[k]
        if ev.kind is EventKind.CALL_STATE and ev.state == pp.STATE_CONFIRMED and rec.confirmed is None:
            self._set(k, confirmed=ev.time)
            self._answered += 1
            if rec.digits:
                self._schedule(ev.time, "digits", k, c, ev.call)
            self._schedule(ev.time + (rec.hold_s or 0.0), "hangup", k, c, ev.call)
        elif ev.kind is EventKind.DISCONNECTED:
            self._set(k, ended=ev.time, code=ev.code, reason=ev.reason)
            del c.active[ev.call]
            self._active -= 1
            if rec.confirmed is None:
                if ev.code is not None and ev.code == self._answer_of(rec.callee) and not 200 <= ev.code < 300:
                    self._as_set += 1
                else:
                    self._failed += 1
            self._journal_row(k)

    def _schedule(self, due: float, what: str, k: int, c: _Caller, slot: int) -> None:
        self._sequence += 1
        heapq.heappush(self._actions, (due, self._sequence, what, k, self.callers.index(c), slot))

    def _run_due_actions(self) -> None:
        """The digits and hang-ups that are due, each on its own call: 'g' and the call's slot, then '#' and
        its digits, or 'h'.  Nothing is awaited (pjsua reads its console in order, so the command after 'g'
        acts on the call 'g' selected); the answer to each 'g' is folded later (``_fold_selected``), and
        a 'g' pjsua refused marks the call it was for, as the command then went to another call.  A call
        that ended meanwhile (its slot free or another call's) is left alone."""
        while self._actions and self._actions[0][0] <= time.time():
            _, _, what, k, p, slot = heapq.heappop(self._actions)
            self._consume()
            c = self.callers[p]
            if c.active.get(slot) != k:
                continue
            commands = (pp.CMD_DTMF_2833, self._records[k].digits) if what == "digits" else (pp.CMD_HANGUP,)
            c.selects.append((slot, k, what))
            c.agent.send(pp.CMD_SELECT_CALL, str(slot), *commands)

    def _fold_selected(self, c: _Caller, ev: AgentEvent) -> None:
        """pjsua's answer to the oldest 'g' not yet answered; refused digits belong to the call selected last."""
        if not c.selects:
            return
        if ev.call is not None and any(sel[0] == ev.call for sel in c.selects):
            while c.selects[0][0] != ev.call:  # answers lost in the console's output: their outcome unknown
                c.selects.popleft()
        slot, k, what = c.selects.popleft()
        c.digits_of = k if what == "digits" and ev.call == slot else None
        if ev.call != slot:
            self._set(k, problem=f"pjsua would not select it for its {what} ({ev.reason}): they went to another call")

    def _answer_of(self, callee: str) -> int | None:
        try:
            return self.plan.agent(callee).agent.answer
        except (KeyError, AttributeError):
            return None

    def _set(self, k: int, **changes) -> None:
        with self._lock:
            self._records[k] = dataclasses.replace(self._records[k], **changes)
            self._changed[k] = None

    # -- the run ---------------------------------------------------------------
    def execute(self) -> None:
        before = name_this_thread("callgen-load")  # its CPU apart from the readers' (bench/bench_load.py)
        try:
            self._execute()
        finally:
            if before:
                name_this_thread(before)
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
                # O_APPEND: the load's prover appends each call's proven row to the same file (its last row wins)
                fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_NOFOLLOW, 0o644)
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
        for c in self.callers:
            c.seen = c.agent.mark()
            c.agent.add_listener(self._wake.set)
        unsubscribe = self.caller.cancel.subscribe(self._wake.set) if self.caller.cancel is not None else lambda: None
        try:
            for k in range(planned):
                if k % GC_FREEZE_EVERY == GC_FREEZE_EVERY - 1:
                    gc.freeze()  # the collector then scans only what is newer (see GC_FREEZE_EVERY)
                c = self._wait_turn(t0 + load.offset(k))
                self._place(k, c)
                if k == 0:  # the clock starts at the first INVITE (its CALLING line came): see _restart_clock
                    self._settle(c)
                    t0 = self._restart_clock(t0)
                self._note_placed()
                self._report(k + 1, t0)
            self._wait_all_ended()
        finally:
            gc.unfreeze()  # back in the oldest generation: collected as usual once the run is judged
            unsubscribe()
            for c in self.callers:
                c.agent.remove_listener(self._wake.set)
        self._report(planned, t0, final=True)

    def _restart_clock(self, t0: float) -> float:
        """The rate's clock from the moment the first call's INVITE had left (its CALLING line was read), not
        from before its 'm': the calls placed per second are counted from the first INVITE in the capture,
        and a later call that pjsua sent a fraction of a millisecond quicker than the first one was counted
        in the second before its own (49 calls in that second, 51 in the next: every whole second's first
        call sits on the boundary)."""
        return max(t0, time.monotonic() - self.load.offset(0))

    def _free_caller(self) -> _Caller | None:
        """The next caller process in turn that is free to place a call (its last call's first line read, room
        for one more), or None: placing never waits on one pjsua slow to print a CALLING line while another is
        free (at 50 cps over two processes each has 40 ms per call; one 100 ms CALLING line of one process held
        the next calls of both, and the second lost a call to the next)."""
        n = len(self.callers)
        for i in range(n):
            c = self.callers[(self._turn + i) % n]
            if c.pending is None and len(c.active) < c.cap:
                self._turn = (self._turn + i + 1) % n
                return c
        return None

    def _wait_turn(self, due: float) -> _Caller:
        """Until the call is due, a slot is free (max_concurrent) and a caller process is free to place it
        (``_free_caller``), folding events meanwhile; that process."""
        while True:
            self._consume()
            self._check_alive()
            self._run_due_actions()
            for c in self.callers:
                self._progress(c)
            now = time.monotonic()
            if now >= due and self._active + self._pending() < self.load.max_concurrent:
                c = self._free_caller()
                if c is not None:
                    return c
            wait = max(0.001, due - now) if now < due else min([0.5] + [
                max(0.001, c.pending.give_up - now) for c in self.callers if c.pending is not None])
            wait = min(wait, self._next_action_in())
            self._await_event(min(wait, self.deadline.bound(wait, "the next load call")))

    def _next_action_in(self) -> float:
        """Seconds until the next digits or hang-up is due (0.5 when none is)."""
        return max(0.001, self._actions[0][0] - time.time()) if self._actions else 0.5

    def _check_alive(self) -> None:
        """A pjsua of the load that died ends the run: what follows would only measure its absence."""
        dead = [name for name, a in self.agents.items() if a.died]
        if dead:
            death = self.agents[dead[0]].death()
            raise InfrastructureError(f"agent {dead[0]}: pjsua died during the load, after {len(self._records)} calls"
                                      + (f" ({death})" if death else ""))
        self._check_health()

    def _check_health(self) -> None:
        """The load's capture prover fell behind (or failed): the run stops, naming the capture."""
        why = self.health() if self.health is not None else None
        if why:
            raise InfrastructureError(f"{why} (the load stopped after {len(self._records)} calls)")

    def _await_event(self, timeout: float) -> None:
        """Until any caller process reads a new line, or ``timeout``: the readers set the wake event (cleared
        before the next fold, so a line read meanwhile is folded, not missed)."""
        cancel = self.caller.cancel
        if cancel is not None and cancel.is_set():
            raise Interrupted("cancelled during the load")
        self._check_alive()
        if any(c.agent.mark() > c.seen for c in self.callers):
            return
        self._wake.wait(timeout)
        self._wake.clear()

    def _callee_uri(self, k: int) -> tuple[str, str]:
        """(callee agent, the URI call ``k`` dials): the callee's processes in turn."""
        procs = self.plan.processes(self.load.callee(k))
        target = procs[load_callee_process(self.load, self.load.number(k), len(procs))]
        uri = self._uris.setdefault(target.name, target.contact_uri)  # one string for all its calls' records
        return procs[0].name, uri

    def _place(self, k: int, c: _Caller) -> None:
        """Hand call ``k`` to its caller process without waiting for its first line (``_fold_placed`` reads
        it): placing is never held up by a pjsua that is slow to print a CALLING line, and the next call,
        on the next process, leaves on time.  ``c`` is free (``_free_caller``): a process gets its next 'm'
        only once its previous one has its first line, so each process's INVITEs leave in its placing order
        (the verdict's pairing)."""
        load = self.load
        callee, uri = self._callee_uri(k)
        with self._lock:
            self._records.append(LoadCallRecord(load.number(k), callee, uri, load.digits(k) if load.dtmf else "",
                                                time.time(), None, hold_s=load.hold(k), caller=c.name))
            self._changed[len(self._records) - 1] = None
        give_up = time.monotonic() + self.deadline.bound(PLACE_TIMEOUT_S, f"placing load call {k}")
        c.pending = _Pending(k, uri, c.agent.mark(), give_up)
        self._send_call(c, k, uri)

    def _send_call(self, c: _Caller, k: int, uri: str) -> None:
        """'m' (its headers first, menu 'k': patch 0001, for the next call only)."""
        for name, value in self.load.call_headers(k):
            c.agent.send(pp.CMD_NEXT_CALL_HEADER, f"{name}: {value}")
        c.agent.send(pp.CMD_MAKE_CALL, uri)

    def _fold_placed(self, c: _Caller, ev: AgentEvent) -> None:
        """The pending call's first line: CALLING (only the call just made prints it) gives its slot, or
        pjsua's reason.  pjsua frees a call's slot a moment after it prints its DISCONNECTED, so at its
        --max-calls it may still refuse a call as one too many: that call is sent again as soon as another
        call of the process has ended (``_settle``, bounded by PLACE_TIMEOUT_S)."""
        pend = c.pending
        if ev.kind is EventKind.CALL_ERROR and pp.TOO_MANY_CALLS.search(ev.reason):
            pend.refused_at = c.ended
            return
        c.pending = None
        if ev.kind is EventKind.CALL_ERROR:
            self._set(pend.k, problem=f"pjsua could not place it: {ev.reason}")
            self._journal_row(pend.k)
            return
        c.active[ev.call] = pend.k
        self._active += 1
        self._set(pend.k, pjsua_call=ev.call)

    def _settle(self, c: _Caller) -> None:
        """Until process ``c``'s pending call has its first line (sent again when it was refused as one too
        many and another call of the process has ended meanwhile), or its time to start is up; the due
        digits and hang-ups go on meanwhile (at pjsua's --max-calls they are what frees a slot)."""
        while c.pending is not None:
            self._consume()
            self._run_due_actions()
            self._progress(c)
            if c.pending is not None:
                self._await_event(min(max(0.0, c.pending.give_up - time.monotonic()), self._next_action_in()))

    def _progress(self, c: _Caller) -> None:
        """Process ``c``'s pending call, without waiting: sent again once a call of the process ended after
        it was refused as one too many; given up (named in its record) once its time to start is up."""
        pend = c.pending
        if pend is None:
            return
        if pend.refused_at is not None and c.ended > pend.refused_at:
            pend.refused_at, pend.tried = None, c.agent.mark()
            self._send_call(c, pend.k, pend.uri)
            return
        if pend.give_up - time.monotonic() <= 0:
            c.pending = None
            what = "one too many" if pend.refused_at is not None else "no CALLING line"
            self._set(pend.k, problem=f"agent {c.name}: timed out after {PLACE_TIMEOUT_S:g} s waiting for load "
                                      f"call {pend.k} to start ({what})")
            self._journal_row(pend.k)

    def _pending(self) -> int:
        return sum(c.pending is not None for c in self.callers)

    def _wait_all_ended(self) -> None:
        """Until every call has been hung up after its hold (callgen's actions); bounded by the deadline."""
        for c in self.callers:
            self._settle(c)
        end = time.monotonic() + self.load.hold_s + 10.0
        while True:
            self._consume()
            self._check_health()
            self._run_due_actions()
            left = min(end - time.monotonic(), self.deadline.left())
            if not self._active or left <= 0:
                return
            self._await_event(min(left, self._next_action_in()))

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
        self.progress(f"placed {placed}/{self.load.planned()}  active {self._active}  answered {self._answered}  "
                      f"{as_set}failed {self._failed}  {self._rate(placed)}" + ("\n" if final else ""))
