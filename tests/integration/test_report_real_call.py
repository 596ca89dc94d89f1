"""A real SRTP call over TLS, end to end into the report: the flow checks.evaluate
builds from the pjsua logs lands in result.json, and the run folder's page shows
it in a real browser (one call)."""

from __future__ import annotations

import json
import re

from callgen.verdict.result import ScenarioResult
from tests.conftest import SCENARIOS
from tests.reports.test_report_browser import arrows, browse, console_errors, labels


def test_tls_call_flow_reaches_result_json_and_the_page(cli, tmp_path, pjsua_bin):
    out = tmp_path / "out"
    r = cli("run", str(SCENARIOS / "srtp_tls.yaml"), "-o", str(out), "--pjsua", pjsua_bin)
    assert r.status == 0, r.out + r.err
    run = out / "srtp_tls"
    result = ScenarioResult.from_dict(json.loads((run / "result.json").read_text()))
    (flow,) = result.flows
    ports = {name: int(re.search(r"^--local-port=(\d+)$", (run / f"{name}.cfg").read_text(), re.M).group(1))
             for name in ("alice", "bob")}
    # over TLS each lane names the agent's TLS port (pjsua listens for TLS on its SIP port + 1)
    assert [(p.name, p.address) for p in flow.parties] == [(n, f"127.0.0.1:{ports[n] + 1}") for n in ("alice", "bob")]
    assert [m.label for m in flow.messages][0] == "INVITE" and flow.messages[0].src_party == 0
    assert {m.source for m in flow.messages} == {"pjsua log"}  # TLS: the capture holds ciphertext
    assert flow.messages[0].sdp and flow.messages[0].sdp.savp and flow.messages[0].sdp.crypto
    assert "inline:<key removed>" in flow.messages[0].text
    dom, log = browse((run / "report.html").as_uri(), tmp_path / "profile")
    assert console_errors(log) == []
    assert len(arrows(dom)) == len(flow.messages)
    assert labels(dom)[0].startswith("INVITE sip:bob@127.0.0.1:") and labels(dom)[0].endswith(" · TLS")  # R-URI, transport
    assert "SRTP, decrypted" in dom and re.search(r'class="dtmf-mark".*?>7<', dom, re.S)
