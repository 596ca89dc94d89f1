"""tcpdump on the loopback interface, for one run.

Started and confirmed listening (its "listening on" line) before the first
agent starts; stopped with SIGINT and waited for, so the pcap is complete.
``-U`` writes packet by packet, so an interrupted run still leaves a readable
capture.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from callgen.errors import InfrastructureError

LISTENING = re.compile(r"listening on (\S+)")
STATS = re.compile(r"(\d+) packets? captured|(\d+) packets? dropped by kernel")


@dataclass(frozen=True)
class CaptureStats:
    captured: int | None
    dropped_by_kernel: int | None
    stderr: str


def port_filter(port_ranges: Sequence[tuple[int, int]], ports: Sequence[int] = ()) -> str:
    """BPF filter for UDP/TCP traffic touching the run's ports."""
    terms = [f"portrange {lo}-{hi}" for lo, hi in port_ranges] + [f"port {p}" for p in sorted(set(ports))]
    return f"(udp or tcp) and ({' or '.join(terms)})" if terms else "udp or tcp"


def find_tcpdump() -> str | None:
    return shutil.which("tcpdump") or next(
        (p for p in ("/usr/bin/tcpdump", "/usr/sbin/tcpdump") if os.access(p, os.X_OK)), None
    )


class Tcpdump:
    """One tcpdump process writing ``pcap_path``."""

    def __init__(self, pcap_path: Path, bpf: str, *, interface: str = "lo", binary: str | None = None):
        self.pcap_path = Path(pcap_path)
        self.bpf = bpf
        self.interface = interface
        self.binary = binary or find_tcpdump()
        self._proc: subprocess.Popen | None = None
        self._stderr: list[str] = []
        self._listening = threading.Event()
        self._reader: threading.Thread | None = None

    def argv(self) -> list[str]:
        argv = [self.binary or "tcpdump", "-i", self.interface, "-n", "-U", "-s", "0", "-w", str(self.pcap_path)]
        if os.geteuid() == 0:
            argv += ["-Z", "root"]  # keep root so it may write into a root-owned run folder
        return argv + [self.bpf]

    def start(self, timeout: float = 10.0) -> None:
        if not self.binary:
            raise InfrastructureError("tcpdump not found (install the Debian package 'tcpdump'; 'callgen doctor' checks it)")
        self._proc = subprocess.Popen(
            self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read_stderr, name="tcpdump-stderr", daemon=True)
        self._reader.start()
        if not self._listening.wait(timeout):
            self.stop()
            raise InfrastructureError(
                f"tcpdump did not start listening on {self.interface} within {timeout:g} s: {self._stderr_text()}"
            )
        if self._proc.poll() is not None:
            raise InfrastructureError(f"tcpdump exited at start: {self._stderr_text()}")

    def _read_stderr(self) -> None:
        assert self._proc and self._proc.stderr
        for line in self._proc.stderr:
            self._stderr.append(line.rstrip("\n"))
            if LISTENING.search(line):
                self._listening.set()
        self._listening.set()  # EOF: tcpdump ended; start() then reports why

    def _stderr_text(self) -> str:
        text = " | ".join(l for l in self._stderr if l.strip())
        if "permission" in text.lower() or "operation not permitted" in text.lower():
            text += " (capture needs root or CAP_NET_RAW: run as root, or setcap cap_net_raw,cap_net_admin=eip on tcpdump)"
        return text or "no output"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stop(self, timeout: float = 5.0) -> CaptureStats:
        """SIGINT (tcpdump flushes and prints its counters), then SIGKILL."""
        proc = self._proc
        if proc is None:
            return CaptureStats(None, None, "")
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(2.0)
        if self._reader:
            self._reader.join(2.0)
        captured = dropped = None
        for line in self._stderr:
            for m in STATS.finditer(line):
                if m[1]:
                    captured = int(m[1])
                if m[2]:
                    dropped = int(m[2])
        return CaptureStats(captured, dropped, "\n".join(self._stderr))
