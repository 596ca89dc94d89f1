"""``callgen history report``: one self-contained HTML page (inline CSS and SVG, no script,
nothing loaded from elsewhere) and a plain-text summary for chat and CI logs."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

from callgen.history.trends import Cell, Finding, History, Row

CHART_W, CHART_H = 300, 110  #: px of one trend chart
PAD_L, PAD_R, PAD_T, PAD_B = 46, 10, 10, 30  #: room for the axes' labels
CELL = 14  #: px of one night in the strip

CSS = """
body{font-family:'DejaVu Sans',sans-serif;margin:1.2em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.4em}
table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:4px 8px;vertical-align:top;text-align:left}
.findings li{margin:.2em 0}.none{color:#777;margin:.3em 0}
.pass{fill:#2e7d32;color:#2e7d32}.fail{fill:#c62828;color:#c62828}.flaky{fill:#ef8f00;color:#b26a00}
.error{fill:#6a1b9a;color:#6a1b9a}.notrun{fill:#fff;stroke:#bbb}
svg text{font-size:10px;fill:#444}.axis{stroke:#888;stroke-width:1}.line{fill:none;stroke:#1565c0;stroke-width:1.5}
.dot{fill:#1565c0}.grid{stroke:#eee}.legend span{margin-right:1em}.key{display:inline-block;width:10px;height:10px}
code{font-size:.9em}
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _cell_title(c: Cell) -> str:
    parts = [f"{c.night}: {c.verdict.value.upper()}", f"{c.duration_s:.1f} s"]
    if c.runs > 1:
        parts.append(f"{c.runs} runs (the worst shown)")
    if c.setup_ms is not None:
        parts.append(f"setup {c.setup_ms:.0f} ms")
    if c.mos is not None:
        parts.append(f"MOS {c.mos:.2f}")
    if c.pesq is not None:
        parts.append(f"PESQ {c.pesq:.2f}")
    if c.revision:
        parts.append(f"library {c.revision}")
    text = ", ".join(parts)
    return text + (f"\n{c.reason}" if c.reason else "")


def strip_svg(row: Row, nights: Sequence[str]) -> str:
    """One square per night: pass/fail/flaky/error, white when the scenario did not run."""
    width = max(CELL * len(nights), CELL)
    out = [f'<svg class="strip" width="{width}" height="{CELL + 2}" viewBox="0 0 {width} {CELL + 2}" '
           f'role="img" aria-label="{esc(row.scenario)}: one square per night, oldest first">']
    for i, (night, c) in enumerate(zip(nights, row.cells, strict=False)):
        cls = c.verdict.value if c else "notrun"
        title = _cell_title(c) if c else f"{night}: not run"
        out.append(f'<rect class="night {cls}" data-night="{esc(night)}" x="{i * CELL + 1}" y="1" '
                   f'width="{CELL - 2}" height="{CELL - 2}"><title>{esc(title)}</title></rect>')
    out.append("</svg>")
    return "".join(out)


def _ticks(low: float, high: float) -> list[float]:
    if high <= low:
        return [low]
    return [low, (low + high) / 2, high]


def _fmt(value: float, unit: str, span: float | None = None) -> str:
    """A value with as many decimals as the chart's range needs (``span``: high - low)."""
    width = abs(value) if span is None else span
    decimals = 0 if width >= 20 else (1 if width >= 2 else 2)
    return f"{value:.{decimals}f}" + (f" {unit}" if unit else "")


def _point(value: float, unit: str) -> str:
    """One night's value as its hover shows it: MOS to two decimals, times to 0.1 ms."""
    return f"{value:.1f} {unit}" if unit else f"{value:.2f}"


def trend_svg(title: str, nights: Sequence[str], values: Sequence[float | None], unit: str,
              fixed: tuple[float, float] | None = None) -> str:
    """A line over the nights with both axes labelled: y the value range, x first/last night."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if not points:
        return f'<span class="none">{esc(title)}: not measured</span>'
    low, high = fixed or (min(v for _, v in points), max(v for _, v in points))
    if not fixed:
        span = (high - low) or max(abs(high) * 0.1, 1.0)
        low, high = max(0.0, low - span * 0.1), high + span * 0.1
    plot_w, plot_h = CHART_W - PAD_L - PAD_R, CHART_H - PAD_T - PAD_B
    step = plot_w / max(len(nights) - 1, 1)

    def x(i: int) -> float:
        return PAD_L + (i * step if len(nights) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return PAD_T + plot_h - (v - low) / (high - low) * plot_h if high > low else PAD_T + plot_h / 2

    out = [f'<svg class="trend" data-metric="{esc(title)}" width="{CHART_W}" height="{CHART_H}" '
           f'viewBox="0 0 {CHART_W} {CHART_H}" role="img" aria-label="{esc(title)} per night">']
    for t in _ticks(low, high):
        out.append(f'<line class="grid" x1="{PAD_L}" x2="{PAD_L + plot_w}" y1="{y(t):.1f}" y2="{y(t):.1f}"/>')
        out.append(f'<text class="ytick" x="{PAD_L - 4}" y="{y(t) + 3:.1f}" text-anchor="end">{esc(_fmt(t, unit, high - low))}</text>')
    out.append(f'<line class="axis" x1="{PAD_L}" x2="{PAD_L}" y1="{PAD_T}" y2="{PAD_T + plot_h}"/>')
    out.append(f'<line class="axis" x1="{PAD_L}" x2="{PAD_L + plot_w}" y1="{PAD_T + plot_h}" y2="{PAD_T + plot_h}"/>')
    shown = {0, len(nights) - 1} if len(nights) > 4 else set(range(len(nights)))
    for i in sorted(shown):
        anchor = "start" if i == 0 and len(nights) > 1 else ("end" if i == len(nights) - 1 and len(nights) > 1 else "middle")
        out.append(f'<text class="xtick" x="{x(i):.1f}" y="{PAD_T + plot_h + 14}" text-anchor="{anchor}">{esc(nights[i])}</text>')
    out.append(f'<text class="title" x="{PAD_L + plot_w / 2:.1f}" y="{CHART_H - 2}" text-anchor="middle">{esc(title)}</text>')
    if len(points) > 1:
        path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in points)
        out.append(f'<polyline class="line" points="{path}"/>')
    for i, v in points:
        out.append(f'<circle class="dot" cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5">'
                   f'<title>{esc(nights[i])}: {esc(_point(v, unit))}</title></circle>')
    out.append("</svg>")
    return "".join(out)


def _findings_html(title: str, cls: str, findings: Sequence[Finding]) -> Iterable[str]:
    if not findings:
        yield f'<p class="none {cls}"><b>{esc(title)}</b>: none</p>'
        return
    yield f'<h2>{esc(title)} ({len(findings)})</h2>'
    yield f'<ul class="findings {cls}">'
    for f in findings:
        yield f'<li><a href="#s-{esc(f.scenario)}"><b>{esc(f.scenario)}</b></a>: {esc(f.text)}</li>'
    yield "</ul>"


def _num(value: float | None, fmt: str) -> str:
    return format(value, fmt) if value is not None else "–"


def _legs_html(cell: Cell | None) -> str:
    """The last night's media legs (loss, jitter, MOS, PESQ) in a collapsed table."""
    if cell is None or not cell.legs:
        return ""
    rows = "".join(f"<tr><td>{esc(leg.leg)}</td><td>{esc(leg.codec or '–')}</td><td>{_num(leg.loss_pct, '.1f')}</td>"
                   f"<td>{_num(leg.jitter_ms, '.2f')}</td><td>{_num(leg.mos, '.2f')}</td><td>{_num(leg.pesq, '.2f')}</td></tr>"
                   for leg in cell.legs)
    revision = f" · library {esc(cell.revision)}" if cell.revision else ""
    return (f'<details class="legs"><summary><small>media of {esc(cell.night)}{revision}</small></summary>'
            '<table><tr><th>leg</th><th>codec</th><th>loss %</th><th>jitter ms</th><th>MOS</th><th>PESQ</th></tr>'
            f"{rows}</table></details>")


def _row_html(row: Row, nights: Sequence[str]) -> Iterable[str]:
    last = row.last
    verdict = last.verdict.value if last else "notrun"
    yield f'<tr id="s-{esc(row.scenario)}" class="scenario {verdict}-row">'
    yield (f'<td><b>{esc(row.scenario)}</b><br><small>{esc(row.klass)} · <code>{esc(row.file)}</code></small>'
           f'<br><span class="{verdict}">{esc(verdict.upper() if last else "not run last night")}</span>'
           + (f'<br><small>{esc(last.reason)}</small>' if last and last.reason else "")
           + _legs_html(last) + "</td>")
    yield f"<td>{strip_svg(row, nights)}</td>"
    setups = [c.setup_ms if c else None for c in row.cells]
    moses = [c.mos if c else None for c in row.cells]
    yield f'<td>{trend_svg("setup time (ms)", nights, setups, "ms")}</td>'
    yield f'<td>{trend_svg("MOS (E-model)", nights, moses, "", fixed=(1.0, 4.5))}</td>'
    yield "</tr>"


def render_page(history: History, title: str = "callgen history") -> str:
    nights = history.nights
    span = f"{nights[0]} … {nights[-1]}" if nights else "no night recorded"
    body = [f"<h1>{esc(title)}</h1>",
            f'<p>{len(nights)} night{"s" if len(nights) != 1 else ""} ({esc(span)}), {len(history.rows)} scenarios. '
            'Each square is one night, oldest first; hover it for the figures and the first failed check.</p>',
            '<p class="legend"><span><i class="key" style="background:#2e7d32"></i> pass</span>'
            '<span><i class="key" style="background:#c62828"></i> fail</span>'
            '<span><i class="key" style="background:#ef8f00"></i> flaky</span>'
            '<span><i class="key" style="background:#6a1b9a"></i> error</span>'
            '<span><i class="key" style="border:1px solid #bbb"></i> not run</span></p>']
    body += _findings_html("Newly failing", "newly", history.newly_failing)
    body += _findings_html("Still failing", "still", history.still_failing)
    body += _findings_html(f"Flaky in the last {history.flaky_window} nights", "flaky", history.flaky)
    body += _findings_html(f"Slower than its median (more than {history.slower_factor:g}×)", "slower", history.slower)
    body += _findings_html("Fixed last night", "fixed", history.fixed)
    body.append("<h2>Scenarios</h2>")
    body.append('<table class="scenarios"><tr><th>scenario</th><th>nights</th><th>setup time</th><th>MOS</th></tr>')
    for row in history.rows:
        body += _row_html(row, nights)
    body.append("</table>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def render_text(history: History) -> str:
    """A short summary for a chat message or a CI log."""
    nights = history.nights
    if not nights:
        return "callgen history: no night recorded in this range\n"
    last = nights[-1]
    counts: dict[str, int] = {}
    for row in history.rows:
        if row.last is not None:
            counts[row.last.verdict.value] = counts.get(row.last.verdict.value, 0) + 1
    tally = ", ".join(f"{counts[v]} {v}" for v in ("pass", "fail", "flaky", "error") if counts.get(v)) or "nothing ran"
    lines = [f"callgen history: {len(nights)} nights ({nights[0]} .. {last}), {len(history.rows)} scenarios; "
             f"last night {last}: {tally}"]
    for title, found in (("newly failing", history.newly_failing), ("still failing", history.still_failing),
                         (f"flaky in the last {history.flaky_window} nights", history.flaky),
                         ("slower than its median", history.slower), ("fixed last night", history.fixed)):
        lines.append(f"{title}: {len(found)}")
        lines += [f"  {f.scenario}: {f.text}" for f in found]
    return "\n".join(lines) + "\n"
