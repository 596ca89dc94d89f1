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

``ProverProcess`` runs the prover in a process of its own (``python -m callgen.verdict.loadprover``,
niced, named ``callgen-prover``): files in, rows out.  As a thread it shared Python's lock with the
load's placing loop (47-48 calls placed in the slowest seconds at 50 cps); in a process it takes
nothing from placing, its CPU is its own line in ``top``, and the kernel lets pjsua go first.  The
load hands it only the calls placed or changed since the last look; proven rows go to calls.jsonl
and to a spill file read back once at the end, so neither process keeps a row per call while the
load runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from callgen import spawn
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
from callgen.verdict.mediaindex import Window

#: a call is proven once the analysed capture reaches this far past its end (its last RTP packets)
GRACE_S = 2.0
#: ... or this far past it when its BYE is not answered yet (a retransmitted BYE)
LATE_S = 10.0
#: how often the prover looks for a closed file and hands over the calls that changed
POLL_S = 0.2
#: the prover's process: its name where the OS shows it, and how much it gives way to pjsua and the load
PROCESS_NAME, NICE = "callgen-prover", 10


@dataclass(frozen=True)
class _Sender:
    """The caller's SIP address, as ``sent_by`` reads it from an agent's evidence."""

    address: str
    sip_port: int


class _ScanMedia:
    """``MediaLookup`` over the rolling scan: what one call (or one callee leg) reads, each destination and
    window looked up once, keeping the keys of the streams it handed out (taken with the call)."""

    def __init__(self, scan: RollingScan):
        self.scan = scan
        self.keys: list[tuple] = []
        self._seen: dict[tuple, CallMedia] = {}

    def _media(self, dst: Collection[str], window: Window) -> CallMedia:
        at = (frozenset(dst), window)
        if at not in self._seen:
            self._seen[at], keys = self.scan.media(set(dst), window)
            self.keys += keys
        return self._seen[at]

    def flow(self, dst: Collection[str], window: Window, src: Collection[str] | None = None) -> list[RtpStream]:
        return [st for st in self._media(dst, window).streams if src is None or st.src in src]

    def digits(self, dst: Collection[str], window: Window, src: Collection[str] | None = None) -> str:
        return "".join(e.digit for e in self._media(dst, window).dtmf if src is None or e.src in src)

    def clear(self) -> None:
        """For the next call: nothing handed out yet."""
        self.keys, self._seen = [], {}


