"""Inline SVG pictures for the HTML reports: the SIP ladder of a call, a
packets-over-time strip per RTP stream, and the run summary of a suite.

Everything is drawn on the server side as static markup (no script, no fonts
or images from elsewhere): hover shows an SVG ``<title>``, a click on an arrow
follows a link to the message's ``<details>`` below the picture.  Every text
passes through ``esc``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from callgen.reports.junit import xml_text
from callgen.verdict.findings import DtmfFinding, StreamFinding
from callgen.verdict.ladder import CallFlow, FlowMessage
from callgen.verdict.result import ScenarioResult

LANE_GAP = 250  #: px between lifelines
LANE_X0 = 170  #: x of the first lifeline (the time column is on its left)
ROW_H = 36  #: px per message
TOP = 70  #: y of the first message
LABEL_MAX = 46  #: characters of an arrow label before it is cut
TITLE_LINES = 24  #: lines of the message shown on hover


def esc(value: Any) -> str:
    return html.escape(xml_text(value), quote=True)


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def message_id(anchor: str, flow: CallFlow, index: int) -> str:
    return f"{anchor}-{flow.call}-m{index}"


# --------------------------------------------------------------------------- ladder


CHAR_PX = 6.8  #: width of one character of an arrow label (12 px sans-serif), for fitting it between lifelines


def _arrow_label(m: FlowMessage, room_px: float = LABEL_MAX * CHAR_PX) -> str:
    """Method and Request-URI, or status and reason, cut to fit between the arrow's lifelines;
    the transport (when not UDP) and a retransmission mark are kept whole."""
    label = f"{m.method} {m.request_uri}" if m.method and m.request_uri else m.label
    if m.method is None and m.cseq_method and m.cseq_method != "INVITE":
        label += f" ({m.cseq_method})"
    tail = (f" · {m.transport}" if m.transport and m.transport != "UDP" else "") + (" (retransmission)" if m.retransmission else "")
    limit = max(8, min(LABEL_MAX, int(room_px / CHAR_PX)))
    return cut(label, max(6, limit - len(tail))) + tail


def _hover(m: FlowMessage, who: str) -> str:
    lines = m.text.replace("\r\n", "\n").split("\n")
    shown = "\n".join(lines[:TITLE_LINES]) + ("\n…" if len(lines) > TITLE_LINES else "")
    return f"{who} · from the {m.source}\n{shown or m.label}"


def _lane_heads(flow: CallFlow, height: int) -> list[str]:
    out = []
    for i, p in enumerate(flow.parties):
        x = LANE_X0 + i * LANE_GAP
        out.append(f'<g class="lane"><rect x="{x - 95}" y="4" width="190" height="40" rx="5"/>'
                   f'<text class="party" x="{x}" y="21">{esc(cut(p.name or "(no agent)", 26))}</text>'
                   f'<text class="addr" x="{x}" y="37">{esc(cut(p.address, 30))}</text>'
                   f'<line class="life" x1="{x}" y1="44" x2="{x}" y2="{height - 6}"/></g>')
    return out


def _arrow(flow: CallFlow, anchor: str, i: int, m: FlowMessage) -> str:
    y = TOP + i * ROW_H
    x1 = LANE_X0 + m.src_party * LANE_GAP
    x2 = LANE_X0 + m.dst_party * LANE_GAP
    who = f"{flow.parties[m.src_party].label} → {flow.parties[m.dst_party].label}"
    cls = f"arrow kind-{m.kind}" + (" retrans" if m.retransmission else "")
    if x1 == x2:  # a message to itself (or to an unknown end folded onto it): a small loop
        path = f'<path d="M{x1} {y - 8} h40 v14 h-34" fill="none"/><polygon points="{x1} {y + 6},{x1 + 8} {y + 2},{x1 + 8} {y + 10}"/>'
        lx = x1 + 46
        anchor_attr = 'text-anchor="start"'
        room = LANE_GAP - 60
    else:
        d = 1 if x2 > x1 else -1
        path = (f'<line x1="{x1}" y1="{y}" x2="{x2 - d * 2}" y2="{y}"/>'
                f'<polygon points="{x2} {y},{x2 - d * 10} {y - 5},{x2 - d * 10} {y + 5}"/>')
        lx = (x1 + x2) // 2
        anchor_attr = ""
        room = abs(x2 - x1) - 16
    sdp = f'<text class="sdp" x="{lx}" y="{y + 13}" {anchor_attr}>{esc(cut(m.sdp.label, 40))}</text>' if m.sdp else ""
    return (f'<a href="#{message_id(anchor, flow, i)}"><g class="{cls}"><title>{esc(_hover(m, who))}</title>'
            f'<rect class="hit" x="{min(x1, x2) - 4}" y="{y - 20}" width="{abs(x2 - x1) + 48}" height="{ROW_H - 2}"/>'
            f'<text class="t" x="8" y="{y + 4}">+{m.time - flow.start:.3f}</text>{path}'
            f'<text class="label" x="{lx}" y="{y - 5}" {anchor_attr}>{esc(_arrow_label(m, room))}</text>{sdp}</g></a>')


def ladder_svg(flow: CallFlow, anchor: str) -> str:
    """One lane per party, one arrow per message, time offsets on the left."""
    lanes = max(len(flow.parties), 1)
    width = LANE_X0 + (lanes - 1) * LANE_GAP + 110
    height = TOP + len(flow.messages) * ROW_H
    parts = [f'<svg class="ladder" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="SIP ladder of {esc(flow.call)}">']
    parts += _lane_heads(flow, height)
    parts += [_arrow(flow, anchor, i, m) for i, m in enumerate(flow.messages)]
    parts.append("</svg>")
    return "".join(parts)


# --------------------------------------------------------------------------- stream timeline


@dataclass(frozen=True)
class Span:
    """The time axis of a call's pictures, in epoch seconds."""

    start: float
    end: float

    def x(self, t: float, width: float, x0: float) -> float:
        length = self.end - self.start
        if length <= 0:
            return x0
        return x0 + max(0.0, min(1.0, (t - self.start) / length)) * width


