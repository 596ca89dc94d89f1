"""One pjsua process under pexpect.

A reader thread drains pjsua's output continuously (so pjsua never blocks on a
full pty), writes it to the transcript and turns recognised lines
(``callgen.pjsua.patterns``) into events.  The caller of this class waits for
events with a timeout that names what was awaited.  Commands go in as menu
lines; ``barrier()`` proves pjsua has read everything sent so far.
Stopping: graceful ``q``, then SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import codecs
import enum
import os
import re
import select
import signal
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

import pexpect

from callgen import spawn
from callgen.cancel import CancelToken
from callgen.errors import AgentTimeout, InfrastructureError, Interrupted
from callgen.pjsua import patterns as pp

#: A pjsua bound to loopback for SIP and RTP, without a sound device (local peers, tests).
#: Without ``--ip-addr``/``--bound-addr`` pjsua advertises the host's external address for RTP.
LOOPBACK_ARGS = ("--ip-addr=127.0.0.1", "--bound-addr=127.0.0.1", "--null-audio")


def loopback_argv(pjsua: str | os.PathLike, *args: str) -> list[str]:
    """argv for ``PjsuaAgent``: ``pjsua`` with ``LOOPBACK_ARGS``, then ``args``."""
    return [os.fspath(pjsua), *LOOPBACK_ARGS, *args]


def name_this_thread(name: str) -> str:
    """Give the calling thread ``name`` where the OS shows it (``/proc/<pid>/task/<tid>/comm``, 15
    characters: what ``top -H`` and a benchmark's per-thread CPU show); return its name before ("" where
    it cannot be named).  Python's own thread names stay inside Python."""
    path = f"/proc/self/task/{threading.get_native_id()}/comm"
    try:
        with open(path, "r+", encoding="utf-8", errors="replace") as f:
            before = f.read().strip()
            f.seek(0)
            f.write(name[:15])
        return before
    except OSError:
        return ""


class EventKind(str, enum.Enum):
    READY = "ready"
    CALL_STATE = "call_state"
    DISCONNECTED = "disconnected"
    INCOMING = "incoming"
    DTMF = "dtmf"
    REG_OK = "reg_ok"
    REG_FAILED = "reg_failed"
    ECHO = "echo"
    MEDIA = "media"
    CALL_ERROR = "call_error"
    EXITED = "exited"
    DTMF_SENDING = "dtmf_sending"  #: an RFC 2833 digit started going out
    INFO_DTMF_RESULT = "info_dtmf_result"  #: the final response to a DTMF INFO (code 200 or the failure)
    DTMF_REFUSED = "dtmf_refused"  #: pjsua would not send the digits at all
    TRANSFER_STATUS = "transfer_status"  #: a NOTIFY about a transfer (state "final" for the last)
    UNREG_OK = "unreg_ok"  #: the registrar answered the un-REGISTER 2xx
    CALL_SELECTED = "call_selected"  #: the current call is now ``call`` (None: the one asked for is not active)
    CALL_REPLACED = "call_replaced"  #: an INVITE with Replaces took over ``call`` (``code``: the new call's id)


@dataclass(frozen=True)
class AgentEvent:
    kind: EventKind
    time: float  #: time.time() when the line was read
    call: int | None = None
    state: str = ""
    code: int | None = None
    reason: str = ""
    digit: str = ""
    method: str = ""
    line: str = ""


T = TypeVar("T")