class _Rows:
    """The rows proven so far: in memory, or (``spill``) pickled to a file as they come and read back once
    at the end - a soak of 20,000 calls must not keep 20,000 rows while it runs."""

    def __init__(self, spill: Path | None = None):
        self.spill = spill
        self._mem: dict[int, LoadCallRow] = {}
        self._done = bytearray()  #: 1 at each call's position that has its row
        self._out = None

    def add(self, k: int, row: LoadCallRow) -> None:
        if len(self._done) <= k:
            self._done.extend(bytes(k + 1 - len(self._done)))
        self._done[k] = 1
        if self.spill is None:
            self._mem[k] = row
            return
        if self._out is None:
            fd = os.open(self.spill, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
            self._out = os.fdopen(fd, "wb")
        pickle.dump((k, row), self._out, protocol=pickle.HIGHEST_PROTOCOL)

    def __contains__(self, k: int) -> bool:
        return k < len(self._done) and self._done[k] == 1

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def all(self) -> dict[int, LoadCallRow]:
        if self.spill is None:
            return dict(self._mem)
        if self._out is not None:
            self._out.flush()
        return read_spill(self.spill)


def read_spill(path: Path) -> dict[int, LoadCallRow]:
    """The rows a prover spilled (position -> row; the last of a position wins; a cut last row is dropped:
    its process was killed while writing it, and the call is named unproven)."""
    rows: dict[int, LoadCallRow] = {}
    try:
        with open(path, "rb") as f:
            while True:
                try:
                    k, row = pickle.load(f)  # noqa: S301 (callgen's own file, written by its prover this run)
                except EOFError:
                    break
                except (pickle.UnpicklingError, ValueError, AttributeError, TypeError):
                    break
                rows[k] = row
    except FileNotFoundError:
        pass
    return rows


class LoadProver:
    """Proves a load's calls file by file: ``feed`` each closed file, ``step`` with the records so far."""

    def __init__(self, scenario: Scenario, caller: _Sender, journal: Path | None = None,
                 agents: dict[str, _Sender] | None = None, spill: Path | None = None):
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
        self._rows = _Rows(spill)
        self._out = None
        #: through a SUT each call's callee leg too (``loadlegs``): from every agent's SIP address
        senders = dict(agents or {}) | {self.load.caller: caller}
        self._callers = {p: senders[p] for p in process_names(self.load.caller, senders)}
        self._legs = _ScanMedia(self.scan)
        self.through = LoadThroughSut.for_addresses(
            scenario, agent_addresses(caller.address, caller.sip_port),
            {name: agent_addresses(a.address, a.sip_port) for name, a in senders.items()}, self._legs, self.scan.dialog)

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

    def step(self, records: Sequence[LoadCallRecord | None], *, final: bool = False) -> list[int]:
        """Give the next calls their dialogs; prove those that are over.  The positions proven (the caller may
        forget their records: a proven call's record is never read again)."""
        while self._next < len(records):
            rec = records[self._next]
            if rec is None or rec.pjsua_call is None:
                if not (rec is not None and rec.problem or final):
                    break  # being placed
                self._waiting[self._next] = None
            elif queue := self._queues.get(rec.caller or self.load.caller):
                self._waiting[self._next] = queue.popleft()
            elif final:
                self._waiting[self._next] = None
            else:
                break  # its INVITE is in a file not analysed yet
            self._next += 1
        proven = []
        for k in sorted(self._waiting):
            rec = records[k]
            if rec is not None and (final or self._over(rec, self._waiting[k])):
                self._prove(rec, k, self._waiting.pop(k))
                proven.append(k)
        if self.scan.until is not None:
            self.scan.drop_idle(self.scan.until - self.load.hold_s - 60.0)
        return proven

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
        index = _ScanMedia(self.scan)
        d = self.scan.dialog(call_id) if call_id is not None else None
        relayed = self.through.relayed(d, rec.callee)
        row = _row(rec, self.through.near(d, rec.callee), index, self.scenario)
        if relayed:
            self.through.far.add_dialog(d)  # a SUT that kept the Call-ID: the callee's leg is in this dialog
            self._legs.clear()
            row = self.through.prove_row(rec, d, row)
            far = next((g for g in row.legs if g.role == CALLEE and g.call_id), None)
            if far is not None and far.call_id != call_id:
                self.scan.take(far.call_id, self._legs.keys)
            else:
                index.keys += self._legs.keys
        if call_id is not None:
            self.scan.take(call_id, index.keys)
        self._add(k, row)

    def _add(self, k: int, row: LoadCallRow) -> None:
        self._rows.add(k, row)
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

    def settle(self, records: Sequence[LoadCallRecord | None], why: str) -> None:
        """The end: a call the prover never came to gets its row, named unproven with ``why``."""
        for k, rec in enumerate(records):
            if rec is not None and k not in self._rows:
                self._add(k, dataclasses.replace(_row(rec, None, None, self.scenario), why=(why,)))
        self._rows.close()
        if self._out is not None:
            self._out.close()
            self._out = None

    def has_row(self, k: int) -> bool:
        """Call ``k`` is proven (or named unproven) already."""
        return k in self._rows

    def rows(self) -> tuple[LoadCallRow, ...]:
        rows = self._rows.all()
        return tuple(rows[k] for k in sorted(rows))

    def residual(self, source: str) -> CaptureAnalysis:
        """The capture without the proven calls: registrations and other dialogs, every packet counted."""
        return self.scan.residual(source)


# -- the prover in a process of its own -----------------------------------------------------------
@dataclass(frozen=True)
class _Init:
    """What the prover's process is built from (sent as its first message)."""

    scenario: Scenario
    caller: _Sender
    journal: Path | None
    agents: dict[str, _Sender]
    spill: Path


@dataclass(frozen=True)
class _Work:
    """One message to the prover's process: the files closed and the calls placed or changed since the last."""

    files: tuple[str, ...]
    changes: tuple[tuple[int, LoadCallRecord], ...]
    final: bool = False  #: the capture stopped: prove every call now
    first: str = ""  #: (final) the capture's first file: the residual analysis's source
    why: str = ""  #: (final) why calls not proven would be so, from callgen's side (the prover fell behind)


@dataclass(frozen=True)
class _Done:
    residual: CaptureAnalysis
    streams_counted: int
    dtmf_counted: int
    files: int


class _Served:
    """The prover's side of the pipe: applies each ``_Work`` and answers ``released``, ``problem``, ``_Done``."""

    def __init__(self, conn: Connection, init: _Init):
        self.conn = conn
        self.prover = LoadProver(init.scenario, init.caller, init.journal, init.agents, spill=init.spill)
        self.records: list[LoadCallRecord | None] = []  #: by position; None once proven (never read again)
        self.problem = ""

    def apply(self, work: _Work) -> bool:
        """True once the final work is done."""
        for k, rec in work.changes:
            if k >= len(self.records):
                self.records.extend([None] * (k + 1 - len(self.records)))
            if not self.prover.has_row(k):
                self.records[k] = rec
        for name in work.files:
            if not self.problem:
                try:
                    self.prover.feed(Path(name))
                except (CallgenError, OSError) as exc:
                    self.problem = f"capture {Path(name).name} cannot be analysed: {exc}"
                    self.conn.send(("problem", self.problem))
            self.conn.send(("released", name))  # analysed, or never to be: it may go when the disk needs it
        if self.problem and not work.final:
            return False
        if not self.problem:
            for k in self.prover.step(self.records, final=work.final):
                self.records[k] = None
        if not work.final:
            return False
        self.prover.settle(self.records, self.problem or work.why or "the capture prover did not finish in time")
        scan = self.prover.scan
        self.conn.send(_Done(self.prover.residual(work.first), scan.streams_counted, scan.dtmf_counted, scan.files))
        return True


def _serve(fd: int) -> int:
    """The prover's process: work messages until the final one, or until callgen is gone (the pipe closes)."""
    name_this_thread(PROCESS_NAME)
    try:
        os.nice(NICE)
    except OSError:
        pass
    conn = Connection(fd)
    try:
        served = _Served(conn, conn.recv())
        while not served.apply(conn.recv()):
            pass
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return 1  # callgen is gone: nothing to prove for
    finally:
        conn.close()
    return 0


class ProverProcess:
    """A load's ``CaptureProver``: ``LoadProver`` in a process of its own; a thread here hands it the closed
    files and the calls that changed, releases the files it analysed and watches the disk limit."""

    #: the module the process runs (``-m``; its argument is the pipe's descriptor): a test gives one that wraps it
    module = __name__

    def __init__(self, init: _Init):
        self.init = init
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._problem: str | None = None
        self._files: CaptureFiles | None = None
        self._changes: Callable[[], list[tuple[int, LoadCallRecord]]] | None = None
        self._done: _Done | None = None
        self._rows: dict[int, LoadCallRow] | None = None
        self.stderr_path = init.spill.with_name("load-prover.log")

    @classmethod
    def for_plan(cls, plan: RunPlan) -> ProverProcess:
        """The prover of a run: the bound scenario, its caller's SIP address, the run folder's calls.jsonl."""
        ap = plan.agent(plan.scenario.load.caller)
        agents = {a.name: _Sender(a.agent.address, a.sip_port) for a in plan.agents}
        return cls(_Init(plan.scenario, _Sender(ap.agent.address, ap.sip_port), plan.run_dir / "calls.jsonl", agents,
                         plan.run_dir / ".load-rows.pickle"))

    def start(self, files: CaptureFiles, changes: Callable[[], list[tuple[int, LoadCallRecord]]]) -> None:
        self._files, self._changes = files, changes
        ours, theirs = socket.socketpair()
        for sock in (ours, theirs):  # a burst of changed calls while the prover reads a big file never blocks us
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        package_root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
        with theirs, open(self.stderr_path, "wb") as err:
            self._proc = spawn.popen([sys.executable, "-m", self.module, str(theirs.fileno())], pass_fds=(theirs.fileno(),),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env)
        self._conn = Connection(ours.detach())
        self._conn.send(self.init)
        self._thread = threading.Thread(target=self._loop, name="load-prover", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        name_this_thread("load-prover")
        while not self._stop.wait(POLL_S):
            if not self._exchange():
                return

    def _receive(self, timeout: float = 0.0) -> None:
        """Take what the prover's process said (waiting up to ``timeout`` for the first word)."""
        while self._done is None and self._conn.poll(timeout):
            timeout = 0.0
            msg = self._conn.recv()
            if isinstance(msg, _Done):
                self._done = msg  # its last word: the pipe closes after it
            elif msg[0] == "released":
                self._files.released(Path(msg[1]))
            elif msg[0] == "problem":
                self._problem = self._problem or msg[1]

    def _dead(self) -> str | None:
        status = self._proc.poll()
        if status is None:
            return None
        how = f"killed by signal {-status}" if status < 0 else f"exit status {status}"
        return f"callgen's capture prover (pid {self._proc.pid}) died during the run ({how}; see {self.stderr_path.name})"

    def _exchange(self) -> bool:
        """One look: its words, the new files and changed calls to it, the disk limit; False once it failed."""
        try:
            self._receive()
            if self._problem is None and (dead := self._dead()):
                self._problem = dead
            if self._problem is not None:
                return False
            files, changes = self._files.closed(), self._changes()
            if files or changes:
                self._conn.send(_Work(tuple(str(f) for f in files), tuple(changes)))
        except (OSError, EOFError) as exc:
            self._problem = self._dead() or f"callgen's capture prover cannot be reached: {exc}"
            return False
        if behind := self._files.behind():
            self._problem = behind
            return False
        return True

    def problem(self) -> str | None:
        return self._problem

    def finish(self, records: Sequence[LoadCallRecord], timeout: float) -> None:
        """The capture has stopped: the remaining files, then every call (also when the prover fell behind:
        no file was deleted unread, so the rows are still whole)."""
        give_up = time.monotonic() + timeout
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            if self._proc is not None and self._dead() is None and not (self._thread and self._thread.is_alive()):
                self._final(give_up)
        finally:
            self._end_process()
        if self._done is None:
            self._problem = self._problem or self._dead() or "the capture prover did not finish in time"
        rows = read_spill(self.init.spill)
        self.init.spill.unlink(missing_ok=True)
        for k, rec in enumerate(records):  # a call the prover never came to is named with the reason
            if k not in rows:
                rows[k] = dataclasses.replace(_row(rec, None, None, self.init.scenario), why=(self._problem or "not proven",))
        self._rows = rows

    def _final(self, give_up: float) -> None:
        files = self._files
        files.stopped()
        behind = self._problem if self._problem and "fell behind" in self._problem else ""
        try:
            self._receive()
            self._conn.send(_Work(tuple(str(f) for f in files.closed()), tuple(self._changes()), final=True,
                                  first=str(files.first), why=behind))
            while self._done is None and (left := give_up - time.monotonic()) > 0:
                if self._conn.poll(min(left, 1.0)):
                    self._receive()
                elif self._dead():
                    break
        except (OSError, EOFError) as exc:
            self._problem = self._problem or self._dead() or f"callgen's capture prover cannot be reached: {exc}"

    def _end_process(self) -> None:
        """The prover's process ends with the pipe closed; one that does not is killed (no child outlives a run)."""
        if self._conn is not None:
            self._conn.close()
        proc = self._proc
        if proc is None:
            return
        try:
            proc.wait(5.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5.0)
        spawn.reaped(proc)

    # -- what the verdict reads --------------------------------------------------
    def rows(self) -> tuple[LoadCallRow, ...]:
        rows = self._rows or {}
        return tuple(rows[k] for k in sorted(rows))

    def residual(self) -> CaptureAnalysis:
        """The capture without the proven calls: registrations and other dialogs, every packet counted."""
        if self._done is not None:
            return self._done.residual
        return RollingScan().residual(str(self._files.first if self._files is not None else ""))

    @property
    def streams_counted(self) -> int:
        return self._done.streams_counted if self._done is not None else 0

    @property
    def dtmf_counted(self) -> int:
        return self._done.dtmf_counted if self._done is not None else 0

    @property
    def files_analysed(self) -> int:
        return self._done.files if self._done is not None else 0

    @property
    def max_on_disk_mb(self) -> float | None:
        return None if self._files is None else self._files.max_on_disk / 1e6


if __name__ == "__main__":  # run as ``-m``: serve from the module by its own name, so what it pickles unpickles here
    from callgen.verdict import loadprover

    sys.exit(loadprover._serve(int(sys.argv[1])))
