"""A load's calls proven from its capture files while the run goes on.

The runner captures a load into bounded files (``callgen.run.ring``); ``LoadProver`` takes
each closed file in order and analyses it with the state of the files before it carried
over (``callgen.analysis.rolling``): a call of 12 s whose INVITE is in one file and its BYE
three files later is one dialog with one stream each way.  The k-th INVITE dialog the
caller sent is the k-th call it placed (as in ``load_rows``).  A call is proven by the same
rules as ``load_rows`` (``callgen.verdict.load._row``: final code, ACK, BYE answered,
RTP both ways to its SDP addresses within its INVITE..BYE, its own digits, its drawn hold,
its headers) once pjsua has seen it end and the analysed files reach ``GRACE_S`` past that
end with its BYE answered (or ``LATE_S`` past it without); its row is appended to
calls.jsonl, and its dialog and streams are forgotten.  What the verdict needs at the end
are the rows and a small ``residual`` analysis (registrations, packet counts): memory holds
only the calls in flight, never the whole capture.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from callgen.analysis import CaptureAnalysis, RtpStream
from callgen.analysis.rolling import CallMedia, RollingScan
from callgen.errors import CallgenError
from callgen.pjsua.driver import name_this_thread
from callgen.run.evidence import LoadCallRecord
from callgen.run.plan import RunPlan, process_names
from callgen.run.ring import CaptureFiles
from callgen.scenario.model import Scenario
from callgen.verdict.legs import CALLEE, agent_addresses
from callgen.verdict.load import LoadCallRow, _row
from callgen.verdict.loadlegs import LoadThroughSut
from callgen.verdict.media import first_invite, sent_by

#: a call is proven once the analysed capture reaches this far past its end (its last RTP packets)
GRACE_S = 2.0
#: ... or this far past it when its BYE is not answered yet (a retransmitted BYE)
LATE_S = 10.0
#: how often the prover looks for a closed file
POLL_S = 0.2
#: while the load runs the prover works at most WORK_S at a stretch, then rests REST_S: a thread that held
#: Python's lock through whole files stalled the placing of calls (soak at 40 cps, files of 25 MB: seconds
#: of 2-12 calls placed, every 7 s, as each file was analysed).  Paced so, it analyses ~48,000 packets/s
#: (the soak needs 16,000); with more than one closed file waiting it does not rest.
WORK_S, REST_S = 0.005, 0.015


class _Pacer:
    """Gives way to the load's own threads: after WORK_S of work, a rest of REST_S (only in the prover's thread)."""

    def __init__(self) -> None:
        self.since = time.monotonic()
        self.hurry = False  #: files are waiting: no rest

    def __call__(self) -> None:
        if not self.hurry and time.monotonic() - self.since >= WORK_S:
            time.sleep(REST_S)
            self.since = time.monotonic()


@dataclass(frozen=True)
class _Sender:
    """The caller's SIP address, as ``sent_by`` reads it from an agent's evidence."""

    address: str
    sip_port: int


class _CallIndex:
    """The scan's streams and digits for one call, in the shape ``_row`` asks for (``_StreamIndex``'s)."""

    def __init__(self, scan: RollingScan):
        self.scan = scan
        self.keys: list[tuple] = []
        self._seen: dict[tuple, CallMedia] = {}

    def _media(self, dsts: set[str], window: tuple[float, float]) -> CallMedia:
        at = (frozenset(dsts), window)
        if at not in self._seen:
            self._seen[at], keys = self.scan.media(dsts, window)
            self.keys += keys
        return self._seen[at]

    def streams(self, dsts: set[str], window: tuple[float, float]) -> list[RtpStream]:
        return list(self._media(dsts, window).streams)

    def digits(self, dsts: set[str], window: tuple[float, float]) -> str:
        return "".join(e.digit for e in self._media(dsts, window).dtmf)


class _LegMedia:
    """The scan's streams and digits by 5-tuple, in the shape the callee leg's proof asks for
    (``loadlegs.LegMedia``'s), keeping the keys of what it handed out (taken with the call)."""

    def __init__(self, scan: RollingScan):
        self.scan = scan
        self.keys: list[tuple] = []

    def _media(self, dst: frozenset[str], window: tuple[float, float]) -> CallMedia:
        media, keys = self.scan.media(set(dst), window)
        self.keys += keys
        return media

    def flow(self, src: frozenset[str], dst: frozenset[str], window: tuple[float, float]) -> list[RtpStream]:
        return [st for st in self._media(dst, window).streams if st.src in src]

    def digits(self, src: frozenset[str], dst: frozenset[str], window: tuple[float, float]) -> str:
        return "".join(e.digit for e in self._media(dst, window).dtmf if e.src in src)


class LoadProver:
    """Proves a load's calls file by file (``feed`` and ``step``; ``start`` runs them in a thread)."""

    def __init__(self, scenario: Scenario, caller: _Sender, journal: Path | None = None,
                 agents: dict[str, _Sender] | None = None):
        self.scenario = scenario
        self.load = scenario.load
        self.caller = caller
        self.caller_agent = scenario.agent(self.load.caller)
        self.journal = journal
        self.scan = RollingScan()
        #: each caller process's dialogs not yet given to a call, in INVITE order (a load's caller may run as
        #: several pjsua processes, each its own SIP port: the k-th dialog of a process is its k-th call)
        self._queues: dict[str, deque[str]] = {}
        self._next = 0  #: the next record to give a dialog
        self._waiting: dict[int, str | None] = {}  #: record -> its Call-ID (None: no dialog), not proven yet
        self._rows: dict[int, LoadCallRow] = {}
        self._problem: str | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._files: CaptureFiles | None = None
        self._out = None
        self._pace: _Pacer | None = None
        #: through a SUT each call's callee leg too (``loadlegs``): from every agent's SIP address
        senders = dict(agents or {}) | {self.load.caller: caller}
        self._callers = {p: senders[p] for p in process_names(self.load.caller, senders)}
        self._legs = _LegMedia(self.scan)
        self.through = LoadThroughSut.for_addresses(
            scenario, agent_addresses(caller.address, caller.sip_port),
            {name: agent_addresses(a.address, a.sip_port) for name, a in senders.items()}, self._legs, self.scan.dialog)

    @classmethod
    def for_plan(cls, plan: RunPlan) -> LoadProver:
        """The prover of a run: the bound scenario, its caller's SIP address, the run folder's calls.jsonl."""
        ap = plan.agent(plan.scenario.load.caller)
        agents = {a.name: _Sender(a.agent.address, a.sip_port) for a in plan.agents}
        return cls(plan.scenario, _Sender(ap.agent.address, ap.sip_port), plan.run_dir / "calls.jsonl", agents)

    # -- file by file ------------------------------------------------------------
    def feed(self, path: Path) -> None:
        self.scan.feed(path)
        batch = []
        for call_id in self.scan.new_dialogs():
            d = self.scan.dialog(call_id)
            inv = first_invite(d) if d is not None else None
            pname = next((p for p, s in self._callers.items() if sent_by(inv, s, self.caller_agent)), None) if inv else None
            if pname is not None:
                batch.append((inv.time, pname, call_id))
            elif d is not None:
                self.through.far.add_dialog(d)  # a callee's leg through a SUT, joined to its call when proven
        for _, pname, call_id in sorted(batch):  # in INVITE order, as load_rows sorts them
            self._queues.setdefault(pname, deque()).append(call_id)

    def step(self, records: Sequence[LoadCallRecord], *, final: bool = False) -> None:
        """Give the next calls their dialogs; prove those that are over."""
        while self._next < len(records):
            rec = records[self._next]
            if rec.pjsua_call is None:
                if not (rec.problem or final):
                    break  # being placed
                self._waiting[self._next] = None
            elif queue := self._queues.get(rec.caller or self.load.caller):
                self._waiting[self._next] = queue.popleft()
            elif final:
                self._waiting[self._next] = None
            else:
                break  # its INVITE is in a file not analysed yet
            self._next += 1
        for k in sorted(self._waiting):
            if final or self._over(records[k], self._waiting[k]):
                self._prove(records[k], k, self._waiting.pop(k))
            if self._pace is not None:
                self._pace()
        if self.scan.until is not None:
            self.scan.drop_idle(self.scan.until - self.load.hold_s - 60.0)

    def _over(self, rec: LoadCallRecord, call_id: str | None) -> bool:
        """pjsua saw the call end, and the analysed capture reaches past that end."""
        if call_id is None:
            return True
        until = self.scan.until
        if rec.ended is None or until is None or until < rec.ended + GRACE_S:
            return False
        if until >= rec.ended + LATE_S:
            return True
        d = self.scan.dialog(call_id)
        return d is not None and (any(m.status == 200 and m.cseq_method == "BYE" for m in d.messages)
                                  or (d.final_code is not None and d.final_code >= 300))

    def _prove(self, rec: LoadCallRecord, k: int, call_id: str | None) -> None:
        index = _CallIndex(self.scan)
        d = self.scan.dialog(call_id) if call_id is not None else None
        relayed = self.through.relayed(d, rec.callee)
        row = _row(rec, self.through.near(d, rec.callee), index, self.scenario)
        if relayed:
            self.through.far.add_dialog(d)  # a SUT that kept the Call-ID: the callee's leg is in this dialog
            self._legs.keys = []
            row = self.through.prove_row(rec, d, row)
            far = next((g for g in row.legs if g.role == CALLEE and g.call_id), None)
            if far is not None and far.call_id != call_id:
                self.scan.take(far.call_id, self._legs.keys)
            else:
                index.keys += self._legs.keys
        if call_id is not None:
            self.scan.take(call_id, index.keys)
        with self._lock:
            self._rows[k] = row
        self._write(row)

    def _write(self, row: LoadCallRow) -> None:
        """Append the row to calls.jsonl, after the row of pjsua's view the load wrote when the call ended (the
        last row of a call is the one that counts; the verdict writes the file again, one row per call, at the end)."""
        if self.journal is None:
            return
        try:
            if self._out is None:
                fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
                self._out = os.fdopen(fd, "w", encoding="utf-8")
            self._out.write(json.dumps(row.to_json()) + "\n")
            self._out.flush()
        except OSError:
            self.journal = None

    # -- in a thread, while the run goes on ----------------------------------------
    def start(self, files: CaptureFiles, records: Callable[[], Sequence[LoadCallRecord]]) -> None:
        self._files = files
        self._thread = threading.Thread(target=self._loop, args=(files, records), name="load-prover", daemon=True)
        self._thread.start()

    def _loop(self, files: CaptureFiles, records: Callable[[], Sequence[LoadCallRecord]]) -> None:
        name_this_thread("load-prover")  # its CPU shown apart (top -H, bench_load's CPU by thread)
        self.scan.pace = self._pace = _Pacer()
        while not self._stop.is_set():
            if not self._cycle(files, records()):
                return
            self._stop.wait(POLL_S)

    def _cycle(self, files: CaptureFiles, records: Sequence[LoadCallRecord], final: bool = False) -> bool:
        """The closed files, then the calls; False once the prover failed (``problem`` says why)."""
        closed = files.closed()
        if self._pace is not None:
            self._pace.hurry = len(closed) > 1
        for path in closed:
            try:
                self.feed(path)
            except (CallgenError, OSError) as exc:
                self._problem = f"capture {path.name} cannot be analysed: {exc}"
                return False
            files.released(path)
        self.step(records, final=final)
        if not final and (behind := files.behind()):
            self._problem = behind
            return False
        return True

    def problem(self) -> str | None:
        return self._problem

    def finish(self, records: Sequence[LoadCallRecord], timeout: float) -> None:
        """The capture has stopped: the remaining files, then every call (also when the prover fell behind:
        no file was deleted unread, so the rows are still whole)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.scan.pace = self._pace = None  # the load is over: no more giving way
        files = self._files
        if files is not None and not (self._thread is not None and self._thread.is_alive()):
            files.stopped()
            behind = self._problem if self._problem and "fell behind" in self._problem else None
            if self._problem is None or behind:
                self._cycle(files, records, final=True)
                self._problem = self._problem or behind
        why = self._problem or "the capture prover did not finish in time"
        for k, rec in enumerate(records):  # a call the prover never came to is named with the reason
            if k not in self._rows:
                self._rows[k] = dataclasses.replace(_row(rec, None, None, self.scenario), why=(why,))
        if self._out is not None:
            self._out.close()
            self._out = None

    # -- what the verdict reads --------------------------------------------------
    def rows(self) -> tuple[LoadCallRow, ...]:
        with self._lock:
            return tuple(self._rows[k] for k in sorted(self._rows))

    def residual(self) -> CaptureAnalysis:
        """The capture without the proven calls: registrations and other dialogs, every packet counted."""
        return self.scan.residual(str(self._files.first if self._files is not None else ""))

    @property
    def max_on_disk_mb(self) -> float | None:
        return None if self._files is None else self._files.max_on_disk / 1e6
