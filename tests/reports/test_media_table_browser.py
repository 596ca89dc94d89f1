"""The media table as headless Chromium shows it, from a real run (tests/data/reports/
quality_run.json: G.722 both ways, bob plays speech, alice records, PESQ scored):
stable stream order, a scale on the packets-per-100 ms strips, PESQ beside the streams,
the recording playable inline from the run folder, MOS on assumed codec figures marked."""

from __future__ import annotations

import json
import math
import re
import struct
import wave
from dataclasses import replace
from html import unescape
from pathlib import Path

import pytest

from callgen.reports import publish
from callgen.reports.page import render_run_page
from callgen.suite.execute import SuiteResult
from callgen.verdict.findings import Findings
from callgen.verdict.result import ScenarioResult
from tests.reports.test_report_browser import browse, console_errors

DATA = Path(__file__).resolve().parents[1] / "data" / "reports"
REC_S = 2.0

MEASURE = """<script>
window.addEventListener('load', () => {
  const a = document.querySelector('table.media audio');
  const done = () => document.body.setAttribute('data-audio', JSON.stringify(
      {ready: a.readyState, duration: a.duration, src: a.currentSrc, error: a.error && a.error.code}));
  if (a.readyState >= 1) { done(); } else { a.addEventListener('loadedmetadata', done); a.addEventListener('error', done); }
});
</script>"""


def quality() -> ScenarioResult:
    return ScenarioResult.from_dict(json.loads((DATA / "quality_run.json").read_text()))


def write_wav(path: Path) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 1000 * i / 16000)))
                               for i in range(int(16000 * REC_S))))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("media")
    r = quality()
    folder = out / "quality"
    folder.mkdir()
    write_wav(folder / "alice.rec.wav")
    r = replace(r, artefacts=str(folder))
    (folder / "result.json").write_text(json.dumps(r.to_dict()))
    publish(SuiteResult((r,), 8.0, 1, started="2026-12-03T03:00:00+00:00"), out)
    return out


def _directions(page: str) -> list[str]:
    return re.findall(r'<td class="dir">([^<]*)<br>', page)


def test_stream_order_is_the_same_whatever_order_the_capture_gave():
    r = quality()
    streams = r.summary.to_dict()["rtp_streams"]
    flipped = replace(r, summary=Findings.from_dict({**r.summary.to_dict(), "rtp_streams": list(reversed(streams))}))
    a, b = _directions(render_run_page(r, None)), _directions(render_run_page(flipped, None))
    assert len(a) == 2 and a == b
    assert a == sorted(a)  # by call, then direction


def test_media_table_in_the_browser(site, tmp_path):
    page = site / "quality" / "report.html"
    page.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    dom, log = browse(page.as_uri(), tmp_path / "profile", "--virtual-time-budget=5000")
    assert console_errors(log) == []
    table = re.search(r'<table class="media">.*?</table>', dom, re.S).group(0)
    rows = re.findall(r'<tr><td class="dir">.*?</tr>', table, re.S)
    by_dir = {re.search(r'<td class="dir">([^<]*)<', row).group(1): row for row in rows}
    assert set(by_dir) == {"alice → bob", "bob → alice"}

    # PESQ in the table, on the direction alice heard (her recording), not only in the checks
    pesq = next(c for c in quality().checks if c.name == "call1.audio[alice].pesq")
    score = re.search(r"MOS-LQO (\d\.\d\d)", pesq.seen).group(1)
    assert f">{score} (wb)<" in by_dir["bob → alice"] and score not in by_dir["alice → bob"]

    # MOS for G.722 rests on assumed E-model figures: marked, and said why
    for row in rows:
        assert re.search(r'<span class="assumed" title="assumed codec figures: assumption[^"]*">\d\.\d\d<sup>\*</sup>', row)
    assert "G722: assumption (not G.113 narrow-band)" in unescape(dom)

    # the strips have a scale: their top value, and 5 packets expected per 100 ms at 20 ms
    strips = re.findall(r'<svg class="timeline".*?</svg>', table, re.S)
    assert len(strips) == 2
    for strip in strips:
        assert re.search(r'class="tick ytop"[^>]*>\d+</text>', strip)
        assert re.search(r'<g class="expected">.*?>5</text><title>5 packets expected per 100 ms at a 20 ms packet time', strip, re.S)

    # the recording plays inline, from the run folder (no data: URI), and is really loaded
    assert re.search(r'<audio controls(="")? preload="metadata" src="alice.rec.wav">', table) and "data:" not in table
    audio = json.loads(unescape(re.search(r'data-audio="([^"]*)"', dom).group(1)))
    assert audio["error"] is None and audio["ready"] >= 1, audio
    assert abs(audio["duration"] - REC_S) < 0.05 and audio["src"] == (site / "quality" / "alice.rec.wav").as_uri()


def test_index_links_the_recording_relative_to_itself(site):
    index = (site / "index.html").read_text()
    assert '<audio controls preload="metadata" src="quality/alice.rec.wav">' in index
    assert (site / "quality" / "alice.rec.wav").is_file()
