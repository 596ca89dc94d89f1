"""The reports as a person sees them: rendered by headless Chromium (Debian
``chromium``, installed by ``make setup``), checked in the DOM the browser
built, with the browser console watched for script errors.

Pages are made from result.json files of real runs (tests/data/reports: a
passing call, a failing call, SRTP over TLS)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from callgen.reports import publish
from callgen.suite.execute import SuiteResult
from callgen.verdict.findings import Findings
from callgen.verdict.result import CheckResult, ScenarioResult, Verdict

DATA = Path(__file__).parents[1] / "data" / "reports"
HOSTILE = ('<script>document.body.setAttribute("data-pwned","1")</script>'
           "\"'><img src=x onerror=\"document.body.setAttribute('data-pwned','2')\">")


def chromium_exe() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is not installed: `make setup` installs Debian's chromium for these tests")
    return exe


def browse(url: str, profile: Path, *extra: str) -> tuple[str, str]:
    """(rendered DOM, browser log) of ``url``; the log carries console messages."""
    cmd = [chromium_exe(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *extra, "--dump-dom", url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr


def console_errors(log: str) -> list[str]:
    return [line for line in log.splitlines() if "CONSOLE" in line and ("Uncaught" in line or "Error" in line)]


def recorded(name: str) -> ScenarioResult:
    return ScenarioResult.from_dict(json.loads((DATA / f"{name}_run.json").read_text()))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """An output folder as ``callgen run`` leaves it: index.html plus a page per run folder."""
    out = tmp_path_factory.mktemp("site")
    results = []
    for name in ("pass", "fail", "tls"):
        r = recorded(name)
        folder = out / r.name
        folder.mkdir()
        (folder / "result.json").write_text(json.dumps(r.to_dict()))
        results.append(replace(r, artefacts=str(folder)))
    publish(SuiteResult(tuple(results), 17.0, 2, started="2026-11-30T03:21:00+00:00"), out)
    return out


def arrows(dom: str) -> list[str]:
    return re.findall(r'<g class="(arrow[^"]*)"', dom)


def labels(dom: str) -> list[str]:
    return re.findall(r'<text class="label"[^>]*>([^<]*)</text>', dom)


def test_console_watch_sees_a_script_error(tmp_path):
    """The "no script errors" checks below would see one."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><p>x</p><script>noSuchFunction();</script></body></html>")
    _, log = browse(page.as_uri(), tmp_path / "profile")
    assert any("noSuchFunction" in e for e in console_errors(log))


def test_passing_run_page_shows_the_ladder(site, tmp_path):
    dom, log = browse((site / "basic_call" / "report.html").as_uri(), tmp_path)
    assert console_errors(log) == []
    assert len(arrows(dom)) == 6 and all("kind-" in a for a in arrows(dom))
    assert labels(dom) == ["INVITE", "100 Trying", "200 OK", "ACK", "BYE", "200 OK (BYE)"]
    assert re.search(r'class="party"[^>]*>alice<', dom) and re.search(r'class="party"[^>]*>bob<', dom)
    assert "offer speex/16000" in dom and "alice → bob" in dom and "bob → alice" in dom
    assert "What failed" not in dom
    assert '<a href="capture.pcap">' not in dom and '<a href="result.json">result.json</a>' in dom


def test_failing_run_page_leads_with_the_failed_check(site, tmp_path):
    dom, log = browse((site / "basic_call_expect_busy" / "report.html").as_uri(), tmp_path)
    assert console_errors(log) == []
    section = dom[dom.index('<section class="scenario"'):]
    first_table = section[section.index("<table"):section.index("</table>")]
    assert 'class="failed-checks"' in first_table and "call1.final_code" in first_table
    assert "<td>486</td>" in first_table and "<td>200</td>" in first_table
    assert section.index("What failed") < section.index('<svg class="ladder"') < section.index("All checks")
    assert "SIP/2.0 200 OK" in section[:section.index('<svg class="ladder"')]


def test_tls_run_page_shows_messages_from_the_logs_and_srtp(site, tmp_path):
    url = (site / "srtp_tls" / "report.html").as_uri() + "#s0-call1-m2"
    dom, log = browse(url, tmp_path)
    assert console_errors(log) == []
    assert labels(dom)[:3] == ["INVITE", "100 Trying", "200 OK"] and len(arrows(dom)) == 6
    assert "offer PCMA/8000 SAVP crypto" in dom and "answer PCMA/8000 SAVP crypto" in dom
    assert "from the pjsua logs" in dom and "SRTP, decrypted" in dom
    assert re.search(r'<details class="msg" id="s0-call1-m2" open=""', dom)  # the clicked arrow's message opened
    assert re.search(r'class="dtmf-mark".*?>7<', dom, re.S)


def test_index_filters_by_verdict_and_tag(site, tmp_path):
    dom, log = browse((site / "index.html").as_uri() + "?verdict=fail", tmp_path)
    assert console_errors(log) == []
    rows = re.findall(r'<tr class="row" data-verdict="(\w+)"[^>]*?( style="display: none;")?>', dom)
    assert rows == [("fail", ""), ("pass", ' style="display: none;"'), ("pass", ' style="display: none;"')]
    dom, _ = browse((site / "index.html").as_uri() + "?tag=tls", tmp_path)
    shown = re.findall(r'<section class="scenario" id="s\d" data-verdict="\w+" data-tags="([^"]*)"(?! style="display: none;")', dom)
    assert shown == ["srtp tls"]


def test_hostile_text_stays_text_in_the_browser(tmp_path):
    base = recorded("fail")
    flows = []
    for f in base.summary.to_dict()["call_flows"]:
        f = dict(f)
        f["messages"] = [dict(m, text=m["text"] + f"X-Evil: {HOSTILE}{'A' * 3000}\r\n") for m in f["messages"]]
        f["caller"] = HOSTILE
        flows.append(f)
    evil = replace(base, name=HOSTILE, file=HOSTILE, tags=("x", HOSTILE), error=HOSTILE,
                   checks=base.checks + (CheckResult(HOSTILE, False, HOSTILE, HOSTILE, HOSTILE, "pjsua"),),
                   summary=Findings.from_dict({**base.summary.to_dict(), "call_flows": flows}), artefacts="")
    out = tmp_path / "out"
    publish(SuiteResult((evil, replace(evil, verdict=Verdict.PASS)), 2.0, 1), out)
    dom, log = browse((out / "index.html").as_uri(), tmp_path / "profile")
    assert console_errors(log) == []
    assert not re.search(r"<body[^>]*data-pwned", dom)
    assert "<img" not in dom and 'document.body.setAttribute("data-pwned","1")&lt;/script&gt;' in dom


def test_pages_work_with_javascript_off(site, tmp_path):
    """Hover is an SVG <title>, click-to-expand a <details>: nothing needs the script,
    and without it the filter hides nothing.  (Chromium's --dump-dom itself needs
    scripting, so the page is loaded with its one script element removed.)"""
    page = (site / "index.html").read_text()
    assert page.count("<script>") == 1
    bare = tmp_path / "index.html"
    bare.write_text(re.sub(r"<script>.*?</script>", "", page, flags=re.S))
    dom, _ = browse(bare.as_uri() + "?verdict=fail", tmp_path / "profile")
    assert "<script" not in dom
    assert "display: none" not in dom
    assert len(re.findall(r'<tr class="row"', dom)) == 3 and len(arrows(dom)) == 18
    assert len(re.findall(r'<g class="arrow[^"]*"><title>', dom)) == 18
    assert len(re.findall(r'<details class="msg"', dom)) >= 18
