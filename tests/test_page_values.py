"""Pages show values, not Python: no "None", no empty "{}" rows for findings the analysis
left unset (a capture that was not truncated, no packet skipped)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

from callgen.reports.index import render_markdown
from callgen.reports.page import render_run_page
from callgen.suite.execute import SuiteResult
from callgen.verdict.result import ScenarioResult

DATA = Path(__file__).parent / "data" / "reports"


def with_unset_findings() -> ScenarioResult:
    r = ScenarioResult.from_dict(json.loads((DATA / "pass_run.json").read_text()))
    return replace(r, summary={**r.summary, "truncated": None, "skipped": {}, "rtcp": [], "note": "kept",
                          "extra": [{"codec": "PCMA", "decrypt_error": None, "gaps": {"lost": 0, "why": None}}]})


def test_run_page_shows_no_unset_finding():
    page = render_run_page(with_unset_findings(), None)
    text = re.sub(r"<[^>]+>", " ", page)
    assert "None" not in text
    assert not re.search(r"<th>(truncated|skipped|rtcp)</th>", page)
    assert re.search(r"<th>note</th><td>kept</td>", page)  # a set finding is still shown
    assert re.search(r"<th>extra</th><td>codec=PCMA, gaps=\{lost=0\}</td>", page)


def test_summary_md_shows_no_unset_finding(tmp_path):
    md = render_markdown(SuiteResult((with_unset_findings(),), 1.0, 1, started="2026-12-01T02:00:00+00:00"), tmp_path)
    assert "None" not in md and "| truncated |" not in md and "| skipped |" not in md
