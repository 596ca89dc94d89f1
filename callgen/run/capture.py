"""Packet capture on the loopback interface, for one run: tcpdump or dumpcap.

Both backends share one life cycle: start the process, wait for the line that
says the capture socket is open (never a fixed sleep), stop with SIGINT and wait
so the pcap is complete.  ``make_capture`` picks the backend.

Why stop() drains first: libpcap reads the kernel's packet ring (TPACKET_V3),
whose blocks reach the process only when full or when the block timeout expires
(tcpdump: 1 s, dumpcap: 250 ms), and on SIGINT both tools leave at once, dropping
what the ring still holds.  Measured on lo, 5 packets sent right before the
SIGINT: tcpdump wrote 0 (5 when the stop came 1.2 s later), dumpcap 0 (5 at
0.5 s).  So stop() first waits ``settle`` (block timeout plus margin) and then
until the process sleeps in poll again: asleep after its blocks were retired means
it has written every packet that reached its socket before stop() was called.
The settle counts from the last moment a packet could have been sent: from the
stop() call, or earlier when the caller knows its senders went quiet earlier
(``quiet_since``: the runner passes the moment it asked idle pjsua agents to
quit, so pjsua's own 1 s of shutdown is not waited twice).
(tcpdump's ``--immediate-mode`` is no cure: libpcap then uses TPACKET_V2 with one
64 KiB frame per packet on lo, the 2 MiB ring holds 32 of them, and lo puts each
packet in twice; with 8 captures in parallel tcpdump lost 3-4 of 20 packets
"dropped by kernel".)  A packet has reached the capture socket once the receiving
socket got it (loopback hands packets to capture sockets before IP); the tests
receive every datagram before stopping, as pjsua agents do before they quit.

The end marker makes that wait an event instead of a second (captures on lo or
"any"): the capture binds a UDP socket of its own on 127.0.0.1 and its filter also
takes the datagrams that socket sends to itself.  stop() sends one marker datagram
from every CPU the process may run on (loopback queues a packet on the sending
CPU's backlog, so a marker from each CPU comes after every packet still queued
there), waits until the tool sleeps in poll (it has read every full block: the
ring has room), then fills the ring's current block with a few 64 KiB datagrams:
a packet that does not fit retires the block at once, so the markers reach the
tool without the block timeout.  Once every marker is in the file, every packet
that reached the capture socket before them is written too (the ring is read in
order, and -U / dumpcap write each packet as it comes); then SIGINT.  Measured on
lo with tcpdump: the marker is in the file 1-3 ms after the fill, against 0.98 s
without it.  The marker records are cut out of the file after the tool exits
(``strip_markers``), and out of its packet count; without a marker socket (another
interface, no 127.0.0.1) the settle above is waited as before.

tcpdump as uid 0 (Debian builds it to change to user 'tcpdump') needs CAP_SETGID
with ``-Z root`` and CAP_CHOWN without; a pod that keeps only CAP_NET_RAW has
neither ("Couldn't change to 'root' uid" / "Couldn't change ownership of
savefile").  dumpcap (Debian ``wireshark-common``) needs only CAP_NET_RAW (with
``-p``).  dumpcap prints "Capturing on 'Loopback: lo'" *before* it opens the
packet socket (strace: that write, then socket/bind/filter/open of the file, then
"File: <path>"), so its ready line is "File:".  A SIGINT that reaches dumpcap
before its capture loop runs is ignored, so stop() repeats it until dumpcap exits.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from callgen import spawn
from callgen.errors import InfrastructureError, UsageError
from callgen.sut.ports import RUN_PORTS_LAST

LISTENING = re.compile(r"listening on (\S+)")
STATS = re.compile(r"(\d+) packets? captured|(\d+) packets? dropped by kernel")

DUMPCAP_READY = re.compile(r"^File: (.+)$")
DUMPCAP_CAPTURED = re.compile(r"^Packets captured: (\d+)")
DUMPCAP_DROPS = re.compile(r"^Packets received/dropped on interface .*?: (\d+)/(\d+) \(pcap:(\d+)/")

CAPTURE_ENV = "CALLGEN_CAPTURE"
TOOLS = ("tcpdump", "dumpcap")
CHOICES = TOOLS + ("auto",)

# Linux capability numbers (linux/capability.h)
CAP_CHOWN = 0
CAP_SETGID = 6
CAP_SETUID = 7
CAP_NET_ADMIN = 12
CAP_NET_RAW = 13

_PRIVILEGE_ERROR = re.compile(
    r"couldn't change|operation not permitted|permission denied|ownership|don't have permission", re.I
)
_BOTH_TOOLS_FIX = (
    "a capture needs tcpdump (Debian 'tcpdump') as root with its usual capabilities, or dumpcap "
    "(Debian 'wireshark-common', installed with 'tshark'), which needs only CAP_NET_RAW; "
    f"in a pod with capabilities drop [ALL] add [NET_RAW] install dumpcap and set {CAPTURE_ENV}=dumpcap (or auto)"
)


#: the capture's kernel buffer: at hundreds of calls held (~50,000 packets/s on lo) the
#: default 2 MiB overflows and the kernel drops packets (reported, and the run unproven)
BUFFER_MIB = 32


@dataclass(frozen=True)
class CaptureStats:
    captured: int | None
    dropped_by_kernel: int | None
    stderr: str
    tool: str = "capture"
    #: the tool had already exited when callgen came to stop it (killed, crashed,
    #: disk full): the file then ends wherever the tool died
    exited_early: bool = False
    exit_status: int | None = None  #: its exit status, negative for a signal
    #: the tool did not exit on its stop signal and was killed; its /proc state then
    #: ("T (stopped)": someone sent it SIGSTOP; it captured nothing since)
    unresponsive: str | None = None
    #: seconds the stop waited for its end marker to reach the file, in vain (None: it did, or no marker)
    end_unconfirmed: float | None = None

    def problems(self) -> list[str]:
        """Why this capture cannot be trusted as the whole record of the run."""
        out = []
        if self.end_unconfirmed is not None and self.unresponsive is None:
            out.append(f"{self.tool} had not written its end marker {self.end_unconfirmed:.1f} s after the stop began:"
                       " the packets before it were still unwritten, so the run's last packets may be missing")
        if self.unresponsive is not None:
            out.append(f"{self.tool} did not exit on SIGINT and was killed (process state {self.unresponsive}):"
                       " it had stopped capturing, so the capture is not the whole record of the run")
        if self.exited_early:
            how = (f"killed by signal {-self.exit_status}" if self.exit_status is not None and self.exit_status < 0
                   else f"exit status {self.exit_status}")
            out.append(f"{self.tool} died during the run ({how}); the capture stops where it died")
        if self.dropped_by_kernel:
            out.append(f"{self.tool} reports {self.dropped_by_kernel} packets dropped by the kernel; the capture is incomplete")
        return out


def port_filter(port_ranges: Sequence[tuple[int, int]], ports: Sequence[int] = ()) -> str:
    """BPF filter for UDP/TCP traffic touching the run's ports."""
    terms = [f"portrange {lo}-{hi}" for lo, hi in port_ranges] + [f"port {p}" for p in sorted(set(ports))]
    return f"(udp or tcp) and ({' or '.join(terms)})" if terms else "udp or tcp"


