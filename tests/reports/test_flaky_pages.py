"""A flaky scenario as the nightly reader meets it: the failed attempt's reason first
(index's failed-checks column, summary.md, the run's page in headless Chromium), and the
failed attempt's own folder with its own ``report.html``.

Made from result.json files of real runs (tests/data/reports): the failing call is the
first attempt, the passing call the retry."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from callgen.reports import publish
from callgen.suite.execute import SuiteResult
from callgen.verdict.findings import Findings
from callgen.verdict.result import ScenarioResult, Verdict
from tests.reports.test_report_browser import browse, console_errors

DATA = Path(__file__).resolve().parents[1] / "data" / "reports"


def recorded(name: str) -> ScenarioResult:
    return ScenarioResult.from_dict(json.loads((DATA / f"{name}_run.json").read_text()))


@pytest.fixture(scope="module")
def flaky_site(tmp_path_factory) -> Path:
    """``callgen run --retries 1`` output: attempt 1 failed (486 instead of 200), attempt 2 passed."""
    out = tmp_path_factory.mktemp("flaky")
    failed = recorded("fail")
    a1, a2 = out / "basic-a1", out / "basic-a2"
    a1.mkdir()
    a2.mkdir()
    failed = replace(failed, artefacts=str(a1))
    (a1 / "result.json").write_text(json.dumps(failed.to_dict()))
    passed = recorded("pass")
    summary = passed.summary.to_dict()
    summary["failed_attempts"] = [{"attempt": 1, "verdict": "fail", "error": "", "artefacts": str(a1),
                                   "duration_s": 4.2, "failed_checks": [c.to_dict() for c in failed.failed_checks]}]
    flaky = replace(passed, verdict=Verdict.FLAKY, attempts=2, artefacts=str(a2), summary=Findings.from_dict(summary))
    (a2 / "result.json").write_text(json.dumps(flaky.to_dict()))
    publish(SuiteResult((flaky,), 9.0, 1, started="2026-12-01T03:00:00+00:00"), out)
    return out


def _reason() -> str:
    c = recorded("fail").failed_checks[0]
    return f"{c.name}: expected {c.expected}, seen {c.seen}"


def test_index_and_summary_name_the_failed_attempts_reason(flaky_site):
    html = (flaky_site / "index.html").read_text()
    row = re.search(r'<tr class="row".*?</tr>', html, re.S).group(0)
    assert "attempt 1 FAIL" in row and _reason() in row
    md = (flaky_site / "summary.md").read_text()
    table_row = next(line for line in md.splitlines() if "| FLAKY |" in line)
    assert "attempt 1 FAIL" in table_row and "call1.final\\_code" in table_row
    section = md.split("- FLAKY", 1)[1]
    assert section.index("Passed on attempt 2") < section.index("Files:")


def test_failed_attempt_folder_has_its_own_page(flaky_site):
    page = flaky_site / "basic-a1" / "report.html"
    assert page.is_file()
    html = page.read_text()
    assert "FAIL" in html and "What failed" in html and "call1.final_code" in html
    assert 'href="../index.html"' in html


def test_flaky_page_shows_the_failed_attempts_reason_first(flaky_site, tmp_path):
    dom, log = browse((flaky_site / "basic-a2" / "report.html").as_uri(), tmp_path / "profile")
    assert console_errors(log) == []
    box = dom.index('class="failed flaky-first"')
    assert "Flaky: passed on attempt 2 after 1 failed" in dom
    first_ladder = dom.index('class="ladder')
    assert box < first_ladder < dom.index("<h3>All checks</h3>")
    first_box = dom[box:first_ladder]
    assert "call1.final_code" in first_box and recorded("fail").failed_checks[0].seen in first_box
    link = re.search(r'href="([^"]+)">page of attempt 1</a>', first_box).group(1)
    assert (flaky_site / "basic-a2" / link).resolve() == (flaky_site / "basic-a1" / "report.html").resolve()


def test_the_reason_is_not_repeated_further_down(flaky_site):
    html = (flaky_site / "basic-a2" / "report.html").read_text()
    assert html.count("call1.final_code") == 1 and "Earlier attempts" not in html
