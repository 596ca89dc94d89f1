"""Bar charts with axes for the load page (inline SVG, no script).

Every chart has a y axis with ticks and its unit, an x axis with tick labels and its
title, and says its highest value in words ("max 13 calls").  Time charts of one run
share their bins: ``time_charts`` pads them to the same number of seconds so one
second is as wide in each.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from callgen.reports.svg import esc
from callgen.verdict.findings import LoadSummary

LEFT, RIGHT, TOP, BOTTOM = 52, 12, 22, 34  #: plot margins in px


@dataclass(frozen=True)
class Chart:
    title: str
    values: tuple[float, ...]
    x_label: str  #: what one bar is ("second of the run", "setup time, ms")
    unit: str  #: of the values ("calls", "calls/s")
    x_step: float = 1.0  #: x value per bar (a histogram's bin width)


def nice_step(top: float, ticks: int = 4) -> float:
    """A 1/2/5 x 10^n step giving about ``ticks`` intervals up to ``top``."""
    raw = max(top, 1e-9) / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _num(v: float) -> str:
    return f"{v:g}"


def bar_chart(chart: Chart, width: int = 640, height: int = 160) -> str:
    values = chart.values
    if not values:
        return ""
    top_value = max(values)
    step = max(1.0, nice_step(top_value)) if all(float(v).is_integer() for v in values) else nice_step(top_value)
    y_top = max(step * math.ceil(top_value / step), step)
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    bw = plot_w / len(values)
    base = TOP + plot_h

    def y(v: float) -> float:
        return base - v / y_top * plot_h

    parts = [f'<text class="title" x="{LEFT}" y="14" font-size="12">{esc(chart.title)} '
             f'(max <tspan class="max">{esc(_num(top_value))}</tspan> {esc(chart.unit)})</text>']
    ticks = int(round(y_top / step))
    for i in range(ticks + 1):
        v = i * step
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{width - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e4e4e4"/>'
                     f'<text class="ytick" x="{LEFT - 4}" y="{y(v) + 4:.1f}" font-size="10" text-anchor="end">{esc(_num(v))}</text>')
    parts.append(f'<text class="yunit" x="10" y="{TOP + plot_h / 2:.1f}" font-size="10" text-anchor="middle" '
                 f'transform="rotate(-90 10 {TOP + plot_h / 2:.1f})">{esc(chart.unit)}</text>')
    for i, v in enumerate(values):
        x0 = chart.x_step * i
        label = f"{_num(x0)}–{_num(x0 + chart.x_step)} {chart.x_label}: {_num(v)} {chart.unit}"
        parts.append(f'<rect class="bar" x="{LEFT + i * bw:.2f}" y="{y(v):.1f}" width="{max(bw - 1, 0.5):.2f}" '
                     f'height="{base - y(v):.1f}" fill="#4a78c2" data-value="{esc(_num(v))}"><title>{esc(label)}</title></rect>')
    every = max(1, math.ceil(len(values) / 10))
    every = int(nice_step(every * 4, 4)) if every > 1 else 1
    for i in range(0, len(values) + 1, every):
        x = LEFT + i * bw
        parts.append(f'<line class="xtick" x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}" stroke="#888"/>'
                     f'<text class="xtick" x="{x:.1f}" y="{base + 15}" font-size="10"'
                     f' text-anchor="middle">{esc(_num(chart.x_step * i))}</text>')
    parts.append(f'<line class="axis x" x1="{LEFT}" y1="{base}" x2="{width - RIGHT}" y2="{base}" stroke="#666"/>'
                 f'<line class="axis y" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" stroke="#666"/>'
                 f'<text class="xlabel" x="{LEFT + plot_w / 2:.1f}" y="{height - 4}" font-size="11"'
                 f' text-anchor="middle">{esc(chart.x_label)}</text>')
    return (f'<figure class="load-chart"><svg role="img" aria-label="{esc(chart.title)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">{"".join(parts)}</svg></figure>')


def time_charts(charts: Sequence[Chart]) -> list[str]:
    """Charts over the seconds of one run, padded with zeros to the same bins."""
    n = max((len(c.values) for c in charts), default=0)
    return [bar_chart(Chart(c.title, tuple(c.values) + (0.0,) * (n - len(c.values)), c.x_label, c.unit, c.x_step))
            for c in charts]


def _floats(value: object) -> tuple[float, ...]:
    return tuple(float(v) for v in value if isinstance(v, (int, float))) if isinstance(value, (list, tuple)) else ()


def load_charts(load: LoadSummary) -> list[str]:
    """The load summary's charts: calls up and calls started per second (same bins), setup times."""
    out = time_charts([Chart("most calls up at once, per second", _floats(load.active_per_second),
                             "seconds into the run", "calls"),
                       Chart("calls started per second", _floats(load.cps_per_second),
                             "seconds into the run", "calls/s")])
    hist = load.setup_histogram
    bin_ms = hist.bin_ms if hist else None
    step = float(bin_ms) if isinstance(bin_ms, (int, float)) and bin_ms > 0 else 1.0
    out.append(bar_chart(Chart(f"setup time histogram ({step:g} ms bins)", _floats(hist.counts if hist else ()),
                               "setup time, ms", "calls", step)))
    return [c for c in out if c]
