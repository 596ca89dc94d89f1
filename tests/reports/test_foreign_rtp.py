"""RTP in the capture that no SDP of the run offered (another process on the same ports, issue 25)
is never shown as the scenario's media: the run's page and summary.md keep it apart."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

from callgen.reports.index import render_markdown
from callgen.reports.page import render_run_page
from callgen.suite.execute import SuiteResult
from callgen.verdict.findings import Findings
from callgen.verdict.result import ScenarioResult, Verdict

DATA = Path(__file__).resolve().parents[1] / "data" / "reports"


def errored_beside_another_process() -> ScenarioResult:
    """bob could not bind its port; the capture still saw another program's RTP on the run's ports."""
    passed = ScenarioResult.from_dict(json.loads((DATA / "pass_run.json").read_text()))
    streams = [{**s, "call_id": None} for s in passed.summary.to_dict()["rtp_streams"]]
    summary = {k: v for k, v in passed.summary.to_dict().items() if k not in ("call_flows", "dialogs")}
    summary = Findings.from_dict({**summary, "rtp_streams": streams, "dtmf": []})
    return replace(passed, verdict=Verdict.ERROR, checks=(), ladder=(), summary=summary,
                   error="agent bob: pjsua exited while waiting for pjsua ready (its menu) (pjsua said: bind() error: "
                         "Address already in use [status=120098]; its SIP port 127.0.0.1:20400 is held by another process)")


def test_rtp_no_sdp_offered_is_not_this_scenarios_media():
    result = errored_beside_another_process()
    assert not result.flows and result.summary.to_dict()["rtp_streams"]
    page = render_run_page(result, None)
    assert "<h3>Media</h3>" not in page and "Media not tied to a call" not in page
    foreign = re.search(r'<div class="foreign">.*?</div>', page, re.S).group(0)
    assert "RTP no call of this run offered" in foreign and "another program" in foreign and "not this scenario's media" in foreign
    assert foreign.count("<tr><td") == len(result.summary.to_dict()["rtp_streams"])
    assert "bind() error: Address already in use" in page
    md = render_markdown(SuiteResult((result,), 1.0, 1), Path("/nonexistent"))
    assert "| direction | codec |" not in md
