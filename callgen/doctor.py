"""``callgen doctor``: is everything callgen needs on this machine?"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from callgen.capture import capture_tool, start_capture
from callgen.errors import InfrastructureError, UsageError
from callgen.toolpaths import find_pjsua


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    required: bool
    detail: str
    hint: str = ""


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


def check_capture(tool: str | None = None) -> tuple[bool, str]:
    """Can the capture tool really open lo? Start a capture, await its ready line, stop it."""
    with tempfile.TemporaryDirectory(prefix="callgen-doctor-") as d:
        try:
            cap = start_capture(Path(d) / "probe.pcap", "udp port 9", tool=tool, timeout=10)
        except (InfrastructureError, UsageError) as exc:
            return False, str(exc)
        cap.stop()
    return True, f"{cap.binary} may capture on lo"


def diagnose(pjsua: str | None = None) -> list[Finding]:
    out: list[Finding] = []
    p = find_pjsua(pjsua, required=False)
    if p:
        probe = probe_pjsua(p)
        if probe.works:
            out.append(Finding("pjsua", True, True, f"{p} (pjproject {probe.version}, {len(probe.codecs)} codecs)"))
        else:
            out.append(Finding("pjsua", False, True, f"{p} does not work: {probe.problem}",
                               "rebuild it with 'make setup', or point PJSUA=/path at a working pjsua"))
    else:
        out.append(Finding("pjsua", False, True, "not found", "run 'make setup' (builds it into .build/bin) or set PJSUA=/path/to/pjsua"))
    ok, detail = check_capture()
    out.append(Finding("capture", ok, True, f"{capture_tool()}: {detail}" if ok else detail,
                       "" if ok else "run as root, or give tcpdump/dumpcap CAP_NET_RAW; CALLGEN_CAPTURE=dumpcap in pods"))
    for tool, pkg, why in (("tshark", "tshark", "independent oracle in the tests"),
                           ("kamailio", "kamailio", "registrar/proxy for scenarios that need one"),
                           ("sipp", "sip-tester", "interop peer"),
                           ("sox", "sox", "audio file conversion")):
        path = shutil.which(tool)
        out.append(Finding(tool, bool(path), False, path or f"not found ({why})", "" if path else f"apt-get install {pkg}"))
    return out


def codec_list(pjsua: str | None = None) -> list[str]:
    p = find_pjsua(pjsua, required=False)
    return pjsua_codecs(p) if p else []