class Kept(Generic[T]):
    """Everything appended, indexed by its absolute position, able to forget its middle: the first
    ``head`` items stay (start-up, registration), and once more than ``cap`` follow them the oldest
    half of those go (``cap=None``: nothing goes).  A load's agents keep their console lines and
    events so: a soak of 20,000 calls kept ~12 KB per call of them for the whole run (its RSS grew
    84 -> 333 MB) though the load folds each event as it comes.  Slices and ``len`` use absolute
    positions, so a ``since`` taken from ``len`` stays valid; what was forgotten is just not there."""

    def __init__(self, head: int = 2000, cap: int | None = None):
        self.head, self.cap = head, cap
        self._items: list[T] = []
        self.dropped = 0  #: items forgotten after the head

    def __len__(self) -> int:
        return len(self._items) + self.dropped

    def __iter__(self):
        return iter(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def append(self, item: T) -> None:
        self._items.append(item)
        self._trim()

    def extend(self, items) -> None:
        self._items.extend(items)
        self._trim()

    def _trim(self) -> None:
        if self.cap is None or len(self._items) - self.head <= self.cap:
            return
        gone = len(self._items) - self.head - self.cap // 2
        del self._items[self.head:self.head + gone]
        self.dropped += gone

    def _pos(self, i: int) -> int:
        """Absolute position -> index into what is kept (a forgotten position: the first kept one after it)."""
        if i < self.head:
            return i
        return max(self.head, i - self.dropped)

    def __getitem__(self, key):
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("Kept supports slices only")
        start, stop, _ = key.indices(len(self))
        return self._items[self._pos(start):self._pos(stop)] if start < stop else []


@dataclass
class _State:
    events: Kept[AgentEvent] = field(default_factory=Kept)
    lines: Kept[str] = field(default_factory=Kept)
    eof: bool = False
    died: bool = False  #: EOF came before callgen sent 'q'
    crash_signal: int | None = None  #: pjsua's own crash handler printed "Error: signal N:" (then exit 1)


#: where a pjsua log line ("10:51:06.733            pjsua_app.c ..."), the answer to menu 'g' or a call's state
#: line begins inside a console line (pjsua's threads glue lines, the later ones without their time stamps:
#: "...Call 96 state changed to CONNECTINGCall 96 state changed to CONFIRMEDCall 100 state changed to ...")
_LOG_LINE_START = re.compile(r"(?<=[^\d:.])(?=\d\d:\d\d:\d\d\.\d{3} )|(?<=.)(?=Current call id=|Call \S+ is not active"
                             r"|Call \d+ state changed to |Call \d+ is DISCONNECTED )")
#: text every line ``parse_line`` or the echo barrier turns into an event holds (one scan of a line in C
#: instead of every pattern: most console lines - call dumps, prompts - hold none of it)
_MAY_BE_EVENT = re.compile(r"Call |You have|Incoming|DTMF|registration|pjsua_call|Current call id|Media is not|"
                           r"No current call|echo callgen-sync")


#: pjsua's main.c sets a handler for SIGSEGV and SIGABRT that prints this, a backtrace, and exits 1
_CRASH = re.compile(r"Error: signal (\d+):")
#: the last console lines looked at for it once pjsua died
CRASH_LINES = 200


def crash_signal(lines: list[str]) -> int | None:
    """The signal pjsua's crash handler named in ``lines`` (the last such line), or None."""
    found = [m for line in lines if (m := _CRASH.search(line))]
    return int(found[-1][1]) if found else None


def signal_name(sig: int) -> str:
    """``signal 11 (SIGSEGV)``, or ``signal N`` for one Python does not name."""
    try:
        return f"signal {sig} ({signal.Signals(sig).name})"
    except ValueError:
        return f"signal {sig}"


def parse_line(line: str, now: float) -> AgentEvent | None:
    """Turn one console line into an event, or None."""
    if m := pp.CALL_STATE.search(line):
        return AgentEvent(EventKind.CALL_STATE, now, int(m[1]), m[2], int(m[3]) if m[3] else None, m[4] or "", line=line)
    if m := pp.DISCONNECTED.search(line):
        return AgentEvent(EventKind.DISCONNECTED, now, int(m[1]), pp.STATE_DISCONNECTED, int(m[2]), m[3], line=line)
    if m := pp.MEDIA_STATE.search(line):
        return AgentEvent(EventKind.MEDIA, now, int(m[1]), state=m[4].strip(), reason=m[3], line=line)
    if m := pp.DTMF.search(line):
        return AgentEvent(EventKind.DTMF, now, int(m[1]), digit=m[2].upper(), method=(m[4] or "RFC2833"), line=line)
    if m := pp.DTMF_SENDING.search(line):
        return AgentEvent(EventKind.DTMF_SENDING, now, digit=m[1].upper(), line=line)
    if m := pp.INFO_DTMF_OK.search(line):
        return AgentEvent(EventKind.INFO_DTMF_RESULT, now, int(m[1]), code=200, reason="OK", line=line)
    if m := pp.INFO_DTMF_FAILED.search(line):
        return AgentEvent(EventKind.INFO_DTMF_RESULT, now, int(m[1]), code=int(m[2]), reason=m[3], line=line)
    if m := pp.DTMF_REFUSED.search(line):
        return AgentEvent(EventKind.DTMF_REFUSED, now, reason=m[1].strip(), line=line)
    if m := pp.CALL_ERROR.search(line):
        return AgentEvent(EventKind.CALL_ERROR, now, reason=m[1].strip(), line=line)
    if m := pp.INCOMING.search(line):
        return AgentEvent(EventKind.INCOMING, now, line=line)
    if m := pp.TRANSFER_STATUS.search(line):
        return AgentEvent(EventKind.TRANSFER_STATUS, now, int(m[1]), "final" if m[4] else "", int(m[2]), m[3], line=line)
    if m := pp.CALL_REPLACED.search(line):
        return AgentEvent(EventKind.CALL_REPLACED, now, int(m[1]), code=int(m[3]), reason=m[4], line=line)
    if pp.UNREG_SUCCESS.search(line):
        return AgentEvent(EventKind.UNREG_OK, now, line=line)
    if m := pp.REG_SUCCESS.search(line):
        return AgentEvent(EventKind.REG_OK, now, code=int(m[1]), reason=m[2], line=line)
    if m := pp.REG_FAILED.search(line):
        return AgentEvent(EventKind.REG_FAILED, now, code=int(m[1]), reason=m[2], line=line)
    if pp.READY.search(line):
        return AgentEvent(EventKind.READY, now, line=line)
    if m := pp.CALL_SELECTED.search(line):
        return AgentEvent(EventKind.CALL_SELECTED, now, int(m[1]) if m[1] else None,
                          reason="" if m[1] else f"call {m[2]} is not active", line=line)
    return None


LOG_HEAD_BYTES = 1 << 20  #: of pjsua's log file read for a start-up failure (it fails in its first lines)


class PjsuaAgent:
    """Owns one pjsua process; thread-safe waits, single-threaded commands."""

    def __init__(self, name: str, argv: Sequence[str], transcript: Path, *, cwd: Path | None = None,
                 cancel: CancelToken | None = None, log_file: Path | None = None, sip_bind: str = "",
                 keep_last: int | None = None):
        """``log_file``: pjsua's ``--log-file`` (read for the cause when it exits at start);
        ``sip_bind``: its SIP address:port, named when that port was taken; ``keep_last``: keep
        only about this many of the latest console lines and events after the first ones
        (``Kept``; a load's agents: the transcript file holds every line)."""
        self.name = name
        self.log_file = log_file
        self.sip_bind = sip_bind
        self.cancel = cancel
        self.argv = list(argv)
        self.transcript_path = transcript
        self.cwd = cwd
        self._child: pexpect.spawn | None = None
        self._reader: threading.Thread | None = None
        self._cond = threading.Condition()
        self._st = _State(Kept(cap=keep_last), Kept(cap=keep_last))
        self._transcript = None
        self._quit_sent = False
        self._unsubscribe = lambda: None
        self._listeners: tuple[Callable[[], None], ...] = ()  #: called (by the reader) after new events or EOF
        self.write_error = ""  #: why the transcript could not be written ("" when it could)

    # -- lifecycle -------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child else None

    @property
    def died(self) -> bool:
        """pjsua ended before callgen asked it to quit (killed, crashed)."""
        with self._cond:
            return self._st.died

    @property
    def crash_signal(self) -> int | None:
        """The signal pjsua crashed on, when it died and its crash handler said so (its backtrace follows in
        the transcript); None otherwise."""
        with self._cond:
            return self._st.crash_signal

    def death(self) -> str:
        """How pjsua died, for a message ("" while it has not)."""
        sig = self.crash_signal
        if sig is None:
            return ""
        return f"it crashed on {signal_name(sig)}, its backtrace is in {self.transcript_path.name}"

    def start(self, timeout: float = 10.0) -> None:
        fd = os.open(self.transcript_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        self._transcript = open(fd, "a", encoding="utf-8", errors="replace")  # it holds the SIP: digest, SDES keys
        try:
            spawn.start_watchdog()  # before the child: it must never run unwatched
            self._child = pexpect.spawn(
                self.argv[0], self.argv[1:], cwd=str(self.cwd) if self.cwd else None,
                echo=False, encoding="utf-8", codec_errors="replace", timeout=None,
                dimensions=(50, 400), env={**os.environ, "TERM": "dumb"},
            )
            # pexpect sleeps 50 ms before every send by default (for programs that switch
            # echo off late); pjsua's lines are proven read by the echo barrier instead
            self._child.delaybeforesend = None
        except pexpect.ExceptionPexpect as exc:
            raise InfrastructureError(f"agent {self.name}: cannot start pjsua ({exc})") from None
        spawn.watch(self._child.pid)  # pexpect makes the child a session and group leader
        self._child.logfile_send = _SendLog(self)
        self._reader = threading.Thread(target=self._read_loop, name=f"pjsua-{self.name}", daemon=True)
        self._reader.start()
        if self.cancel is not None:
            self._unsubscribe = self.cancel.subscribe(self._wake)
        self.wait_for(lambda e: e.kind is EventKind.READY, "pjsua ready (its menu)", timeout, since=0)
        # pjsua echoes a command only when echo was already on as it read it
        self.send(pp.ECHO_COMMAND.format(token="1"))
        self.barrier(timeout)

    def _read_loop(self) -> None:
        """Read pjsua's console as it comes: each chunk the pty holds with one ``os.read`` (pexpect's
        ``read_nonblocking`` polled, asked waitpid and selected again for every chunk), decoded as pexpect
        would (UTF-8, bad bytes replaced), complete lines parsed; until EOF (EIO: pjsua exited)."""
        name_this_thread(f"pjsua-{self.name}")
        fd = self._child.child_fd
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        buf = ""
        while True:
            try:
                if not poller.poll(500):  # a bound, so a closed fd is noticed; nothing else is polled
                    continue
                data = os.read(fd, 65536)
            except InterruptedError:
                continue
            except (OSError, ValueError):  # EIO once pjsua's side of the pty is closed
                break
            if not data:
                break
            chunk = decoder.decode(data)
            self._log_transcript(chunk)
            buf += chunk.replace("\r", "")
            *complete, buf = buf.split("\n")
            self._ingest(complete)
            # prompts ("Make call: ") have no newline; READY lines always end in one
        buf += decoder.decode(b"", final=True)
        self._ingest([buf] if buf else [])
        with self._cond:
            self._st.eof = True
            self._st.died = not self._quit_sent
            self._st.crash_signal = crash_signal(self._st.lines[max(0, len(self._st.lines) - CRASH_LINES):]) if self._st.died else None
            self._st.events.append(AgentEvent(EventKind.EXITED, time.time()))
            self._cond.notify_all()
        self._tell_listeners()

    def _log_transcript(self, chunk: str) -> None:
        """Keep the transcript; a failing write (disk full) is remembered, and pjsua's
        output is still read, so the agent stays under control."""
        if self.write_error or self._transcript is None:
            return
        try:
            self._transcript.write(chunk)
            self._transcript.flush()
        except OSError as exc:
            self.write_error = f"cannot write {self.transcript_path}: {exc.strerror or exc}"

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def add_listener(self, callback: Callable[[], None]) -> None:
        """``callback()`` is called from the reader thread after each batch of new events and at EOF (it
        must be quick and never block: e.g. ``threading.Event.set``), so one thread can await several agents."""
        with self._cond:
            self._listeners = (*self._listeners, callback)

    def remove_listener(self, callback: Callable[[], None]) -> None:
        with self._cond:
            self._listeners = tuple(c for c in self._listeners if c != callback)

    def _tell_listeners(self) -> None:
        for callback in self._listeners:
            callback()

    def _ingest(self, lines: list[str]) -> None:
        if not lines:
            return
        now = time.time()
        found: list[AgentEvent] = []
        for line in lines:  # parsed before the lock is taken: waiters are not held up by the parsing
            if not _MAY_BE_EVENT.search(line):
                continue
            # pjsua's threads can glue log lines into one (a state line, the menu prompt, the next state
            # line): each part that starts with a log time stamp or a call's state is a line of its own
            parts = _LOG_LINE_START.split(line) if len(line) > 40 else [line]
            events = [ev for part in parts if (ev := parse_line(part, now)) is not None]
            if not events and (m := pp.ECHO_SEEN.search(line)):
                events = [AgentEvent(EventKind.ECHO, now, line=m[1])]
            found += events
        with self._cond:
            self._st.lines.extend(lines)
            if found:
                self._st.events.extend(found)
                self._cond.notify_all()
        if found:
            self._tell_listeners()

    # -- waiting -----------------------------------------------------------
    def mark(self) -> int:
        """Index to pass as ``since`` so a wait only sees events after now."""
        with self._cond:
            return len(self._st.events)

    def events(self, kind: EventKind | None = None) -> list[AgentEvent]:
        with self._cond:
            return [e for e in self._st.events if kind is None or e.kind is kind]

    def events_since(self, start: int) -> list[AgentEvent]:
        """The events from index ``start`` on (a copy of just those)."""
        with self._cond:
            return self._st.events[start:]

    def output_lines(self) -> list[str]:
        with self._cond:
            return list(self._st.lines)  # what is kept: all of it, unless ``keep_last`` was given

    def wait_for(
        self, pred: Callable[[AgentEvent], bool], what: str, timeout: float, *, since: int | None = None
    ) -> AgentEvent:
        """Block until an event after ``since`` matches; AgentTimeout names ``what``."""
        deadline = time.monotonic() + timeout
        start = self.mark() if since is None else since
        with self._cond:
            while True:
                for ev in self._st.events[start:]:
                    if pred(ev):
                        return ev
                start = len(self._st.events)
                if self.cancel is not None and self.cancel.is_set():
                    raise Interrupted(f"agent {self.name}: cancelled while waiting for {what}")
                if self._st.eof:
                    raise InfrastructureError(
                        f"agent {self.name}: pjsua exited while waiting for {what}{self._last_words()}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AgentTimeout(f"agent {self.name}: timed out after {timeout:g} s waiting for {what}")
                self._cond.wait(left)

    def wait_for_all(
        self, pred: Callable[[AgentEvent], bool], count: int, what: str, timeout: float, *, since: int | None = None
    ) -> list[AgentEvent]:
        """Block until ``count`` events after ``since`` match; return them in order (AgentTimeout names ``what``)."""
        matched: list[AgentEvent] = []

        def collect(ev: AgentEvent) -> bool:  # wait_for offers each event once, in order
            if pred(ev):
                matched.append(ev)
            return len(matched) >= count

        if count > 0:
            try:
                self.wait_for(collect, what, timeout, since=since)
            except AgentTimeout as exc:
                raise AgentTimeout(f"{exc} (saw {len(matched)} of {count})") from None
        return matched

    def wait_call_outcome(self, what: str, timeout: float, *, call: int | None = None,
                          since: int | None = None) -> AgentEvent:
        """The first CONFIRMED state or DISCONNECTED of ``call`` (any call if None) after ``since``."""
        return self.wait_for(
            lambda e: (call is None or e.call == call) and (
                e.kind is EventKind.DISCONNECTED
                or (e.kind is EventKind.CALL_STATE and e.state == pp.STATE_CONFIRMED)),
            what, timeout, since=since,
        )  # fmt: skip

    def live_calls(self) -> set[int]:
        """Call ids this agent saw in a call state and not (yet) disconnected.

        pjsua reuses call ids, so events are taken in order.  An incoming call that
        never changed state is not seen here; its caller's CALLING state is."""
        live: set[int] = set()
        with self._cond:
            for e in self._st.events:
                if e.kind is EventKind.DISCONNECTED or (e.kind is EventKind.CALL_STATE and e.state == pp.STATE_DISCONNECTED):
                    live.discard(e.call)
                elif e.kind is EventKind.CALL_STATE and e.call is not None:
                    live.add(e.call)
        return live

    def _last_words(self) -> str:
        """Why pjsua exited, from its console; at start-up the first error is the cause (pjsua
        prints 40+ lines of teardown after it), then its log file when the console had none."""
        ready = any(e.kind is EventKind.READY for e in self._st.events)
        said = [ln.strip() for ln in (self._st.lines[-40:] if ready else self._st.lines) if pp.STARTUP_ERROR.search(ln)]
        cause = (said[-1] if ready else said[0]) if said else ""
        if not cause and not ready:
            cause = self._log_file_cause()
        if not cause:
            return ""
        taken = f"; its SIP port {self.sip_bind} is held by another process" if self.sip_bind and pp.BIND_ERROR.search(cause) else ""
        return f" (pjsua said: {cause}{taken})"

    def _log_file_cause(self) -> str:
        """``bob.pjsua.log: bind() error: Address already in use [status=120098]`` or ""."""
        if self.log_file is None:
            return ""
        try:
            with open(self.log_file, "rb") as fh:
                head = fh.read(LOG_HEAD_BYTES).decode("utf-8", "replace")
        except OSError:
            return ""
        m = pp.BIND_ERROR.search(head)
        return f"{self.log_file.name}: {m[0].strip()}" if m else ""

    # -- commands ----------------------------------------------------------
    def send(self, *lines: str) -> None:
        """Type ``lines`` into pjsua's console, in one write (pjsua reads them one by one as it would
        typed lines; one write and one transcript entry per command, not per line)."""
        for line in lines:
            if "\n" in line or "\r" in line or "\0" in line:
                raise ValueError(f"refusing to send a multi-line command to pjsua: {line!r}")
        if self._child is None or self._st.eof or not self._child.isalive():
            raise InfrastructureError(f"agent {self.name}: pjsua is not running")
        try:
            self._child.send("".join(line + "\n" for line in lines))
        except OSError as exc:  # its side of the pty closed as it exited
            raise InfrastructureError(f"agent {self.name}: pjsua is not running ({exc.strerror or exc})") from None

    def barrier(self, timeout: float = 5.0) -> None:
        """Return once pjsua has read every line sent before (echo-token barrier)."""
        token = f"callgen-sync-{uuid.uuid4().hex[:12]}"
        since = self.mark()
        self.send(pp.ECHO_COMMAND.format(token=token))
        self.wait_for(lambda e: e.kind is EventKind.ECHO and e.line == token, "the echo barrier", timeout, since=since)

    def make_call(self, uri: str, timeout: float = 5.0, headers: tuple[tuple[str, str], ...] = ()) -> int:
        """Place a call; return pjsua's call id (from its first state line).
        ``headers``: extra headers of this call's INVITE, given with menu 'k' (callgen's
        patch 0001; the scenario's validation refuses them for a pjsua without it).
        pjsua refusing to place it at all (no transport for the URI...) raises."""
        since = self.mark()
        for name, value in headers:
            self.send(pp.CMD_NEXT_CALL_HEADER, f"{name}: {value}")
        self.send(pp.CMD_MAKE_CALL, uri)
        ev = self.wait_for(
            lambda e: e.kind in (EventKind.CALL_STATE, EventKind.DISCONNECTED, EventKind.CALL_ERROR),
            f"the call to {uri} to start",
            timeout,
            since=since,
        )
        if ev.kind is EventKind.CALL_ERROR:
            raise InfrastructureError(f"agent {self.name}: pjsua could not place the call to {uri}: {ev.reason}")
        return ev.call if ev.call is not None else 0

    def select_call(self, call_id: int, timeout: float = 5.0) -> None:
        """Make ``call_id`` pjsua's current call (menu 'g', callgen's patch 0002), so the
        current-call commands (hangup, DTMF, hold...) act on it; raises when it is not active."""
        since = self.mark()
        self.send(pp.CMD_SELECT_CALL, str(call_id))
        ev = self.wait_for(lambda e: e.kind is EventKind.CALL_SELECTED, f"call {call_id} to become current", timeout,
                           since=since)
        if ev.call != call_id:
            raise InfrastructureError(f"agent {self.name}: pjsua cannot make call {call_id} current: {ev.reason}")

    def transfer(self, uri: str) -> None:
        """Blind-transfer the current call to ``uri`` (menu 'x': REFER)."""
        self.send(pp.CMD_TRANSFER, uri)
        self.barrier()

    def transfer_replaces(self, replaced: int) -> str:
        """Attended transfer (menu 'X'): REFER the current call's peer to the peer of call
        ``replaced``, with Replaces naming that call's dialog.  Return why pjsua sent no
        REFER ("" when it took the command)."""
        with self._cond:
            start = len(self._st.lines)
        self.send(pp.CMD_TRANSFER_REPLACES, str(replaced))
        self.barrier()
        with self._cond:
            lines = self._st.lines[start:]
        refused = [m[1] for line in lines if (m := pp.XFER_REFUSED.search(line))]
        return refused[0] if refused else ""

    def unregister(self, timeout: float = 2.0) -> bool:
        """Un-REGISTER (menu 'ru') and wait for the registrar's answer; True when it came."""
        since = self.mark()
        self.send(pp.CMD_UNREGISTER)
        try:
            self.wait_for(lambda e: e.kind in (EventKind.UNREG_OK, EventKind.REG_FAILED), "the un-REGISTER's answer",
                          timeout, since=since)
        except AgentTimeout:
            return False
        return True

    def answer(self, code: int, contact: str | None = None) -> None:
        """Answer the current incoming call with ``code`` (menu 'a'); a 3xx asks for its Contact."""
        self.send(pp.CMD_ANSWER, str(code), *([contact] if 300 <= code < 400 and contact else []))
        self.barrier()

    def send_dtmf(self, digits: str, *, info: bool = False) -> str:
        """Hand ``digits`` to pjsua; return why pjsua refused them ("" when it took them)."""
        since = self.mark()
        self.send(pp.CMD_DTMF_INFO if info else pp.CMD_DTMF_2833, digits)
        self.barrier()
        refused = [e for e in self.events()[since:] if e.kind is EventKind.DTMF_REFUSED]
        return refused[0].reason if refused else ""

    def hold(self) -> None:
        self.send(pp.CMD_HOLD)
        self.barrier()

    def unhold(self) -> None:
        self.send(pp.CMD_REINVITE)
        self.barrier()

    def conference_ports(self) -> dict[int, str]:
        """Slot -> name of every conference bridge port (menu 'cl')."""
        with self._cond:
            start = len(self._st.lines)
        self.send(pp.CMD_LIST_PORTS)
        self.barrier()
        with self._cond:
            lines = self._st.lines[start:]
        return {int(m[1]): m[2].strip() for line in lines if (m := pp.CONF_PORT.search(line))}

    def connect_ports(self, src: int, dst: int) -> None:
        self.send(pp.CMD_CONNECT, str(src), str(dst))
        self.barrier()

    def hangup(self) -> None:
        self.send(pp.CMD_HANGUP)
        self.barrier()

    def hangup_all(self) -> None:
        self.send(pp.CMD_HANGUP_ALL)

    # -- stopping ----------------------------------------------------------
    def request_quit(self) -> None:
        """First half of a graceful stop: ask pjsua to quit (no wait)."""
        if self._child is not None and self._child.isalive() and not self._quit_sent:
            self._quit_sent = True
            try:
                self._child.send(pp.CMD_QUIT + "\n")
            except OSError:
                pass

    def stop(self, grace: float = 5.0) -> int | None:
        """Wait for the quit, then SIGTERM, then SIGKILL; return the exit status (negative: the signal)."""
        child = self._child
        if child is None:
            return None
        try:
            if child.isalive():
                self.request_quit()
                with self._cond:  # the reader sees EOF when pjsua exits
                    self._cond.wait_for(lambda: self._st.eof, grace)
                if not _wait_dead(child, 1.0):
                    _signal(child, signal.SIGTERM)
                    if not _wait_dead(child, 2.0):
                        _signal(child, signal.SIGKILL)
                        _wait_dead(child, 2.0)
        finally:
            self._unsubscribe()
            if self._reader is not None:
                self._reader.join(timeout=3.0)
            if not child.isalive():  # reaped: closing needs no 'time for the kernel' (ptyprocess sleeps 0.1 s)
                child.delayafterclose = child.ptyproc.delayafterclose = 0
            try:
                child.close(force=True)
            except Exception:  # noqa: BLE001 - closing is best effort after kill
                pass
            if not child.isalive():
                spawn.forget(child.pid)
            if self._transcript:
                try:
                    self._transcript.close()
                except OSError as exc:
                    self.write_error = self.write_error or f"cannot write {self.transcript_path}: {exc.strerror or exc}"
        if child.exitstatus is not None:
            return child.exitstatus
        return -child.signalstatus if child.signalstatus is not None else None


def stop_all(agents: Sequence[PjsuaAgent], grace: float = 5.0) -> list[int | None]:
    """Stop several agents at once: ask all to quit (``q`` takes about a second
    each), then wait for them in parallel, so one that hangs delays no other."""
    if not agents:
        return []
    for a in agents:
        a.request_quit()
    with ThreadPoolExecutor(max_workers=len(agents)) as pool:
        return list(pool.map(lambda a: a.stop(grace), agents))


def _signal(child: pexpect.spawn, sig: int) -> None:
    try:
        os.killpg(child.pid, sig)  # pexpect makes the child a session/group leader
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(child.pid, sig)
        except ProcessLookupError:
            pass


def _wait_dead(child: pexpect.spawn, timeout: float) -> bool:
    """Wait for the child's exit as an event (a pidfd becomes readable when the
    process ends), then reap it; True if it is gone within ``timeout``."""
    if not child.isalive():
        return True
    try:
        fd = os.pidfd_open(child.pid)
    except (AttributeError, OSError):  # pre-5.3 kernel: poll waitpid instead
        deadline = time.monotonic() + timeout
        while child.isalive():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True
    try:
        select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    return not child.isalive()


class _SendLog:
    """pexpect logfile_send adapter: marks what callgen typed in the transcript."""

    def __init__(self, agent: PjsuaAgent):
        self._agent = agent

    def write(self, data: str) -> None:
        self._agent._log_transcript("".join(f"\n>>> {line}\n" for line in data.splitlines()))

    def flush(self) -> None:
        pass
