"""``callgen doctor``: is everything callgen needs on this machine?"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from callgen.errors import InfrastructureError, UsageError
from callgen.pjsua.features import Feature, supported_features
from callgen.pjsua.probe import pjsua_codecs, probe_pjsua
from callgen.pjsua.toolpaths import find_pjsua
from callgen.run.capture import capture_tool, start_capture


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    required: bool
    detail: str
    hint: str = ""


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
            out.append(features_finding(p))
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
                           ("rtpengine", "rtpengine", "media relay of the local SBC (targets local kind sbc)"),
                           ("sipp", "sip-tester", "interop peer"),
                           ("sox", "sox", "audio file conversion")):
        path = shutil.which(tool)
        out.append(Finding(tool, bool(path), False, path or f"not found ({why})", "" if path else f"apt-get install {pkg}"))
    return out


def features_finding(pjsua: str) -> Finding:
    """What this pjsua can do beyond a stock one (callgen's patches, IPv6); not required:
    scenarios that need a missing feature are refused at validate."""
    have = supported_features(pjsua)
    lines = [f"{'yes' if f in have else 'no '} {f.value}: {f.meaning}" for f in Feature]
    missing = [f for f in Feature if f not in have]
    return Finding("features", not missing, False, "\n                   ".join(lines),
                   "" if not missing else "scenarios using these are refused; 'make setup' builds a pjsua with callgen's "
                                          "patches (docs/pjsua-patches.md)")


def codec_list(pjsua: str | None = None) -> list[str]:
    p = find_pjsua(pjsua, required=False)
    return pjsua_codecs(p) if p else []