TL_W, TL_H, TL_X0 = 640, 40, 36


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _bins(stream: StreamFinding, span: Span, expected: float | None = None, expected_label: str = "") -> list[str]:
    tl = stream.timeline
    if tl is None or "counts" not in tl.keys:
        return []
    counts = [c if isinstance(c, (int, float)) else 0 for c in tl.counts]
    start, bin_s = _num(tl.start), (_num(tl.bin_ms) or 100.0) / 1000
    if start is None or not counts:
        return []
    top = max(max(counts), expected or 0, 1)
    out = []
    for i, c in enumerate(counts):
        x1, x2 = span.x(start + i * bin_s, TL_W, TL_X0), span.x(start + (i + 1) * bin_s, TL_W, TL_X0)
        h = (TL_H - 14) * c / top
        out.append(f'<rect class="bin" x="{x1:.1f}" y="{TL_H - 8 - h:.1f}" width="{max(x2 - x1 - 0.5, 0.8):.1f}" '
                   f'height="{h:.1f}"><title>+{start + i * bin_s - span.start:.1f} s: {c:g} packets</title></rect>')
    return out + _strip_scale(top, expected, expected_label)  # over the bars


def _strip_scale(top: float, expected: float | None, label: str) -> list[str]:
    """The strip's y scale: its top value, and the packets a bin should hold at the
    stream's packet time, dashed (so the normal 4/5/6 wobble reads as such)."""
    out = [f'<text class="tick ytop" x="{TL_X0 - 4}" y="9" text-anchor="end">{top:g}</text>']
    if expected:
        y = TL_H - 8 - (TL_H - 14) * expected / top
        out.append(f'<g class="expected"><line x1="{TL_X0}" y1="{y:.1f}" x2="{TL_X0 + TL_W}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{TL_X0 - 4}" y="{max(y + 3, 19):.1f}" text-anchor="end">{expected:g}</text>'
                   f"<title>{esc(label)}</title></g>")
    return out


def _gaps(stream: StreamFinding, span: Span) -> list[str]:
    base = (_num(stream.timeline.start) if stream.timeline else None) or _num(stream.first_time) or span.start
    out = []
    for g in stream.gaps:
        t = _num(g.t)
        if t is None:
            continue
        when = t if t > 1e9 else base + t  # epoch seconds or seconds from the stream's start
        x = span.x(when, TL_W, TL_X0)
        lost = "?" if g.lost is None else g.lost
        out.append(f'<rect class="gap" x="{x - 1.5:.1f}" y="2" width="3" height="{TL_H - 10}">'
                   f'<title>{esc(lost)} lost at +{when - span.start:.2f} s</title></rect>')
    return out


def _span_bar(stream: StreamFinding, span: Span) -> str:
    first, last = _num(stream.first_time), _num(stream.last_time)
    packets = "?" if stream.packets is None else stream.packets
    if first is None or last is None:
        return (f'<text class="note" x="{TL_X0}" y="{TL_H - 14}">{esc(packets)} packets; '
                "no times in the analysis</text>")
    x1, x2 = span.x(first, TL_W, TL_X0), span.x(last, TL_W, TL_X0)
    return (f'<rect class="span" x="{x1:.1f}" y="{TL_H - 22}" width="{max(x2 - x1, 1):.1f}" height="12">'
            f'<title>{esc(packets)} packets from +{first - span.start:.2f} s to +{last - span.start:.2f} s</title></rect>')


