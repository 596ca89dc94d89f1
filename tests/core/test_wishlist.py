"""Issue #9's wish list: what fits pjsua is in the schema (ptime, expecting no
DTMF); what pjsua cannot do is refused with the reason."""

from __future__ import annotations

import subprocess

import pytest

from callgen.errors import ScenarioError, ScenarioErrors
from callgen.pjsua.render import parse_config
from callgen.run.plan import plan_run
from callgen.scenario.loader import load_scenario

BASE = """\
name: t
agents:
  alice: {role: caller}
  bob: {role: callee}
calls:
  - from: alice
    to: bob
"""


def _line(write_yaml, text: str) -> str:
    with pytest.raises(ScenarioError) as ei:
        load_scenario(write_yaml(text))
    e = ei.value
    lines = e.lines() if isinstance(e, ScenarioErrors) else [str(e)]
    assert len(lines) == 1, lines
    return lines[0]


def test_ptime_reaches_pjsua(write_yaml, tmp_path):
    s = load_scenario(write_yaml(BASE.replace("alice: {role: caller}", "alice: {role: caller, ptime: 30}")))
    assert s.agent("alice").ptime == 30 and s.agent("bob").ptime is None
    plan = plan_run(s, tmp_path, 20000, 400)
    assert "--ptime=30" in parse_config(plan.agent("alice").config_text(s))
    assert not any(t.startswith("--ptime") for t in parse_config(plan.agent("bob").config_text(s)))


def test_ptime_pjsua_accepts_the_option(pjsua_path):
    p = subprocess.run([pjsua_path, "--ptime=30", "--null-audio", "--no-tcp", "--local-port=0", "--ip-addr=127.0.0.1",
                        "--bound-addr=127.0.0.1", "--log-level=1", "--app-log-level=1"],
                       input="q\n", capture_output=True, text=True, timeout=15)
    assert p.returncode == 0 and "active call" in p.stdout, p.stdout[-500:] + p.stderr[-500:]


@pytest.fixture
def pjsua_path(need_tool):
    from callgen.pjsua.toolpaths import find_pjsua

    need_tool("pjsua")
    return find_pjsua(None, required=False)


def test_ptime_must_be_whole_tens(write_yaml):
    line = _line(write_yaml, BASE.replace("alice: {role: caller}", "alice: {role: caller, ptime: 25}"))
    assert "agents.alice.ptime: 25 is not a multiple of 10" in line


def test_expecting_no_dtmf_is_allowed(write_yaml):
    s = load_scenario(write_yaml(BASE + "    expect: {dtmf: {digits: ''}}\n"))
    assert s.calls[0].expect.dtmf is not None and s.calls[0].expect.dtmf.digits == ""


def test_srtp_suites_are_refused_with_the_reason(write_yaml):
    text = BASE.replace("alice: {role: caller}", "alice: {role: caller, srtp: {use: mandatory, suites: [AES_CM_128_HMAC_SHA1_80]}}")
    line = _line(write_yaml, text)
    assert "s.yaml:3: agents.alice.srtp.suites: 'suites' is not supported: pjsua has no option to choose SRTP crypto suites" in line


@pytest.mark.parametrize("key, reason", [
    ("duration_ms: 100", "'duration_ms' is not supported: pjsua has no option for the RFC 2833 event duration"),
    ("payload_type: 101", "'payload_type' is not supported: pjsua has no option for the telephone-event payload type: it always uses 120"),
])
def test_dtmf_event_options_are_refused_with_the_reason(write_yaml, key, reason):
    line = _line(write_yaml, BASE + f"    steps: [{{wait: confirmed}}, {{dtmf: '1', {key}}}, {{hangup: alice}}]\n")
    assert f"s.yaml:8: calls[0].steps[1].{key.split(':')[0]}: {reason}" in line


def test_outside_caller_is_refused_with_the_reason(write_yaml):
    line = _line(write_yaml, BASE.replace("from: alice", "from: 'sip:carol@127.0.0.1:5090'"))
    assert "s.yaml:6: calls[0].from: an outside party cannot be the caller" in line
    assert "put the outside party in 'to'" in line


def test_rfc2833_strings_longer_than_32_digits_are_accepted(write_yaml):
    digits = "1234567890" * 4
    s = load_scenario(write_yaml(BASE + f"    steps: [{{wait: confirmed}}, {{dtmf: '{digits}'}}, {{hangup: alice}}]\n"))
    assert s.calls[0].steps[1].digits == digits
