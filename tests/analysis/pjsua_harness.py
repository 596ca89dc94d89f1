"""A small harness for real pjsua calls captured by a real tcpdump on ``lo``.

Used by the analyser's integration test until the driver (callgen.driver) takes
over.  Every wait is on an event with a timeout; every child is stopped in
``close``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from dataclasses import dataclass, field

import pexpect

PJSUA = os.environ.get("PJSUA", os.path.join(os.path.dirname(__file__), "..", "..", ".build", "bin", "pjsua"))
DTMF_LINE = re.compile(r"Incoming DTMF on call \d+: ([0-9A-D*#])(?::duration\(\d+\))?, using (.+?) method")


def free_port(even_pair: bool = False) -> int:
    """A UDP port free now (bind to 0); with ``even_pair`` an even port whose +1 is free too (RTP/RTCP)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not even_pair:
            return port
        port &= ~1
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free UDP port pair found")


class Tcpdump:
    def __init__(self, path: str, bpf: str, timeout: float = 10.0):
        self.proc = subprocess.Popen(
            ["tcpdump", "-i", "lo", "-U", "-n", "-s", "0", "-w", path, bpf],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._wait_listening(timeout)

    def _wait_listening(self, timeout: float) -> None:
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(self.proc.stderr, selectors.EVENT_READ)
        seen = ""
        while "listening on" not in seen:
            if not sel.select(timeout):
                self.stop()
                raise RuntimeError(f"tcpdump did not start listening within {timeout}s: {seen!r}")
            line = self.proc.stderr.readline()
            if not line:
                self.stop()
                raise RuntimeError(f"tcpdump exited: {seen!r}")
            seen += line

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)


@dataclass
class Agent:
    name: str
    sip_port: int
    rtp_port: int
    log_file: str
    extra: list[str] = field(default_factory=list)
    child: pexpect.spawn | None = None
    output: str = ""

    def start(self, timeout: float = 10.0) -> None:
        args = [
            "--ip-addr=127.0.0.1", "--bound-addr=127.0.0.1", "--null-audio", "--no-tcp",
            f"--local-port={self.sip_port}", f"--rtp-port={self.rtp_port}",
            f"--log-file={self.log_file}", "--log-level=5", "--app-log-level=3", *self.extra,
        ]
        self.child = pexpect.spawn(PJSUA, args, encoding="utf-8", timeout=timeout, codec_errors="replace")
        self.expect("You have 0 active call")

    def expect(self, pattern, timeout: float = 10.0) -> re.Match:
        assert self.child is not None
        self.child.expect(pattern, timeout=timeout)
        self.output += self.child.before + (self.child.after if isinstance(self.child.after, str) else "")
        return self.child.match

    def send(self, line: str) -> None:
        assert self.child is not None
        self.child.sendline(line)

    def quit(self, timeout: float = 10.0) -> None:
        if self.child is None:
            return
        try:
            if self.child.isalive():
                self.child.sendline("q")
                self.child.expect(pexpect.EOF, timeout=timeout)
                self.output += self.child.before or ""
        except (pexpect.TIMEOUT, pexpect.EOF, OSError):
            pass
        finally:
            if self.child.isalive():
                self.child.kill(signal.SIGKILL)
            self.child.close(force=True)

    def received_digits(self) -> list[tuple[str, str]]:
        return DTMF_LINE.findall(self.output)
