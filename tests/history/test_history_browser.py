"""The history page as a person sees it: three nights recorded through the CLI, the page
rendered by headless Chromium, checked in the DOM the browser built."""

from __future__ import annotations

import re

import pytest

from tests.history.history_nights import NIGHTS, write_nights
from tests.reports.test_report_browser import browse, console_errors


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    import io

    from callgen.cli.main import IO, main

    folder = tmp_path_factory.mktemp("history")
    store = folder / "h.sqlite"
    for report in write_nights(folder):
        assert main(["history", "record", str(report), "--history", str(store)], IO(io.StringIO(), io.StringIO())) == 0
    out = folder / "history.html"
    assert main(["history", "report", "--history", str(store), "-o", str(out)], IO(io.StringIO(), io.StringIO())) == 0
    return out


def _row(dom: str, scenario: str) -> str:
    rows = [part for part in dom.split('<tr id="s-')[1:] if part.startswith(f'{scenario}"')]
    assert len(rows) == 1, f"no row for {scenario}"
    return rows[0]


def test_failing_then_passing_scenario_over_three_nights(page, tmp_path):
    dom, log = browse(page.as_uri(), tmp_path / "profile")
    assert console_errors(log) == []
    row = _row(dom, "basic_call")
    strip = re.findall(r'<rect class="night (\w+)" data-night="([^"]+)"', row)
    assert strip == [("fail", NIGHTS[0]), ("fail", NIGHTS[1]), ("pass", NIGHTS[2])]
    assert "call1.final_code: expected 486, seen 200" in row  # the hover of a failed night says why
    # both trends have axes with values and the nights on the x axis
    for metric in ("setup time (ms)", "MOS (E-model)"):
        chart = re.search(rf'<svg class="trend" data-metric="{re.escape(metric)}".*?</svg>', row, re.S)
        assert chart, metric
        svg = chart.group(0)
        assert svg.count('class="axis"') == 2
        assert re.findall(r'class="xtick"[^>]*>([^<]+)<', svg) == list(NIGHTS)
        assert len(re.findall(r'class="ytick"[^>]*>[^<]+<', svg)) >= 2
    legs = re.search(r'<details class="legs">.*?</details>', row, re.S).group(0)
    assert "media of 2026-12-02" in legs
    cells = re.findall(r"<tr><td>(call1 [^<]+)</td><td>([^<]+)</td><td>([^<]+)</td><td>[^<]+</td><td>([^<]+)</td><td>([^<]+)</td>", legs)
    assert cells == [("call1 alice→bob", "speex/16000", "0.0", "4.10", "–"), ("call1 bob→alice", "speex/16000", "0.0", "4.10", "–")]
    mos = re.search(r'data-metric="MOS \(E-model\)".*?</svg>', row, re.S).group(0)
    assert re.findall(r"<title>([^<]+)</title>", mos) == [f"{NIGHTS[0]}: 3.10", f"{NIGHTS[1]}: 3.40", f"{NIGHTS[2]}: 4.10"]
    assert re.findall(r'class="ytick"[^>]*>([^<]+)<', mos) == ["1.0", "2.8", "4.5"]  # MOS on its fixed 1 to 4.5 scale


def test_findings_lead_the_page(page, tmp_path):
    dom, _ = browse(page.as_uri(), tmp_path / "profile")
    newly = re.search(r'<ul class="findings newly">(.*?)</ul>', dom, re.S).group(1)
    assert "busy" in newly and "passed on 2026-12-01" in newly and "basic_call" not in newly
    assert "basic_call" in re.search(r'<ul class="findings fixed">(.*?)</ul>', dom, re.S).group(1)
    assert "dtmf" in re.search(r'<ul class="findings flaky">(.*?)</ul>', dom, re.S).group(1)
    assert "busy" in re.search(r'<ul class="findings slower">(.*?)</ul>', dom, re.S).group(1)
    order = [dom.index(f'id="s-{name}"') for name in ("busy", "basic_call")]
    assert order == sorted(order)  # failing now comes first
    assert "<script" not in page.read_text()
