"""A minimal pjsua process handle for exercising the harnesses in this package.

Why a second, small pjsua wrapper: the SUT harnesses (Kamailio, SIPp) and the
TLS/audio helpers must be proven against real pjsua processes independently of
the scenario runner's driver, which is built at the same time.  This handle does
only what those proofs need: start, wait for readiness (the menu line
``You have 0 active call``), place/answer calls, list and connect conference
ports, quit — and always reap the process group.
"""

from __future__ import annotations

import os
import re
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pexpect

from callgen.errors import AgentTimeout, InfrastructureError
from callgen.toolpaths import find_pjsua as _find_pjsua

READY = "You have 0 active call"
CONFIRMED = re.compile(r"state changed to CONFIRMED")
DISCONNECTED = re.compile(r"Call (\d+) is DISCONNECTED \[reason=(\d+) \((.*)\)\]")
#: one line of ``cl`` output, e.g. ``Port #01[16KHz/20ms/1] tone_1000hz_3s.wav  transmitting to: ...``
CONF_PORT_LINE = re.compile(r"Port #(\d+)\[[^\]]*\]\s+(\S.*?)\s{2,}transmitting to:", re.MULTILINE)
LOOPBACK_ARGS = ("--ip-addr=127.0.0.1", "--bound-addr=127.0.0.1", "--null-audio")


def find_pjsua() -> Path:
    """The pjsua callgen itself would use (``callgen.toolpaths.find_pjsua``)."""
    return Path(_find_pjsua())


@dataclass(frozen=True)
class ConfPort:
    """A conference bridge port as listed by ``cl``."""

    slot: int
    name: str


@dataclass(frozen=True)
class CallEnd:
    """How a call ended, as printed by pjsua."""

    call_id: int
    code: int
    reason: str