def _find(name: str) -> str | None:
    return shutil.which(name) or next(
        (p for p in (f"/usr/bin/{name}", f"/usr/sbin/{name}") if os.access(p, os.X_OK)), None
    )


def find_tcpdump() -> str | None:
    return _find("tcpdump")


def find_dumpcap() -> str | None:
    return _find("dumpcap")


def effective_capabilities(status_path: str = "/proc/self/status") -> int | None:
    """The CapEff mask of this process, or None where /proc does not tell."""
    try:
        with open(status_path, encoding="ascii") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return None


def tcpdump_can_drop_privileges(caps: int | None = None, euid: int | None = None) -> bool:
    """Will tcpdump survive its own privilege change?

    Only uid 0 changes user (Debian builds tcpdump ``--with-user=tcpdump``);
    with ``-Z root`` (what ``Tcpdump`` passes as root) that needs CAP_SETGID.
    Measured under setpriv: NET_RAW+SETGID works, NET_RAW alone fails.
    """
    euid = os.geteuid() if euid is None else euid
    if euid != 0:
        return True
    caps = effective_capabilities() if caps is None else caps
    return caps is None or bool(caps >> CAP_SETGID & 1)


class _CaptureProcess:
    """One capture process writing ``pcap_path``; subclasses give argv, ready line and stats."""

    tool = "capture"
    ready = LISTENING
    settle = 0.0  #: the kernel's ring-block timeout plus margin: after it every packet sent is readable
    resend = 0.0  #: repeat the stop signal this often while the process lives (0: once)

    def __init__(self, pcap_path: Path, bpf: str, *, interface: str = "lo", binary: str | None = None,
                 rotate_mb: int | None = None, end_marker: bool = True):
        self.pcap_path = Path(pcap_path)
        # stop with an end marker where the interface allows (else the settle); not for a rotated capture:
        # the marker lands in whichever file is current, and a load's end can wait its second
        self.end_marker = end_marker and not rotate_mb
        self.bpf = bpf
        self.interface = interface
        self.binary = binary
        #: a new file every this many MB (10^6 bytes): a load's capture is proven file by file (callgen.run.ring)
        self.rotate_mb = rotate_mb
        self._proc: subprocess.Popen | None = None
        self._stderr: list[str] = []
        self._listening = threading.Event()
        self._ready_seen = False
        self._reader: threading.Thread | None = None
        self._marker: EndMarker | None = None
        self.markers_removed = 0  #: marker records cut out of the file at stop

    @property
    def capture_filter(self) -> str:
        """What the tool is given: ``bpf``, and the end marker's own datagrams once it has a socket."""
        return self.bpf if self._marker is None else f"({self.bpf}) or ({self._marker.bpf()})"

    def argv(self) -> list[str]:
        raise NotImplementedError

    def _not_found(self) -> str:
        raise NotImplementedError

    def _hint(self, text: str) -> str:
        return ""

    def _stats(self) -> tuple[int | None, int | None]:
        raise NotImplementedError

    def start(self, timeout: float = 10.0) -> None:
        if not self.binary:
            raise InfrastructureError(self._not_found())
        if self.end_marker and self.interface in MARKER_INTERFACES and self._marker is None:
            self._marker = EndMarker.open()
        try:
            self._start(timeout)
        except BaseException:
            if self._marker is not None:
                self._marker.close()
            raise

    def _start(self, timeout: float) -> None:
        self._proc = spawn.popen(
            self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self._reader = threading.Thread(target=self._read_stderr, name=f"{self.tool}-stderr", daemon=True)
        self._reader.start()
        if not self._listening.wait(timeout):
            self.stop()
            raise InfrastructureError(
                f"{self.tool} did not start listening on {self.interface} within {timeout:g} s: {self._stderr_text()}"
            )
        if not self._ready_seen:  # stderr ended before the ready line: the process is exiting
            try:
                self._proc.wait(2.0)
            except subprocess.TimeoutExpired:
                self.stop()
        if not self._ready_seen or self._proc.poll() is not None:
            if self._reader:
                self._reader.join(2.0)
            raise InfrastructureError(f"{self.tool} exited at start: {self._stderr_text()}")

    def _read_stderr(self) -> None:
        assert self._proc and self._proc.stderr
        for line in self._proc.stderr:
            self._stderr.append(line.rstrip("\n"))
            if not self._ready_seen and self.ready.search(line.rstrip("\n")):
                self._ready_seen = True
                self._listening.set()
        self._listening.set()  # EOF: the process ended; start() then reports why

    def _stderr_text(self) -> str:
        text = " | ".join(ln for ln in self._stderr if ln.strip())
        return (text + self._hint(text)) if text else "no output"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _drain(self, proc: subprocess.Popen, until: float, quiet_since: float | None = None) -> None:
        """Let the process write what the kernel holds for it: wait until ``settle`` has passed since the
        last packet could have been sent (``quiet_since``, else now), then for it to sleep in poll."""
        settle = self.settle if quiet_since is None else max(0.0, quiet_since + self.settle - time.monotonic())
        try:  # returns early only if the process ends on its own
            proc.wait(settle)
            return
        except subprocess.TimeoutExpired:
            pass
        while time.monotonic() < until and proc.poll() is None:
            if _sleeping_in_poll(proc.pid) is not False:
                return
            try:
                proc.wait(0.005)
            except subprocess.TimeoutExpired:
                pass

    def _mark_end(self, proc: subprocess.Popen, marker: EndMarker, until: float) -> tuple[int, bool]:
        """Send the end markers and wait (until ``until``) for all of them to be in the file.
        Returns the file's size before they were sent (where the marker records start, or
        earlier) and whether every marker was seen."""
        start = _size(self.pcap_path)
        tokens = marker.send_markers()
        while time.monotonic() < until and proc.poll() is None and _sleeping_in_poll(proc.pid) is False:
            if (_process_state(proc.pid) or "").startswith(("T", "t")):
                return start, False  # stopped: it will write nothing more; stop() says so
            _wait_exit(proc, 0.002)
        watch = _FileWatch(self.pcap_path, start, tokens)
        for _ in range(FILL_ROUNDS):  # a marker queued behind a busy CPU may miss the first fill's block
            marker.fill()
            round_end = min(until, time.monotonic() + FILL_EVERY)
            while time.monotonic() < round_end and proc.poll() is None:
                if watch.all_seen():
                    return start, True
                _wait_exit(proc, 0.002)
        while time.monotonic() < until and proc.poll() is None and not watch.all_seen():
            _wait_exit(proc, 0.005)  # the ring's block timeout retires what the fills did not
        return start, watch.all_seen()

    def stop(self, timeout: float = 5.0, *, quiet_since: float | None = None) -> CaptureStats:
        """End marker (else drain), SIGINT (the tool flushes and prints its counters), then SIGKILL.

        ``quiet_since`` (used without an end marker only): a ``time.monotonic()`` value after
        which the caller knows no packet the filter matches was sent (its senders were idle or
        gone); the drain's settle counts from it, so the time the senders took to exit needs
        not be waited again."""
        proc = self._proc
        if proc is None:
            return CaptureStats(None, None, "", self.tool)
        exited_early = proc.poll() is not None
        unresponsive = None
        marked_from = end_unconfirmed = None
        if not exited_early:
            began = time.monotonic()
            deadline = began + timeout
            until = began + min(timeout / 2, max(2.0, 4 * self.settle))
            if self._ready_seen and self._marker is not None:
                marked_from, confirmed = self._mark_end(proc, self._marker, until)
                end_unconfirmed = None if confirmed else time.monotonic() - began
            elif self._ready_seen:
                self._drain(proc, until, quiet_since)
            if not (end_unconfirmed is None or proc.poll() is None):
                # it ended before the stop signal (killed, disk full): why the marker never came
                exited_early, end_unconfirmed = True, None
        if not exited_early:
            try:
                while True:
                    proc.send_signal(signal.SIGINT)
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise subprocess.TimeoutExpired(proc.args, timeout)
                    try:
                        proc.wait(min(left, self.resend) if self.resend else left)
                        break
                    except subprocess.TimeoutExpired:
                        if not self.resend or time.monotonic() >= deadline:
                            raise
            except subprocess.TimeoutExpired:
                unresponsive = _process_state(proc.pid) or "unknown"
                proc.kill()
                proc.wait(2.0)
        if proc.returncode is not None:
            spawn.reaped(proc)
        if self._reader:
            self._reader.join(2.0)
        captured, dropped = self._stats()
        if self._marker is not None:
            if marked_from is not None:
                self.markers_removed = strip_markers(self.pcap_path, marked_from, self._marker)
                if captured is not None:
                    captured = max(0, captured - self.markers_removed)
            self._marker.close()
        return CaptureStats(captured, dropped, "\n".join(self._stderr), self.tool, exited_early, proc.returncode,
                            unresponsive, end_unconfirmed)


def _wait_exit(proc: subprocess.Popen, seconds: float) -> None:
    """Wait ``seconds`` or until the process ends (the wait between two looks at an event)."""
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        pass


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


#: the capture stops with an end marker on these interfaces (they carry 127.0.0.1)
MARKER_INTERFACES = ("lo", "any")
MARKER_MAGIC = b"callgen-capture-end:"
FILL_SIZE = 65000  #: one fill datagram's payload; loopback's MTU is 65536
FILL_COUNT = 5  #: 5 x 64 KiB is more than a ring block (256 KiB: libpcap sizes blocks for a 256 KiB snaplen)
FILL_ROUNDS = 3  #: fills sent, one every FILL_EVERY seconds, while a marker is missing
FILL_EVERY = 0.1
MARKER_BIND_ATTEMPTS = 50


class EndMarker:
    """A UDP socket on 127.0.0.1 that sends datagrams to itself, which the capture filter also takes.

    Only this socket has its address and port, so a packet from and to 127.0.0.1:port is
    one of its own, whatever ports the run uses.  The port is above the runs' port blocks
    (as helpers' are, callgen.sut.ports): an ephemeral port (bind to 0) may lie in another
    run's block, whose capture would then record these datagrams, and whose agent could
    not bind it."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.port = sock.getsockname()[1]
        self.nonce = os.urandom(8).hex().encode()
        self.prefix = MARKER_MAGIC + self.nonce

    @classmethod
    def open(cls) -> EndMarker | None:
        """A bound marker socket, or None where 127.0.0.1 cannot be bound (the settle is then waited)."""
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        except OSError:
            return None
        rng = random.SystemRandom()
        for _ in range(MARKER_BIND_ATTEMPTS):
            try:
                sock.bind(("127.0.0.1", rng.randrange(RUN_PORTS_LAST, 65536)))
                sock.setblocking(False)
                return cls(sock)
            except OSError:
                continue
        sock.close()
        return None

    def bpf(self) -> str:
        return f"udp and src host 127.0.0.1 and dst host 127.0.0.1 and src port {self.port} and dst port {self.port}"

    def _send(self, payload: bytes) -> None:
        try:
            self.sock.sendto(payload, ("127.0.0.1", self.port))
        except OSError:  # a full send buffer: the fill's next round sends again
            pass

    def send_markers(self) -> list[bytes]:
        """One marker from each CPU this thread may run on (each behind that CPU's queued packets)."""
        tokens = []
        try:
            cpus = sorted(os.sched_getaffinity(0))
        except OSError:
            cpus = []
        if len(cpus) < 2:
            tokens.append(self.prefix + b"S-")
            self._send(tokens[-1])
            return tokens
        try:
            for cpu in cpus:
                try:
                    os.sched_setaffinity(0, {cpu})  # this thread only; returns once it runs there
                except OSError:
                    continue
                tokens.append(self.prefix + b"S%d-" % cpu)
                self._send(tokens[-1])
        finally:
            try:
                os.sched_setaffinity(0, cpus)
            except OSError:
                pass
        if not tokens:
            tokens.append(self.prefix + b"S-")
            self._send(tokens[-1])
        return tokens

    def fill(self) -> None:
        payload = (self.prefix + b"F-").ljust(FILL_SIZE, b"\0")
        for _ in range(FILL_COUNT):
            self._send(payload)
        try:  # what the socket received of its own datagrams is not needed
            while self.sock.recv(1):
                pass
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()


class _FileWatch:
    """Looks in what a file gained since ``start`` for every token (read once, in pieces)."""

    def __init__(self, path: Path, start: int, tokens: list[bytes]):
        self.path = path
        self.offset = start
        self.missing = set(tokens)
        self.keep = max(len(t) for t in tokens) - 1
        self.tail = b""

    def all_seen(self) -> bool:
        if not self.missing:
            return True
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                new = f.read()
        except OSError:
            return False
        if new:
            self.offset += len(new)
            text = self.tail + new
            self.missing = {t for t in self.missing if t not in text}
            self.tail = text[-self.keep:]
        return not self.missing


#: bytes before the IP header, per pcap link type (lo: Ethernet; "any": Linux cooked v1 and v2)
_LINK_HEADER = {1: 14, 113: 16, 276: 20, 0: 4, 101: 0, 12: 0}
_PCAP_MAGIC = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
               b"\xa1\xb2\x3c\x4d": ">"}


def strip_markers(path: Path, start: int, marker: EndMarker) -> int:
    """Cut the end marker's records out of a pcap file, looking from ``start`` (the file's size
    before the markers were sent) on; every other record stays, in order.  Returns how many
    records were cut (0 when the file is not a pcap whose link type is known)."""
    try:
        with open(path, "r+b") as f:
            head = f.read(24)
            if len(head) < 24 or head[:4] not in _PCAP_MAGIC:
                return 0
            bo = _PCAP_MAGIC[head[:4]]
            link = _LINK_HEADER.get(struct.unpack(bo + "I", head[20:24])[0] & 0x0FFFFFFF)
            if link is None:
                return 0
            f.seek(max(24, start))
            data = f.read()
            first = _first_marker_record(data, marker, link, bo)
            if first is None:
                return 0
            kept, removed = _without_markers(data[first:], marker, link, bo)
            if removed:
                f.seek(max(24, start) + first)
                f.write(kept)
                f.truncate()
            return removed
    except OSError:
        return 0


def _first_marker_record(data: bytes, marker: EndMarker, link: int, bo: str) -> int | None:
    """Offset in ``data`` of the record holding the first marker (its payload follows the
    record header, the link header, 20 bytes of IPv4 and 8 of UDP)."""
    pos = data.find(marker.prefix)
    while pos >= 0:
        rec = pos - 16 - link - 28
        if rec >= 0 and _is_marker(data, rec, marker, link, bo):
            return rec
        pos = data.find(marker.prefix, pos + 1)
    return None


def _is_marker(data: bytes, rec: int, marker: EndMarker, link: int, bo: str) -> bool:
    incl = struct.unpack_from(bo + "I", data, rec + 8)[0]
    pkt = rec + 16
    ip = pkt + link
    if incl < link + 28 + len(marker.prefix) or pkt + incl > len(data) or data[ip] != 0x45 or data[ip + 9] != 17:
        return False
    lo = b"\x7f\x00\x00\x01"
    sport, dport = struct.unpack_from("!HH", data, ip + 20)
    return (data[ip + 12:ip + 16] == lo and data[ip + 16:ip + 20] == lo and sport == dport == marker.port
            and data[ip + 28:ip + 28 + len(marker.prefix)] == marker.prefix)


def _without_markers(data: bytes, marker: EndMarker, link: int, bo: str) -> tuple[bytes, int]:
    """``data`` (whole records from a record start) without the marker records; a cut last record stays."""
    out = []
    removed = 0
    off = 0
    while off + 16 <= len(data):
        incl = struct.unpack_from(bo + "I", data, off + 8)[0]
        end = off + 16 + incl
        if end > len(data):
            break
        if _is_marker(data, off, marker, link, bo):
            removed += 1
        else:
            out.append(data[off:end])
        off = end
    out.append(data[off:])
    return b"".join(out), removed


_STATES = {"R": "running", "S": "sleeping", "D": "in disk sleep", "T": "stopped", "t": "stopped by a tracer", "Z": "zombie"}


def _process_state(pid: int) -> str | None:
    """``T (stopped)`` and the like from /proc; None when /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return None
    return f"{state} ({_STATES.get(state, 'unknown')})"


def _sleeping_in_poll(pid: int) -> bool | None:
    """Is the process asleep in poll/select? None when /proc cannot tell (process gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return None
    if state != "S":
        return False
    try:
        with open(f"/proc/{pid}/wchan", encoding="ascii", errors="replace") as f:
            wchan = f.read().strip()
    except OSError:
        wchan = ""
    return wchan in ("", "0") or any(w in wchan for w in ("poll", "select"))


class Tcpdump(_CaptureProcess):
    """One tcpdump process writing ``pcap_path``."""

    tool = "tcpdump"
    ready = LISTENING
    settle = 1.1  # tcpdump's 1 s ring-block timeout plus margin (see the module docstring)

    def __init__(self, pcap_path: Path, bpf: str, *, interface: str = "lo", binary: str | None = None,
                 rotate_mb: int | None = None, end_marker: bool = True):
        super().__init__(pcap_path, bpf, interface=interface, binary=binary or find_tcpdump(), rotate_mb=rotate_mb,
                         end_marker=end_marker)

    def argv(self) -> list[str]:
        # -B: a 32 MiB kernel buffer (the default 2 MiB dropped 7,126 packets at 500 calls held)
        argv = [self.binary or "tcpdump", "-i", self.interface, "-n", "-U", "-s", "0", "-B", str(BUFFER_MIB * 1024),
                "-w", str(self.pcap_path)]
        if self.rotate_mb:  # -C: capture.pcap, capture.pcap1, ... (no -W: a ring would overwrite unread files)
            argv += ["-C", str(self.rotate_mb)]
        if os.geteuid() == 0:
            argv += ["-Z", "root"]  # keep root so it may write into a root-owned run folder
        return argv + [self.capture_filter]

    def _not_found(self) -> str:
        return "tcpdump not found (install the Debian package 'tcpdump'; 'callgen doctor' checks it)"

    def _hint(self, text: str) -> str:
        low = text.lower()
        if "couldn't change" in low:
            return (" (tcpdump as root changes user after opening the interface and needs CAP_SETGID, or CAP_CHOWN"
                    " for the savefile; with only CAP_NET_RAW, as in a pod that drops ALL and adds NET_RAW, use dumpcap:"
                    f" install Debian 'wireshark-common' and set {CAPTURE_ENV}=dumpcap or auto)")
        if "permission" in low or "operation not permitted" in low:
            return " (capture needs root or CAP_NET_RAW: run as root, or setcap cap_net_raw,cap_net_admin=eip on tcpdump)"
        return ""

    def _stats(self) -> tuple[int | None, int | None]:
        captured = dropped = None
        for line in self._stderr:
            for m in STATS.finditer(line):
                if m[1]:
                    captured = int(m[1])
                if m[2]:
                    dropped = int(m[2])
        return captured, dropped


class Dumpcap(_CaptureProcess):
    """One dumpcap process writing ``pcap_path`` in pcap format (Ethernet DLT on lo)."""

    tool = "dumpcap"
    ready = DUMPCAP_READY
    settle = 0.5  # two of dumpcap's 250 ms ring-block timeouts (see the module docstring)
    resend = 0.25

    def __init__(self, pcap_path: Path, bpf: str, *, interface: str = "lo", binary: str | None = None,
                 rotate_mb: int | None = None, end_marker: bool = True):
        super().__init__(pcap_path, bpf, interface=interface, binary=binary or find_dumpcap(), rotate_mb=rotate_mb,
                         end_marker=end_marker)

    def argv(self) -> list[str]:
        # -P: pcap, not pcapng (dumpcap 4.0 has no -F); -p: no promiscuous mode, so CAP_NET_RAW alone does;
        # -q: no running packet count on stderr
        # -b filesize (kB of 1000 bytes): capture_00001_<time>.pcap, ...; no files: (a ring would delete unread files)
        rotate = ["-b", f"filesize:{self.rotate_mb * 1000}"] if self.rotate_mb else []
        return [self.binary or "dumpcap", "-i", self.interface, "-p", "-q", "-P", "-B", str(BUFFER_MIB), *rotate,
                "-w", str(self.pcap_path), "-f", self.capture_filter]

    def _not_found(self) -> str:
        return ("dumpcap not found (install the Debian package 'wireshark-common', which comes with 'tshark'; "
                "'callgen doctor' checks it)")

    def _hint(self, text: str) -> str:
        if "permission" in text.lower():
            return (" (dumpcap needs CAP_NET_RAW: run as root or in a pod with capabilities add [NET_RAW], or "
                    "setcap cap_net_raw,cap_net_admin=eip on dumpcap)")
        return ""

    def _stats(self) -> tuple[int | None, int | None]:
        captured = dropped = None
        for line in self._stderr:
            if m := DUMPCAP_CAPTURED.search(line):
                captured = int(m[1])
            elif m := DUMPCAP_DROPS.search(line):
                dropped = int(m[3])
        return captured, dropped


def capture_tool(tool: str | None = None) -> str:
    """The backend to use: ``tool``, else $CALLGEN_CAPTURE, else "auto" -- resolved to "tcpdump" or "dumpcap".

    "auto": tcpdump when it is installed and its privilege change will work
    (see ``tcpdump_can_drop_privileges``), else dumpcap when installed, else
    tcpdump when installed (it will report why it cannot start).
    """
    source = "tool"
    if not tool:
        tool, source = os.environ.get(CAPTURE_ENV, "").strip() or "auto", f"${CAPTURE_ENV}"
    tool = tool.lower()
    if tool not in CHOICES:
        raise UsageError(f"{source}={tool!r}: the capture tool is one of {', '.join(CHOICES)}")
    if tool != "auto":
        return tool
    tcpdump, dumpcap = find_tcpdump(), find_dumpcap()
    if tcpdump and tcpdump_can_drop_privileges():
        return "tcpdump"
    if dumpcap:
        return "dumpcap"
    if tcpdump:
        return "tcpdump"
    raise InfrastructureError(f"no capture tool found (neither tcpdump nor dumpcap): {_BOTH_TOOLS_FIX}")


def make_capture(pcap_path: Path, bpf: str, *, interface: str = "lo", tool: str | None = None,
                 rotate_mb: int | None = None) -> Tcpdump | Dumpcap:
    """A capture (not started) with the backend ``capture_tool(tool)`` picks."""
    chosen = capture_tool(tool)
    cls = Tcpdump if chosen == "tcpdump" else Dumpcap
    cap = cls(pcap_path, bpf, interface=interface, rotate_mb=rotate_mb)
    if not cap.binary:
        raise InfrastructureError(f"{cap._not_found()}; {_BOTH_TOOLS_FIX}")
    return cap


def start_capture(pcap_path: Path, bpf: str, *, interface: str = "lo", tool: str | None = None,
                  timeout: float = 10.0, rotate_mb: int | None = None) -> Tcpdump | Dumpcap:
    """``make_capture`` and ``start``; in "auto", a tcpdump refused at start for privileges falls back to dumpcap.
    ``rotate_mb``: a new file every this many MB (a load run's capture, proven file by file)."""
    auto = (tool or os.environ.get(CAPTURE_ENV, "").strip() or "auto").lower() == "auto"
    cap = make_capture(pcap_path, bpf, interface=interface, tool=tool, rotate_mb=rotate_mb)
    try:
        cap.start(timeout)
        return cap
    except InfrastructureError as exc:
        if not (auto and isinstance(cap, Tcpdump) and find_dumpcap() and _PRIVILEGE_ERROR.search(str(exc))):
            raise
        first = exc
    fallback = Dumpcap(pcap_path, bpf, interface=interface, rotate_mb=rotate_mb)
    try:
        fallback.start(timeout)
    except InfrastructureError as exc:
        raise InfrastructureError(f"no capture tool could start: {first}; then {exc}; {_BOTH_TOOLS_FIX}") from exc
    return fallback
