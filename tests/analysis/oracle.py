"""tshark as an independent oracle for the analyser's tests and benchmark."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

_STREAM = re.compile(
    r"^\s*\S+\s+\S+\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+(0x[0-9A-Fa-f]+)\s+(.*?)\s+(\d+)\s+(-?\d+) \("
)


def have_tshark() -> bool:
    return shutil.which("tshark") is not None


@dataclass(frozen=True)
class TsharkStream:
    src: str
    dst: str
    ssrc: int
    payload: str
    packets: int
    lost: int  #: expected - received (duplicates netted out)


def _run(args: list[str], timeout: float = 600) -> str:
    proc = subprocess.run(["tshark", *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"tshark {' '.join(args)} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def rtp_streams(path: str, heuristic: bool = False) -> list[TsharkStream]:
    args = ["-r", path, "-q", "-z", "rtp,streams"]
    if heuristic:
        args += ["--enable-heuristic", "rtp_udp"]
    out = []
    for line in _run(args).splitlines():
        m = _STREAM.match(line)
        if m:
            out.append(
                TsharkStream(
                    f"{m.group(1)}:{m.group(2)}",
                    f"{m.group(3)}:{m.group(4)}",
                    int(m.group(5), 16),
                    m.group(6),
                    int(m.group(7)),
                    int(m.group(8)),
                )
            )
    return out


def rtp_events(path: str, pt: int, heuristic: bool = False) -> list[tuple[int, int, int, bool]]:
    """(ssrc, rtp timestamp, event id, end) per RFC 4733 packet, in capture order."""
    args = ["-r", path, "-o", f"rtpevent.event_payload_type_value:{pt}", "-Y", "rtpevent", "-T", "fields",
            "-e", "rtp.ssrc", "-e", "rtp.timestamp", "-e", "rtpevent.event_id", "-e", "rtpevent.end_of_event"]
    if heuristic:
        args += ["--enable-heuristic", "rtp_udp"]
    rows = []
    for line in _run(args).splitlines():
        f = line.split("\t")
        if len(f) >= 4 and f[0]:
            rows.append((int(f[0], 16), int(f[1]), int(f[2]), f[3].strip() in ("1", "True")))
    return rows


def digits_by_ssrc(rows: list[tuple[int, int, int, bool]]) -> dict[int, str]:
    """One digit per (ssrc, timestamp) group, in order of first appearance."""
    seen: set[tuple[int, int]] = set()
    out: dict[int, str] = {}
    for ssrc, ts, ev, _end in rows:
        if (ssrc, ts) in seen or ev > 15:
            continue
        seen.add((ssrc, ts))
        out[ssrc] = out.get(ssrc, "") + "0123456789*#ABCD"[ev]
    return out


def rtcp_reports(path: str) -> list[tuple[int, int, float | None]]:
    """(cumulative lost, jitter in timestamp units, round-trip ms or None) per RTCP report block."""
    out = _run(["-r", path, "-o", "rtcp.show_roundtrip_calculation:TRUE", "-o", "rtcp.roundtrip_min_threshhold:0",
                "-Y", "rtcp.ssrc.cum_nr", "-T", "fields", "-e", "rtcp.ssrc.cum_nr", "-e", "rtcp.ssrc.jitter",
                "-e", "rtcp.roundtrip-delay"])
    rows = []
    for line in out.splitlines():
        cum, jit, rtt = (line.split("\t") + ["", "", ""])[:3]
        rows.append((int(cum), int(jit), float(rtt) if rtt else None))
    return rows


def rtp_stream_jitter(path: str) -> list[tuple[float, float]]:
    """(mean jitter ms, max jitter ms) per stream of tshark's ``-z rtp,streams`` table."""
    rows = []
    for line in _run(["-r", path, "-q", "-z", "rtp,streams"]).splitlines():
        m = re.search(r"\(\s*[\d.]+%\)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", line)
        if m:
            rows.append((float(m.group(5)), float(m.group(6))))
    return rows
