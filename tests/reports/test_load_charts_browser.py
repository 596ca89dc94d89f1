"""The load page's charts as headless Chromium draws them: axes with ticks and units,
the same numbers as the table beside them, and the two time charts on the same bins.

The load summary comes from the verdict layer's own ``load_summary`` over calls placed
like a real run places them: a burst between two whole seconds (where sampling calls up
at whole seconds showed 1 while the table said 6)."""

from __future__ import annotations

import json
import re
from html import unescape

from callgen.reports.page import render_run_page
from callgen.verdict.findings import Findings
from callgen.verdict.load import Direction, LoadCallRow, load_summary
from callgen.verdict.result import ScenarioResult, Verdict
from tests.reports.test_report_browser import browse, console_errors

OK = Direction(150, 0.0, 0.4)

MEASURE = """<script>
(() => {
  const out = [];
  for (const svg of document.querySelectorAll('figure.load-chart svg')) {
    const box = el => { const b = el.getBBox(); return [b.x, b.y, b.width, b.height]; };
    const bars = [...svg.querySelectorAll('rect.bar')];
    out.push({
      title: svg.getAttribute('aria-label'),
      max: svg.querySelector('tspan.max').textContent,
      xaxis: box(svg.querySelector('line.axis.x')), yaxis: box(svg.querySelector('line.axis.y')),
      yticks: [...svg.querySelectorAll('text.ytick')].map(t => t.textContent),
      xticks: [...svg.querySelectorAll('text.xtick')].map(t => t.textContent),
      xlabel: svg.querySelector('text.xlabel').textContent, yunit: svg.querySelector('text.yunit').textContent,
      bars: bars.map(b => [box(b)[0], box(b)[2], box(b)[3], Number(b.dataset.value)]),
    });
  }
  document.body.setAttribute('data-charts', JSON.stringify(out));
})();
</script>"""


def call(k: int, start: float, end: float, code: int = 200) -> LoadCallRow:
    answered = code == 200
    return LoadCallRow(k, "bob", f"c{k}", start, code, 2.0 + k, end if answered else None, end - start if answered else None,
                       answered, answered, OK, OK, False, "", "", code, True, ())


def test_load_charts_have_axes_and_the_tables_numbers(tmp_path):
    rows = [call(0, 100.0, 103.5)] + [call(k, 100.3 + k * 0.01, 100.8) for k in range(1, 6)]
    rows += [call(6, 101.2, 101.2, code=486), call(7, 102.1, 103.0)]
    load = load_summary(tuple(rows))
    result = ScenarioResult("load", "/lib/load.yaml", Verdict.PASS, 4.0, summary=Findings.from_dict({"load": load}))
    page = tmp_path / "load.html"
    page.write_text(render_run_page(result, None).replace("</body>", MEASURE + "</body>"))
    dom, log = browse(page.as_uri(), tmp_path / "profile")
    assert console_errors(log) == []
    table = dict(re.findall(r"<tr><th>([^<]+)</th><td>([^<]*)</td></tr>", dom))
    charts = {c["title"]: c for c in json.loads(unescape(re.search(r'data-charts="([^"]*)"', dom).group(1)))}
    up, cps = charts["most calls up at once, per second"], charts["calls started per second"]
    hist = next(c for t, c in charts.items() if t.startswith("setup time histogram"))

    # the same number, the same definition
    assert table["calls up at once (max)"] == up["max"] == "6"
    assert table["calls started in one second (max)"] == cps["max"] == "6"
    assert max(b[3] for b in up["bars"]) == load["concurrency_max"]
    assert sum(b[3] for b in hist["bars"]) == len(rows)

    for c in charts.values():  # axes drawn, with ticks, numbers and units
        assert c["xaxis"][2] > 100 and c["yaxis"][3] > 50
        assert len(c["yticks"]) >= 2 and c["yticks"][0] == "0" and float(c["yticks"][-1]) >= float(c["max"])
        assert len(c["xticks"]) >= 2 and c["xlabel"] and c["yunit"]
        tallest = max(c["bars"], key=lambda b: b[2])  # bar height is proportional to its value
        assert all(abs(b[2] / tallest[2] - b[3] / tallest[3]) < 0.02 for b in c["bars"])
    assert up["yunit"] == "calls" and cps["yunit"] == "calls/s" and hist["xlabel"] == "setup time, ms"
    # the two time charts: the same seconds, one second as wide in each
    assert len(up["bars"]) == len(cps["bars"]) == 4
    assert [b[0] for b in up["bars"]] == [b[0] for b in cps["bars"]]
    assert [round(b[1], 2) for b in up["bars"]] == [round(b[1], 2) for b in cps["bars"]]
    assert up["xticks"] == cps["xticks"]


def test_time_charts_of_an_older_result_are_padded_to_the_same_bins(tmp_path):
    """Results written before both lists had one bin per second of the run."""
    from callgen.reports.charts import Chart, time_charts

    a, b = time_charts([Chart("up", (1, 3, 2, 1), "s", "calls"), Chart("cps", (3,), "s", "calls/s")])
    assert len(re.findall(r'<rect class="bar"', a)) == len(re.findall(r'<rect class="bar"', b)) == 4
    assert re.findall(r'width="([\d.]+)" height', a)[0] == re.findall(r'width="([\d.]+)" height', b)[0]
