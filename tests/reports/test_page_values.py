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
from callgen.verdict.findings import Findings
from callgen.verdict.result import ScenarioResult

DATA = Path(__file__).resolve().parents[1] / "data" / "reports"


def with_unset_findings() -> ScenarioResult:
    r = ScenarioResult.from_dict(json.loads((DATA / "pass_run.json").read_text()))
    return replace(r, summary=Findings.from_dict({**r.summary.to_dict(), "truncated": None, "skipped": {}, "rtcp": [], "note": "kept",
                          "extra": [{"codec": "PCMA", "decrypt_error": None, "gaps": {"lost": 0, "why": None}}]}))


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


def test_a_reason_that_restates_expected_and_seen_is_not_repeated():
    from callgen.reports.text import check_line
    from callgen.verdict.result import CheckResult

    same = CheckResult("call1.final_code", False, "486", "200", "expected 486, the capture shows 200", "capture")
    assert check_line(same) == "FAIL call1.final_code: expected 486, seen 200 [capture]"
    more = CheckResult("call1.dtmf", False, "1234", "124", "digit 3 missing", "capture")
    assert check_line(more) == "FAIL call1.dtmf: expected 1234, seen 124 (digit 3 missing) [capture]"
    page = render_run_page(replace(with_unset_findings(), checks=(same,)), None)
    row = re.search(r'<table class="failed-checks">.*?</table>', page, re.S).group(0)
    assert "the capture shows 200" not in row


def test_load_figures_carry_their_unit_and_a_sane_rounding():
    load = {"attempted": 30, "answered": 23, "asr_pct": 76.667, "proven": 30, "proven_pct": 100.0,
            "final_codes": {"200": 23, "486": 7}, "setup_ms": {"p50": 1.2, "p95": 3.4, "p99": 3.9, "max": 4.0},
            "concurrency_max": 11, "dtmf_proven_pct": 100.0, "active_per_second": [], "cps_per_second": []}
    r = replace(with_unset_findings(), summary=Findings.from_dict({"load": load}))
    page = render_run_page(r, None)
    table = dict(re.findall(r"<tr><th>([^<]+)</th><td>([^<]*)</td></tr>", page))
    assert table["answered (ASR)"] == "23 (76.7%)"
    assert table["proven from the capture"] == "30 (100.0%)"
    assert table["DTMF proven"] == "100.0%"
    r = replace(r, summary=Findings.from_dict({"load": {**load, "dtmf_proven_pct": None}}))
    assert dict(re.findall(r"<tr><th>([^<]+)</th><td>([^<]*)</td></tr>", render_run_page(r, None)))["DTMF proven"] == "no DTMF sent"


def test_the_dtmf_digit_that_differs_is_marked():
    from callgen.verdict.result import CheckResult

    dtmf = CheckResult("call1.dtmf", False, "digits 1234 at bob", "digits 1244 (rfc4733)",
                       "expected 1234, the capture shows 1244", "capture")
    missing = CheckResult("call2.dtmf", False, "digits 1234# at bob", "digits 124# (rfc4733)", "", "capture")
    page = render_run_page(replace(with_unset_findings(), checks=(dtmf, missing)), None)
    table = re.search(r'<table class="failed-checks">.*?</table>', page, re.S).group(0)
    assert "digits 12<mark>4</mark>4 (rfc4733)" in table and "digit 3: 3 expected, 4 seen" in table
    assert "digits 12<mark>‸</mark>4# (rfc4733)" in table and "digit 3: 3 missing" in table


def test_a_stream_that_did_not_decrypt_says_why_on_the_page_and_in_markdown():
    """A typed stream finding is read by field (a dict-style read raised TypeError, exit 3)."""
    from callgen.reports.page import security_parts
    from callgen.verdict.findings import StreamFinding

    s = StreamFinding.from_dict({"src": "127.0.0.1:4000", "dst": "127.0.0.1:4002", "srtp": True, "decrypted": False,
                                 "decrypt_error": "every packet failed SRTP authentication", "crypto_suite": "AES_CM_128_HMAC_SHA1_80"})
    assert security_parts(s) == ("SRTP, not decrypted: every packet failed SRTP authentication", "AES_CM_128_HMAC_SHA1_80")