class PjsuaPeer:
    """One pjsua process driven through its menu; use as a context manager."""

    def __init__(
        self, name: str, args: Sequence[str], workdir: Path, *, binary: Path | None = None, sip_port: int | None = None
    ):
        """``sip_port`` adds ``--local-port`` and is kept for building URIs to this peer."""
        self.name = name
        self.sip_port = sip_port
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.transcript_path = self.workdir / f"{name}.out"
        port_args = (f"--local-port={sip_port}",) if sip_port else ()
        self.argv = (str(binary or find_pjsua()), *LOOPBACK_ARGS, *port_args, *args)
        self._child: pexpect.spawn | None = None
        self._log = None

    # -- lifecycle ---------------------------------------------------------
    def start(self, timeout: float = 10.0) -> "PjsuaPeer":
        self._log = open(self.transcript_path, "w", encoding="utf-8", errors="replace")
        self._child = pexpect.spawn(
            self.argv[0], list(self.argv[1:]), cwd=str(self.workdir), encoding="utf-8",
            codec_errors="replace", timeout=timeout, maxread=65536, dimensions=(200, 250),
        )  # fmt: skip
        self._child.logfile_read = self._log
        try:
            self.expect(READY, timeout)
        except AgentTimeout:
            self.close()
            raise
        return self

    def __enter__(self) -> "PjsuaPeer":
        return self.start() if self._child is None else self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child else None

    def alive(self) -> bool:
        return bool(self._child and self._child.isalive())

    def close(self, timeout: float = 5.0) -> None:
        """Quit with ``q``; kill the process group when it does not exit in time."""
        child, self._child = self._child, None
        if child is None:
            return
        try:
            if child.isalive():
                child.sendline("q")
                child.expect(pexpect.EOF, timeout=timeout)
        except (pexpect.TIMEOUT, pexpect.EOF, OSError):
            pass
        finally:
            if child.isalive():
                try:
                    os.killpg(child.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            child.close(force=True)
            if self._log:
                self._log.close()
                self._log = None

    # -- interaction -------------------------------------------------------
    def expect(self, pattern: str | re.Pattern, timeout: float) -> re.Match:
        """Wait for ``pattern`` in pjsua's output; AgentTimeout names what was awaited."""
        if self._child is None:
            raise InfrastructureError(f"pjsua {self.name} is not running")
        try:
            self._child.expect(pattern, timeout=timeout)
        except pexpect.TIMEOUT:
            raise AgentTimeout(f"pjsua {self.name}: no {_show(pattern)!r} within {timeout:g} s") from None
        except pexpect.EOF:
            raise InfrastructureError(f"pjsua {self.name} exited while waiting for {_show(pattern)!r}") from None
        return self._child.match

    def expect_any(self, patterns: Sequence[str | re.Pattern], timeout: float) -> tuple[int, re.Match]:
        if self._child is None:
            raise InfrastructureError(f"pjsua {self.name} is not running")
        try:
            idx = self._child.expect(list(patterns), timeout=timeout)
        except pexpect.TIMEOUT:
            raise AgentTimeout(f"pjsua {self.name}: none of {[_show(p) for p in patterns]} within {timeout:g} s") from None
        except pexpect.EOF:
            raise InfrastructureError(f"pjsua {self.name} exited unexpectedly") from None
        return idx, self._child.match

    def expect_seen(self, patterns: Sequence[str | re.Pattern], timeout: float) -> tuple[int, re.Match]:
        """Like ``expect_any`` but also finds output printed before now, even if an earlier wait consumed it.

        Needed for events that can race the readiness line, e.g. a registration
        answered before pjsua prints its menu.  The earliest occurrence wins.
        """
        text = self.transcript()
        hits = [(m.start(), i, m) for i, p in enumerate(patterns) if (m := re.search(p, text))]
        if hits:
            _, idx, match = min(hits, key=lambda h: h[0])
            return idx, match
        return self.expect_any(patterns, timeout)

    def send(self, line: str) -> None:
        if self._child is None:
            raise InfrastructureError(f"pjsua {self.name} is not running")
        self._child.sendline(line)

    def call(self, uri: str) -> None:
        """Place a call from the current account (menu ``m``)."""
        self.send("m")
        self.expect("Make call: ", 5)
        self.send(uri)

    def wait_call_result(self, timeout: float) -> CallEnd | None:
        """None when the call reached CONFIRMED, else how it was disconnected."""
        idx, match = self.expect_any([CONFIRMED, DISCONNECTED], timeout)
        if idx == 0:
            return None
        return CallEnd(int(match.group(1)), int(match.group(2)), match.group(3))

    def conference_ports(self, timeout: float = 5.0) -> tuple[ConfPort, ...]:
        """List the bridge's ports with ``cl``."""
        self.send("cl")
        self.expect("Conference ports:", timeout)
        self.expect(r"\r?\n\s*\r?\n", timeout)  # the listing ends with a blank line
        block = self._child.before
        return tuple(ConfPort(int(m.group(1)), m.group(2).strip()) for m in CONF_PORT_LINE.finditer(block))

    def connect(self, src: int, dst: int, timeout: float = 5.0) -> None:
        """Connect conference port ``src`` to ``dst`` (menu ``cc``)."""
        self.send("cc")
        self.expect("Connect src port", timeout)
        self.send(str(src))
        self.expect("To dst port", timeout)
        self.send(str(dst))

    def hangup_all(self) -> None:
        self.send("ha")

    def transcript(self) -> str:
        if self._log:
            self._log.flush()
        return self.transcript_path.read_text(encoding="utf-8", errors="replace")


def close_all(peers: Sequence[PjsuaPeer], timeout: float = 5.0) -> None:
    """Quit several peers at once: ``q`` takes about 1 s each (longer while unregistering)."""
    for peer in peers:
        if peer.alive():
            try:
                peer.send("q")
            except (InfrastructureError, OSError):
                pass
    for peer in peers:
        peer.close(timeout)


def _show(pattern: str | re.Pattern) -> str:
    return pattern.pattern if isinstance(pattern, re.Pattern) else str(pattern)
