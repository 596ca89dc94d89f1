"""Extra SIP headers (issue 22, callgen's pjsua patch 0001), proven by peers that are not pjsua:
a SIPp UAS that requires X-Case-Id in the INVITE, and a Kamailio route that removes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callgen.sut.kamailio import DEFAULT_CONFIG, start_kamailio
from callgen.sut.sipp import start_sipp

SIPP_XML = Path(__file__).resolve().parent.parent / "data" / "sipp"

CALL_SIPP = """name: {name}
timeout: 30
agents:
  alice: {{role: caller, codecs: [PCMA]}}
calls:
  - from: alice
    to: ${{PEER}}
    {headers}
    steps:
      - wait: confirmed
      - pause: 0.5
      - hangup: alice
      - wait: disconnected
"""


def _run(cli, tmp_path: Path, name: str, text: str, *variables: str):
    scenario = tmp_path / f"{name}.yaml"
    scenario.write_text(text, encoding="utf-8")
    out = tmp_path / f"out-{name}"
    args = [a for v in variables for a in ("--var", v)]
    r = cli("run", str(scenario), "-o", str(out), *args)
    result = json.loads((out / name / "result.json").read_text())
    return r, result, {c["name"]: c for c in result["checks"]}, out / name


@pytest.mark.tool("sipp")
@pytest.mark.parametrize("headers, sipp_ok", [
    ("", False),  # without the header SIPp's check fails the call: the SIPp scenario does test something
    ('headers: {X-Case-Id: "nightly-43"}', False),
    ('headers: {X-Case-Id: "nightly-42", P-Asserted-Identity: "<sip:+15550100@example.com>"}', True),
])
def test_sipp_uas_requires_x_case_id(cli, tmp_path, pjsua_bin, headers, sipp_ok):
    name = "x_case_id"
    with start_sipp(tmp_path, scenario_file=SIPP_XML / "x_case_id.xml", service="peer", calls=1, timeout_s=30) as sipp:
        r, result, checks, _ = _run(cli, tmp_path, name, CALL_SIPP.format(name=name, headers=headers), f"PEER={sipp.uri}")
        sipp_result = sipp.wait(15)
    assert r.status == 0, r.out + r.err  # callgen's own checks (INVITE, 200, BYE) pass either way
    assert sipp_result.ok is sipp_ok, sipp_result.describe()
    assert (sipp_result.failed_calls or 0) == (0 if sipp_ok else 1), sipp_result.describe()


ROUTED = """name: {name}
timeout: 40
agents:
  alice:
    role: caller
    register: {{registrar: "sip:${{KAMAILIO}}", password: "${{SIP_PASSWORD}}", headers: {{X-Reg: r-1}}}}
    proxy: "sip:${{KAMAILIO}};lr"
  bob:
    role: callee
    answer_headers: {{X-Answered-By: bob}}
    register: {{registrar: "sip:${{KAMAILIO}}", password: "${{SIP_PASSWORD}}"}}
    proxy: "sip:${{KAMAILIO}};lr"
calls:
  - from: alice
    to: "sip:bob@${{KAMAILIO}}"
    headers: {{X-Case-Id: nightly-42, X-Keep: kept}}
    steps:
      - wait: confirmed
      - pause: 0.5
      - hangup: alice
      - wait: disconnected
    expect:
      headers: {{X-Case-Id: nightly-42, X-Keep: {{regex: "k.pt"}}, X-Internal: absent}}
"""


@pytest.mark.parametrize("remove", [False, True])
def test_kamailio_removing_the_header_fails_expect_headers(cli, tmp_path, pjsua_bin, monkeypatch, remove):
    """A proxy that strips X-Case-Id: expect.headers fails, naming the header (read from the capture);
    the same route without remove_hf passes.  Answer and REGISTER headers are on the wire too."""
    cfg = DEFAULT_CONFIG.read_text()
    if remove:
        cfg = cfg.replace("route[RELAY] {\n", 'route[RELAY] {\n\tremove_hf("X-Case-Id");\n', 1)
        assert 'remove_hf("X-Case-Id")' in cfg
    (tmp_path / "kamailio.cfg").write_text(cfg)
    password = "hdr-secret-1"
    monkeypatch.setenv("SIP_PASSWORD", password)
    with start_kamailio(tmp_path / "kam", password=password, config_file=tmp_path / "kamailio.cfg") as kam:
        name = "routed_headers"
        r, result, checks, run = _run(cli, tmp_path, name, ROUTED.format(name=name), f"KAMAILIO={kam.address}:{kam.port}")
    case, keep, internal = (checks[f"call1.header.{h}"] for h in ("X-Case-Id", "X-Keep", "X-Internal"))
    assert keep["passed"] and internal["passed"], (keep, internal)
    assert case["evidence"] == "capture"
    if remove:
        assert r.status == 1 and result["verdict"] == "fail", r.out + r.err
        assert not case["passed"]
        assert "X-Case-Id is missing from the INVITE that reached bob" in case["reason"], case
    else:
        assert r.status == 0, r.out + r.err
        assert case["passed"], case
    pcap = (run / "capture.pcap").read_bytes()  # the raw capture, not callgen's parser
    assert pcap.count(b"X-Case-Id: nightly-42") == (1 if remove else 2)  # alice -> proxy (-> bob)
    assert b"X-Reg: r-1" in pcap and b"X-Answered-By: bob" in pcap
    # quick exit (patch 0004) for registered agents: callgen un-REGISTERs first, so both
    # un-REGISTERs (Expires: 0) are in the capture although pjsua no longer waits at exit
    assert "--quick-exit" in (run / "alice.cfg").read_text().split()
    assert pcap.count(b"Expires: 0") >= 2
    for name in ("alice", "bob"):
        assert "unregistration success" in (run / f"{name}.transcript.txt").read_text()


TLS = """name: tls_headers
timeout: 30
agents:
  alice: {role: caller, transport: tls}
  bob: {role: callee, transport: tls}
calls:
  - from: alice
    to: bob
    headers: {X-Case-Id: nightly-42}
    expect:
      headers: {X-Case-Id: nightly-42, X-Internal: absent}
  - from: alice
    to: bob
    expect:
      headers: {X-Case-Id: nightly-42}
"""


def test_over_tls_the_headers_come_from_the_callees_log_and_say_so(cli, tmp_path, pjsua_bin):
    r, result, checks, _ = _run(cli, tmp_path, "tls_headers", TLS)
    assert r.status == 1, r.out + r.err  # call 2 sends no header
    first, absent, second = checks["call1.header.X-Case-Id"], checks["call1.header.X-Internal"], checks["call2.header.X-Case-Id"]
    assert first["passed"] and absent["passed"], (first, absent)
    assert first["evidence"] == "pjsua log (bob)"
    assert not second["passed"] and second["evidence"] == "pjsua log (bob)"
    assert "X-Case-Id is missing from the INVITE that reached bob" in second["reason"]
    assert [c["name"] for c in result["checks"] if not c["passed"]] == ["call2.header.X-Case-Id"]
