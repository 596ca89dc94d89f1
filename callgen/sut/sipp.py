"""SIPp (Debian ``sip-tester``) as an independent SIP peer.

Why: pjsua talking to pjsua proves little about interoperability; SIPp is an
unrelated implementation whose built-in ``uas``/``uac`` scenarios answer or
place calls and whose exit status says whether every call passed
(0 = all calls successful, 1 = at least one failed, 97 = stopped by a signal or
internal command, 99 = normal exit without calls, 255 = fatal error, e.g. a socket
could not be bound).

Every socket SIPp opens is pinned to loopback and to ports chosen here: SIP
(``-i``/``-p``), media (``-mi``/``-mp``, default 6000 would collide between
runs) and the control socket (``-ci``/``-cp``, default 0.0.0.0:8888).
SIPp prints nothing before it ends when stdout is not a terminal, so readiness
is the kernel's own record: its SIP UDP socket appears in ``/proc/net/udp``
owned by the SIPp process.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from callgen import spawn
from callgen.analysis.ipaddr import endpoint
from callgen.errors import AgentTimeout, InfrastructureError, UsageError
from callgen.sut.ports import LOOPBACK, reserve_ports
from callgen.sut.process import stop_group

BUILTIN_SCENARIOS = ("uac", "uas", "regexp", "branchc", "branchs", "uac_pcap")
HOSTPORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")
_STAT_LINE = re.compile(r"^\s*(Successful call|Failed call)\s*\|\s*(\d+)\s*\|\s*(\d+)", re.MULTILINE)
EXIT_MEANINGS = {
    0: "all calls successful",
    1: "at least one call failed",
    97: "stopped by a signal or internal command",
    99: "normal exit without calls processed",
    255: "fatal error",
}


def find_sipp() -> Path:
    found = os.environ.get("SIPP") or shutil.which("sipp")
    if not found:
        raise InfrastructureError("sipp not found (Debian package 'sip-tester'; or set SIPP=/path)")
    return Path(found)


@dataclass(frozen=True)
class SippConfig:
    """One SIPp run.  ``remote`` (``host:port``) makes it a client; ``port=None`` picks a free one."""

    workdir: Path
    scenario: str = "uas"  #: a built-in scenario name (``-sn``) ...
    scenario_file: Path | None = None  #: ... or an XML scenario (``-sf``), which wins
    remote: str | None = None
    service: str | None = None  #: Request-URI user part (``-s``)
    calls: int = 1  #: stop after this many calls (``-m``)
    rate: float | None = None  #: calls per second (``-r``)
    call_duration_ms: int | None = None  #: pause length in the built-in scenarios (``-d``)
    address: str = LOOPBACK
    port: int | None = None
    timeout_s: float = 30.0  #: SIPp's own global timeout; reaching it is an error (exit != 0)
    ready_timeout: float = 10.0
    stop_timeout: float = 5.0
    binary: Path | None = None
    extra_args: tuple[str, ...] = field(default_factory=tuple)

    def validate(self) -> None:
        if self.scenario_file is None and self.scenario not in BUILTIN_SCENARIOS:
            raise UsageError(f"sipp scenario {self.scenario!r} is not built in ({', '.join(BUILTIN_SCENARIOS)})")
        if self.scenario_file is not None and not Path(self.scenario_file).is_file():
            raise UsageError(f"{self.scenario_file}: sipp scenario file not found")
        if self.remote is not None and not HOSTPORT.match(self.remote):
            raise UsageError(f"sipp remote {self.remote!r} must be host:port")
        if self.calls < 1:
            raise UsageError("sipp calls must be >= 1")
        if self.timeout_s <= 0:
            raise UsageError("sipp timeout must be > 0")


@dataclass(frozen=True)
class SippResult:
    """What a finished SIPp run reported."""

    exit_code: int
    successful_calls: int | None  #: cumulative, from SIPp's final statistics screen
    failed_calls: int | None
    stdout_path: Path
    error_log: Path
    expected_calls: int

    @property
    def ok(self) -> bool:
        """Exit 0 *and* every expected call successful: SIPp also exits 0 when stopped early with no calls."""
        return self.exit_code == 0 and self.failed_calls == 0 and self.successful_calls == self.expected_calls

    def describe(self) -> str:
        meaning = EXIT_MEANINGS.get(self.exit_code, "unexpected exit status")
        return (
            f"sipp exit {self.exit_code} ({meaning}); successful calls {self.successful_calls} "
            f"of {self.expected_calls}, failed calls {self.failed_calls}"
        )


def parse_final_counts(screen: str) -> tuple[int | None, int | None]:
    """Cumulative successful/failed calls from the last statistics screen SIPp printed."""
    found: dict[str, int] = {}
    for m in _STAT_LINE.finditer(screen):
        found[m.group(1)] = int(m.group(3))  # later screens overwrite earlier ones
    return found.get("Successful call"), found.get("Failed call")


def proc_net_address(address: str, port: int) -> str:
    """``address:port`` as /proc/net/udp (IPv4) or /proc/net/udp6 prints a local address:
    each 32-bit word of the address in the host's byte order, in hex, then the port."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    packed = socket.inet_pton(family, address)
    words = "".join(f"{int.from_bytes(packed[i:i + 4], sys.byteorder):08X}" for i in range(0, len(packed), 4))
    return f"{words}:{port:04X}"


def _udp_inodes(address: str, port: int) -> set[str]:
    """Inodes of UDP sockets bound to ``address:port`` according to /proc/net/udp (or udp6)."""
    want = proc_net_address(address, port)
    inodes = set()
    try:
        with open("/proc/net/udp6" if ":" in address else "/proc/net/udp", encoding="ascii") as f:
            next(f, None)
            for line in f:
                cols = line.split()
                if len(cols) > 9 and cols[1] == want:
                    inodes.add(cols[9])
    except OSError:
        pass
    return inodes


