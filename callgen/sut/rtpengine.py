"""A real rtpengine (Debian ``rtpengine``) relaying media in userspace: the media half of an SBC.

Lifecycle: ``rtpengine --foreground --table=-1 --interface=127.0.0.1 --listen-ng=...
--port-min=A --port-max=B --config-file=none`` started by ``callgen.spawn.popen`` (its own
session, registered with callgen's watchdog so it never outlives callgen), inherited
descriptors closed, output -> ``rtpengine.log`` in the work directory;
ready when an ng ``ping`` gets ``pong`` (never a fixed sleep); stop = SIGTERM to
the group, SIGKILL after a timeout, the group awaited until empty.
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from callgen import spawn
from callgen.errors import InfrastructureError
from callgen.sut.ports import LOOPBACK, reserve_ports
from callgen.sut.process import how_it_ended, stop_group

#: names the rtpengine binary
BINARY_ENV = "CALLGEN_RTPENGINE_BIN"
#: media ports one relay may use: 2 (RTP+RTCP) per leg, 2 legs per call
MEDIA_PORTS = 64
#: ports per call it relays at once (2 legs, RTP+RTCP each), and the most one relay takes (above RUN_PORTS_LAST)
PORTS_PER_CALL, MAX_MEDIA_PORTS = 4, 5000


def media_ports_for(calls_at_once: int) -> int:
    """A port range for ``calls_at_once`` relayed calls, with room: rtpengine frees a call's ports
    only when its deletion comes through, and refuses new calls when the range is used up (it
    logs "Failed to get 2 consecutive ports" and Kamailio passes the SDP on unanchored)."""
    return min(MAX_MEDIA_PORTS, max(MEDIA_PORTS, PORTS_PER_CALL * calls_at_once * 3 // 2 + MEDIA_PORTS))


def find_rtpengine() -> Path:
    """$CALLGEN_RTPENGINE_BIN, else ``rtpengine`` on PATH, else /usr/bin/rtpengine."""
    given = os.environ.get(BINARY_ENV, "").strip()
    if given:
        if os.path.isfile(given) and os.access(given, os.X_OK):
            return Path(given)
        raise InfrastructureError(f"${BINARY_ENV}={given} is not an executable file")
    found = shutil.which("rtpengine") or ("/usr/bin/rtpengine" if os.access("/usr/bin/rtpengine", os.X_OK) else None)
    if not found:
        raise InfrastructureError(f"rtpengine not found (Debian package 'rtpengine'; or set {BINARY_ENV}=/path)")
    return Path(found)


def ng_ping(host: str, port: int, timeout: float, still_running=lambda: True, interval: float = 0.1) -> bool:
    """Send the ng protocol's ``ping`` until ``pong`` comes back (True) or ``timeout`` runs out."""
    cookie = os.urandom(4).hex()
    message = f"{cookie} d7:command4:pinge".encode()
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        while time.monotonic() < deadline and still_running():
            try:
                sock.sendto(message, (host, port))
            except OSError:
                pass
            until = min(deadline, time.monotonic() + interval)
            while (left := until - time.monotonic()) > 0:
                if not select.select([sock], [], [], left)[0]:
                    break
                try:
                    data = sock.recv(4096)
                except ConnectionRefusedError:
                    time.sleep(max(0.0, until - time.monotonic()))  # pacing the retry, not a synchronisation
                    break
                if data.startswith(cookie.encode()) and b"pong" in data:
                    return True
    return False


@dataclass(frozen=True)
class RtpengineConfig:
    workdir: Path
    address: str = LOOPBACK
    ng_port: int | None = None
    media_ports: int = MEDIA_PORTS
    binary: Path | None = None
    ready_timeout: float = 10.0
    stop_timeout: float = 5.0


class RtpengineProcess:
    """One running rtpengine (userspace forwarding only); always stopped with its group."""

    def __init__(self, config: RtpengineConfig):
        self.config = config
        self.address = config.address
        # reserved while it runs: it binds a media port only when a call needs one, so "free now" says nothing
        # about the range; a Kamailio or another relay given one of its ports would lose that port's traffic
        self._reserved = [reserve_ports(config.media_ports, config.address)]
        if not config.ng_port:
            self._reserved.append(reserve_ports(1, config.address))
        self.ng_port = config.ng_port or self._reserved[1].base
        self.port_min = self._reserved[0].base
        self.port_max = self.port_min + config.media_ports - 1
        self.workdir = Path(config.workdir)
        self.log_path = self.workdir / "rtpengine.log"
        self._proc: subprocess.Popen | None = None
        self.returncode: int | None = None

    @property
    def ng_socket(self) -> str:
        """What Kamailio's rtpengine module is given: ``udp:127.0.0.1:PORT``."""
        return f"udp:{self.address}:{self.ng_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def argv(self) -> list[str]:
        c = self.config
        return [str(c.binary or find_rtpengine()), "--foreground", "--table=-1", f"--interface={self.address}",
                f"--listen-ng={self.address}:{self.ng_port}", f"--port-min={self.port_min}",
                f"--port-max={self.port_max}", "--config-file=none", "--log-stderr", "--log-level=6",
                f"--pidfile={self.workdir / 'rtpengine.pid'}"]  # fmt: skip

    def start(self) -> RtpengineProcess:
        if self._proc is not None:
            raise InfrastructureError("rtpengine already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = self.argv()
        with open(self.log_path, "wb") as log:
            try:
                # callgen's one way to start a child: its own session, watched so it dies with callgen
                self._proc = spawn.popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         close_fds=True)
            except OSError as exc:
                raise InfrastructureError(f"cannot start rtpengine ({argv[0]}): {exc.strerror}") from None
        if not ng_ping(self.address, self.ng_port, self.config.ready_timeout, lambda: self._proc.poll() is None):
            self.stop()
            why = (f"exited with status {self.returncode}" if self.returncode not in (None, 0, -15)
                   else f"did not answer an ng ping within {self.config.ready_timeout:g} s")
            raise InfrastructureError(f"rtpengine on {self.address}:{self.ng_port} {why}; log {self.log_path}: "
                                      f"{self._last_line()}")
        return self

    def _last_line(self) -> str:
        try:
            lines = [ln for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()]
        except FileNotFoundError:
            return "no log"
        bad = [ln for ln in lines if "ERR" in ln or "CRIT" in ln] or lines[-1:]
        return bad[0][:300] if bad else "empty log"

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def exit_problem(self) -> str:
        """How rtpengine ended if it is gone before ``stop`` ("" while it runs, or never started)."""
        if self._proc is None or self.returncode is not None or self._proc.poll() is None:
            return ""
        how = how_it_ended(self._proc.returncode)
        return f"rtpengine {how} before callgen stopped it" + (f" (log {self.log_path}: {self._last_line()})"
                                                                 if self._proc.returncode >= 0 else "")

    def stop(self) -> int | None:
        if self._proc is not None and self.returncode is None:
            self.returncode = stop_group(self._proc, self.config.stop_timeout)
        if self._proc is None or self.returncode is not None:
            for r in self._reserved:
                r.close()
        return self.returncode

    def __enter__(self) -> RtpengineProcess:
        return self.start() if self._proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()
