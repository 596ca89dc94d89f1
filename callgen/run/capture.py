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
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from callgen import spawn
from callgen.errors import InfrastructureError, UsageError

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

    def problems(self) -> list[str]:
        """Why this capture cannot be trusted as the whole record of the run."""
        out = []
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
                 rotate_mb: int | None = None):
        self.pcap_path = Path(pcap_path)
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

    def stop(self, timeout: float = 5.0, *, quiet_since: float | None = None) -> CaptureStats:
        """Drain, SIGINT (the tool flushes and prints its counters), then SIGKILL.

        ``quiet_since``: a ``time.monotonic()`` value after which the caller knows no packet the
        filter matches was sent (its senders were idle or gone); the drain's settle counts from
        it, so the time the senders took to exit needs not be waited again."""
        proc = self._proc
        if proc is None:
            return CaptureStats(None, None, "", self.tool)
        exited_early = proc.poll() is not None
        unresponsive = None
        if not exited_early:
            deadline = time.monotonic() + timeout
            if self._ready_seen:
                self._drain(proc, time.monotonic() + min(timeout / 2, max(2.0, 4 * self.settle)), quiet_since)
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
        return CaptureStats(captured, dropped, "\n".join(self._stderr), self.tool, exited_early, proc.returncode,
                            unresponsive)


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
                 rotate_mb: int | None = None):
        super().__init__(pcap_path, bpf, interface=interface, binary=binary or find_tcpdump(), rotate_mb=rotate_mb)

    def argv(self) -> list[str]:
        # -B: a 32 MiB kernel buffer (the default 2 MiB dropped 7,126 packets at 500 calls held)
        argv = [self.binary or "tcpdump", "-i", self.interface, "-n", "-U", "-s", "0", "-B", str(BUFFER_MIB * 1024),
                "-w", str(self.pcap_path)]
        if self.rotate_mb:  # -C: capture.pcap, capture.pcap1, ... (no -W: a ring would overwrite unread files)
            argv += ["-C", str(self.rotate_mb)]
        if os.geteuid() == 0:
            argv += ["-Z", "root"]  # keep root so it may write into a root-owned run folder
        return argv + [self.bpf]

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
                 rotate_mb: int | None = None):
        super().__init__(pcap_path, bpf, interface=interface, binary=binary or find_dumpcap(), rotate_mb=rotate_mb)

    def argv(self) -> list[str]:
        # -P: pcap, not pcapng (dumpcap 4.0 has no -F); -p: no promiscuous mode, so CAP_NET_RAW alone does;
        # -q: no running packet count on stderr
        # -b filesize (kB of 1000 bytes): capture_00001_<time>.pcap, ...; no files: (a ring would delete unread files)
        rotate = ["-b", f"filesize:{self.rotate_mb * 1000}"] if self.rotate_mb else []
        return [self.binary or "dumpcap", "-i", self.interface, "-p", "-q", "-P", "-B", str(BUFFER_MIB), *rotate,
                "-w", str(self.pcap_path), "-f", self.bpf]

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