def owns_udp_socket(pid: int, address: str, port: int) -> bool:
    """True when process ``pid`` holds a UDP socket bound to ``address:port``."""
    inodes = _udp_inodes(address, port)
    if not inodes:
        return False
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


class SippProcess:
    """A SIPp run in its own process group; ``start`` returns once its SIP socket is bound."""

    def __init__(self, config: SippConfig):
        config.validate()
        self.config = config
        self.address = config.address
        # One block for every socket SIPp opens, so no two of them can get the same
        # port from separate kernel picks: [SIP], media -mp..-mp+3 (audio, video), control.
        # an IPv6 SIPp's control socket is on the IPv4 loopback (see argv): the block is free on both
        also = (LOOPBACK,) if ":" in config.address else ()
        self._reserved = reserve_ports(5 if config.port else 6, config.address, also=also)  # until it is stopped
        base = self._reserved.base
        self.port = config.port or base
        self.media_port = base if config.port else base + 1
        self.control_port = self.media_port + 4
        self.workdir = Path(config.workdir)
        name = config.scenario_file.stem if config.scenario_file else config.scenario
        self.stdout_path = self.workdir / f"sipp-{name}-{self.port}.out"
        self.error_log = self.workdir / f"sipp-{name}-{self.port}-errors.log"
        self._proc: subprocess.Popen | None = None
        self.result: SippResult | None = None

    @property
    def uri(self) -> str:
        """Where to call a SIPp UAS, e.g. ``sip:service@127.0.0.1:5062``."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"sip:{self.config.service or 'service'}@{host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def argv(self) -> list[str]:
        c = self.config
        argv = [str(c.binary or find_sipp())]
        if c.remote:
            argv.append(c.remote)
        argv += ["-sf", str(c.scenario_file)] if c.scenario_file else ["-sn", c.scenario]
        # SIPp's remote-control socket is IPv4 only ("Address family not supported" on ::1): an
        # IPv6 SIPp keeps it on the IPv4 loopback
        control = LOOPBACK if ":" in self.address else self.address
        argv += ["-i", self.address, "-p", str(self.port), "-mi", self.address, "-mp", str(self.media_port),
                 "-ci", control, "-cp", str(self.control_port), "-m", str(c.calls), "-nostdin",
                 "-timeout", f"{c.timeout_s:g}s", "-timeout_error",
                 "-trace_err", "-error_file", str(self.error_log)]  # fmt: skip
        if c.service:
            argv += ["-s", c.service]
        if c.rate is not None:
            argv += ["-r", f"{c.rate:g}"]
        if c.call_duration_ms is not None:
            argv += ["-d", str(c.call_duration_ms)]
        return argv + list(c.extra_args)

    def start(self) -> SippProcess:
        if self._proc is not None:
            raise InfrastructureError("sipp already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = self.argv()
        with open(self.stdout_path, "wb") as out:
            try:
                self._proc = spawn.popen(
                    argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir,
                )
            except OSError as exc:
                raise InfrastructureError(f"cannot start sipp ({argv[0]}): {exc.strerror}") from None
        deadline = time.monotonic() + self.config.ready_timeout
        while not owns_udp_socket(self._proc.pid, self.address, self.port):
            if self._proc.poll() is not None:
                self._finish()
                why = self._tail()
                errors = [ln.strip() for ln in self.errors().splitlines() if ln.strip()]
                if errors:  # SIPp's reason (e.g. a socket it could not bind) is in its error file
                    why += f"; sipp's error log: {errors[-1][:300]}"
                raise InfrastructureError(f"sipp exited before binding {endpoint(self.address, self.port)}: {why}")
            if time.monotonic() > deadline:
                self.stop()
                raise AgentTimeout(f"sipp did not bind {endpoint(self.address, self.port)} within {self.config.ready_timeout:g} s")
            time.sleep(0.01)  # the kernel offers no event for "another process bound a socket"
        return self

    def wait(self, timeout: float) -> SippResult:
        """Wait for SIPp to finish its calls; on timeout stop it and raise AgentTimeout."""
        if self._proc is None:
            raise InfrastructureError("sipp not started")
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AgentTimeout(f"sipp ({self.config.scenario}) still running after {timeout:g} s") from None
        return self._finish()

    def stop(self) -> SippResult | None:
        """SIGUSR1 (SIPp's graceful quit), then SIGTERM/SIGKILL of the group after timeouts."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGUSR1)
                self._proc.wait(timeout=self.config.stop_timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        return self._finish()

    def _finish(self) -> SippResult:
        if self.result is None:
            code = stop_group(self._proc, self.config.stop_timeout)
            successful, failed = parse_final_counts(self._read(self.stdout_path))
            code = code if code >= 0 else 128 - code  # killed by signal N -> 128 + N, as a shell reports it
            self.result = SippResult(code, successful, failed, self.stdout_path, self.error_log, self.config.calls)
            self._reserved.close()
        return self.result

    def _tail(self) -> str:
        lines = [ln.strip() for ln in self._read(self.stdout_path).splitlines() if ln.strip()]
        return lines[-1][:300] if lines else f"no output (exit {self._proc.returncode})"

    @staticmethod
    def _read(path: Path) -> str:
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def errors(self) -> str:
        """SIPp's unexpected-message log (``-trace_err``), empty when there were none."""
        return self._read(self.error_log)

    def __enter__(self) -> SippProcess:
        return self.start() if self._proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_sipp(workdir: Path, scenario: str = "uas", **options) -> SippProcess:
    """Start SIPp with a built-in scenario; ``options`` are further SippConfig fields."""
    return SippProcess(SippConfig(Path(workdir), scenario=scenario, **options)).start()
