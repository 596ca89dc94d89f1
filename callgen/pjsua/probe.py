"""What a pjsua binary can do, found by running it: its version and its codecs."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass


def _run(argv: list[str], timeout: float = 10.0) -> tuple[int, str]:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return -1, str(exc)
    return p.returncode, (p.stdout or "") + (p.stderr or "")


def pjsua_version(path: str) -> str:
    rc, out = _run([path, "--version"])
    m = re.search(r"PJ_VERSION\s*:\s*(\S+)", out) or re.search(r"PJSUA v?(\S+)", out)
    return m[1] if m else ("unknown" if rc == 0 else f"cannot run ({out.strip()[:80]})")


@dataclass(frozen=True)
class PjsuaProbe:
    """What running a pjsua binary proved: its version and its codecs, or why not."""

    version: str | None
    codecs: tuple[str, ...]

    @property
    def works(self) -> bool:
        return self.version is not None and bool(self.codecs)

    @property
    def problem(self) -> str:
        if self.version is None:
            return "'--version' printed no pjproject version"
        return "it started but listed no audio codecs"


def probe_pjsua(path: str) -> PjsuaProbe:
    """Run ``path --version`` and list its codecs; only both together prove a working pjsua."""
    rc, out = _run([path, "--version"])
    m = re.search(r"PJ_VERSION\s*:\s*(\S+)", out) or re.search(r"PJSUA v?(\d\S*)", out)
    version = m[1] if m and rc == 0 else None
    return PjsuaProbe(version, tuple(pjsua_codecs(path)) if version else ())


def pjsua_codecs(path: str) -> list[str]:
    """Codec ids the built pjsua knows, from its 'Cp' (codec priorities) menu command."""
    argv = [path, "--null-audio", "--no-tcp", "--local-port=0", "--ip-addr=127.0.0.1",
            "--bound-addr=127.0.0.1", "--log-level=1", "--app-log-level=1"]
    try:
        p = subprocess.run(argv, input="Cp\n\nq\n", capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return []
    text = p.stdout.split("List of audio codecs:", 1)[-1].split("Enter codec id", 1)[0]
    return re.findall(r"^\s*\d+\s+(\S+/\d+(?:/\d+)?)\s*$", text, re.M)