def _dtmf_marks(events: Sequence[DtmfFinding], span: Span) -> list[str]:
    out = []
    for e in events:
        t = _num(e.start)
        if t is None:
            continue
        x = span.x(t, TL_W, TL_X0)
        out.append(f'<g class="dtmf-mark"><line x1="{x:.1f}" y1="2" x2="{x:.1f}" y2="{TL_H - 8}"/>'
                   f'<text x="{x + 2:.1f}" y="10">{esc(e.digit)}</text>'
                   f'<title>DTMF {esc(e.digit)} ({esc(e.method)}) at +{t - span.start:.3f} s</title></g>')
    return out


def timeline_svg(stream: StreamFinding, span: Span, dtmf: Sequence[DtmfFinding] = (),
                 expected: float | None = None, expected_label: str = "") -> str:
    """Packets per bin when the analysis gives a timeline (gaps in red), else
    the stream's first-to-last span; DTMF digits marked where they started;
    ``expected`` packets per bin (from the packet time) drawn as a dashed line."""
    bins = _bins(stream, span, expected, expected_label)
    body = bins if bins else [_span_bar(stream, span)]
    end = span.end - span.start
    axis = (f'<line class="axis" x1="{TL_X0}" y1="{TL_H - 8}" x2="{TL_X0 + TL_W}" y2="{TL_H - 8}"/>'
            f'<text class="tick" x="{TL_X0 - 4}" y="{TL_H - 2}" text-anchor="end">+0 s</text>'
            f'<text class="tick" x="{TL_X0 + TL_W}" y="{TL_H + 8}" text-anchor="end">+{end:.1f} s</text>')
    return (f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{TL_X0 + TL_W + 8}" height="{TL_H + 10}" '
            f'viewBox="0 0 {TL_X0 + TL_W + 8} {TL_H + 10}" role="img" aria-label="packets over time">'
            + axis + "".join(body) + "".join(_gaps(stream, span)) + "".join(_dtmf_marks(dtmf, span)) + "</svg>")


# --------------------------------------------------------------------------- run summary

VERDICT_ORDER = ("fail", "error", "flaky", "pass")
SUMMARY_ROWS = 60  #: scenarios drawn in the duration chart; more are counted, not drawn


def run_summary_svg(results: Sequence[ScenarioResult]) -> str:
    """Verdict counts as one stacked bar, then each scenario's duration (failures first)."""
    width, bar_x, bar_w = 720, 220, 460
    total = max(len(results), 1)
    parts, x = [], 0.0
    for v in VERDICT_ORDER:
        n = sum(1 for r in results if r.verdict.value == v)
        if not n:
            continue
        w = bar_w * n / total
        parts.append(f'<rect class="v-{v}" x="{bar_x + x:.1f}" y="6" width="{w:.1f}" height="20"><title>{n} {v}</title></rect>'
                     f'<text class="count" x="{bar_x + x + w / 2:.1f}" y="21">{n} {v}</text>')
        x += w
    parts.insert(0, f'<text class="head" x="{bar_x - 8}" y="21" text-anchor="end">{len(results)} scenarios</text>')
    ordered = sorted(results, key=lambda r: VERDICT_ORDER.index(r.verdict.value))[:SUMMARY_ROWS]
    longest = max((r.duration_s for r in ordered), default=1.0) or 1.0
    for i, r in enumerate(ordered):
        y = 40 + i * 16
        w = max(bar_w * r.duration_s / longest, 1)
        parts.append(f'<text class="name" x="{bar_x - 8}" y="{y + 11}" text-anchor="end">{esc(cut(r.name, 32))}</text>'
                     f'<rect class="v-{r.verdict.value}" x="{bar_x}" y="{y}" width="{w:.1f}" height="12">'
                     f'<title>{esc(r.name)}: {r.verdict.value}, {r.duration_s:.1f} s</title></rect>'
                     f'<text class="dur" x="{bar_x + w + 4:.1f}" y="{y + 11}">{r.duration_s:.1f} s</text>')
    height = 40 + len(ordered) * 16 + (16 if len(results) > SUMMARY_ROWS else 4)
    if len(results) > SUMMARY_ROWS:
        parts.append(f'<text class="name" x="{bar_x}" y="{height - 4}">{len(results) - SUMMARY_ROWS} more not drawn</text>')
    return (f'<svg class="run-summary" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="run summary">' + "".join(parts) + "</svg>")
