"""The parts of a call's media table beyond the stream figures: a stable stream order,
the packets-per-bin strip's expected level, MOS marked where the E-model's codec figures
are assumptions, PESQ beside the streams and the recordings with an inline player.

The player links the ``.rec.wav`` in the run folder relative to the page (no ``data:``
URI: a recording is hundreds of kB), so the page still works offline and self-contained.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from callgen.analysis.emodel import codec_impairment
from callgen.reports.svg import esc
from callgen.verdict.findings import StreamFinding
from callgen.verdict.result import CheckResult

PTIMES_MS = (10, 20, 30, 40, 60)  #: packet times a stream is snapped to (within 15 %)


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def ordered_streams(streams: Iterable[StreamFinding], owners: Mapping[str, str]) -> list[StreamFinding]:
    """By call, direction (who sends to whom), first packet: the same on every page and run,
    whatever order the capture held them in."""
    def key(s: StreamFinding) -> tuple[str, str, str, float]:
        src, dst = s.src, s.dst
        return (str(s.call_id or ""), owners.get(src, src), owners.get(dst, dst), _num(s.first_time) or 0.0)
    return sorted(streams, key=key)


def ptime_ms(stream: StreamFinding) -> float | None:
    """The stream's packet time, from its packets over its duration, snapped to a usual one."""
    packets, duration = _num(stream.packets), _num(stream.duration)
    if not packets or packets < 3 or not duration or duration <= 0:
        return None
    interval = duration * 1000 / (packets - 1)
    near = min(PTIMES_MS, key=lambda p: abs(p - interval))
    return float(near) if abs(near - interval) <= 0.15 * near else None


def strip_expectation(stream: StreamFinding) -> tuple[float | None, str]:
    """(packets a bin of the strip should hold, how that was worked out)."""
    bin_ms = _num(stream.timeline.bin_ms) if stream.timeline else None
    ptime = ptime_ms(stream)
    if not bin_ms or not ptime:
        return None, ""
    per_bin = bin_ms / ptime
    return per_bin, (f"{per_bin:g} packets expected per {bin_ms:g} ms at a {ptime:g} ms packet time "
                     f"({stream.packets} packets over {stream.duration} s)")


def mos_assumption(stream: StreamFinding) -> str:
    """Why the stream's MOS rests on assumed codec figures ("" when G.113 gives them)."""
    imp = codec_impairment(str(stream.codec or "")) if stream.mos is not None else None
    return imp.source if imp is not None and "assumption" in imp.source else ""


def mos_html(stream: StreamFinding) -> str:
    mos = _num(stream.mos)
    if mos is None:
        return '<span title="the E-model has no figures for this codec">n/a</span>'
    why = mos_assumption(stream)
    if not why:
        return f"{mos:.2f}"
    return (f'<span class="assumed" title="{esc("assumed codec figures: " + why)}">{mos:.2f}'
            '<sup>*</sup></span>')


def assumption_notes(streams: Sequence[StreamFinding]) -> Iterable[str]:
    notes = sorted({f"{str(s.codec).split('/')[0]}: {mos_assumption(s)}" for s in streams if mos_assumption(s)})
    if notes:
        yield ('<p class="muted assumed-note">* MOS from the E-model (G.107) with codec figures G.113 does not give, '
               "assumed: " + "; ".join(esc(n) for n in notes) + "</p>")


_PESQ = re.compile(r"PESQ MOS-LQO (\d+(?:\.\d+)?) \((\w+)")
_AUDIO = re.compile(r"(call\d+)\.audio\[([^\]]+)\]")


@dataclass(frozen=True)
class Recording:
    agent: str  #: who recorded what it received
    link: str  #: the .rec.wav relative to the page ("" when the file is gone)
    pesq: str  #: "2.25 (wb)", "" when not scored
    pesq_passed: bool | None = None


def pesq_scores(checks: Sequence[CheckResult], call: str) -> dict[str, tuple[str, bool]]:
    """receiver -> ("2.25 (wb)", passed) from the call's ``callN.audio[A].pesq`` checks."""
    out = {}
    for c in checks:
        m = _AUDIO.match(c.name)
        if m and m[1] == call and c.name.endswith(".pesq"):
            score = _PESQ.search(c.seen)
            out[m[2]] = (f"{score[1]} ({score[2]})" if score else c.seen, c.passed)
    return out


def recordings(call: str, agents: Sequence[str], checks: Sequence[CheckResult], files: Any) -> list[Recording]:
    """The recordings of the call's agents (and of every receiver its audio checks name)."""
    links = dict(getattr(files, "files", ()) or ())
    scores = pesq_scores(checks, call)
    named = [m[2] for c in checks for m in (_AUDIO.match(c.name),) if m and m[1] == call]
    out = []
    for agent in dict.fromkeys([*named, *agents]):
        link = links.get(f"{agent}.rec.wav", "")
        if not link and agent not in named:
            continue
        pesq, passed = scores.get(agent, ("", None))
        out.append(Recording(agent, link, pesq, passed))
    return out


def receiver_pesq(stream: StreamFinding, owners: Mapping[str, str], recs: Sequence[Recording]) -> str:
    """The PESQ of the recording this stream was heard in (its receiver's), for the table."""
    dst = stream.dst
    owner = owners.get(dst, "")
    words = re.split(r"[\s→>-]+", owner)
    for r in recs:
        if r.pesq and (owner == r.agent or (words and words[0] == r.agent)):
            cls = "pass" if r.pesq_passed else "fail" if r.pesq_passed is False else ""
            return f'<span class="pesq {cls}" title="PESQ MOS-LQO of {esc(r.agent)}\'s recording">{esc(r.pesq)}</span>'
    return '<span class="muted" title="no PESQ for this direction">-</span>'


def recordings_rows(recs: Sequence[Recording], colspan: int) -> Iterable[str]:
    for r in recs:
        pesq = f"; PESQ MOS-LQO {esc(r.pesq)}" if r.pesq else ""
        if r.link:
            yield (f'<tr class="rec"><td colspan="{colspan}">recording at {esc(r.agent)}: '
                   f'<audio controls preload="metadata" src="{esc(r.link)}"></audio> '
                   f'<a href="{esc(r.link)}">{esc(r.agent)}.rec.wav</a>{pesq}</td></tr>')
        else:
            yield (f'<tr class="rec"><td colspan="{colspan}">recording at {esc(r.agent)}: '
                   f'<span class="muted">file not kept</span>{pesq}</td></tr>')
