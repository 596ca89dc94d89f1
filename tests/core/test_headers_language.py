"""The headers language (issue 22): where headers may be given, and what expect.headers accepts."""

from __future__ import annotations

import pytest

from callgen.errors import ScenarioError
from callgen.scenario.headers import HeaderExpect
from callgen.scenario.loader import load_scenario

BASE = """name: t
agents:
  alice: {role: caller}
  bob: {role: callee}
  uas: {role: callee, sipp: {scenario: uas}}
calls:
  - from: alice
    to: bob
    headers: {X-Case-Id: nightly-42, X-Priority: 3}
    expect:
      headers: {X-Case-Id: nightly-42, X-Internal: absent, P-Asserted-Identity: {regex: "<sip:\\\\+1555.*>"}}
"""


def test_the_language_reads_into_the_model(write_yaml):
    s = load_scenario(write_yaml(BASE))
    call = s.calls[0]
    assert call.headers == (("X-Case-Id", "nightly-42"), ("X-Priority", "3"))
    assert call.expect.headers == (HeaderExpect("X-Case-Id", value="nightly-42"), HeaderExpect("X-Internal", absent=True),
                                   HeaderExpect("P-Asserted-Identity", regex=r"<sip:\+1555.*>"))
    want = call.expect.headers[2]
    assert want.matches(["<sip:+15550100@example.com>"]) and not want.matches(["x<sip:+15550100@example.com>"])
    assert not call.expect.headers[1].matches(["1"]) and call.expect.headers[1].matches([])


@pytest.mark.parametrize("change, where", [
    (("  alice: {role: caller}", "  alice: {role: caller, answer_headers: {X-A: b}}"),
     ":3: agents.alice.answer_headers: 'answer_headers' is for callees"),
    (("  uas: {role: callee, sipp: {scenario: uas}}", "  uas: {role: callee, answer_headers: {X-A: b}, sipp: {scenario: uas}}"),
     ":5: agents.uas.answer_headers: 'answer_headers' does not apply to a SIPp agent"),
    (('{regex: "<sip:\\\\+1555.*>"}', '{regex: "(unclosed"}'),
     ":11: calls[0].expect.headers.P-Asserted-Identity.regex: not a regular expression"),
    (("X-Case-Id: nightly-42, X-Priority: 3", "X-Case-Id: [a, b]"), ":9: calls[0].headers.X-Case-Id:"),
    (("X-Case-Id: nightly-42, X-Priority: 3", "CSeq: 1 INVITE"), ":9: calls[0].headers.CSeq: pjsua writes the CSeq header itself"),
    (("X-Case-Id: nightly-42, X-Priority: 3", "X-Long: " + "v" * 161), ":9: calls[0].headers.X-Long:"),
])
def test_bad_headers_are_refused_with_file_line_and_key(write_yaml, change, where):
    with pytest.raises(ScenarioError) as ei:
        load_scenario(write_yaml(BASE.replace(*change)))
    assert where in str(ei.value), str(ei.value)


TRANSFER = """name: t
agents:
  alice: {role: caller}
  bob: {role: callee}
  carol: {role: callee}
  dave: {role: caller}
calls:
  - from: alice
    to: bob
    steps:
      - wait: confirmed
      - transfer: {by: bob, to: carol}
"""


def test_transfer_reads_into_the_model(write_yaml):
    from callgen.scenario.model import TransferStep

    s = load_scenario(write_yaml(TRANSFER))
    assert s.calls[0].steps[1] == TransferStep("bob", "carol") and s.calls[0].steps[1].uri is None
    s = load_scenario(write_yaml(TRANSFER.replace("to: carol}", 'to: "sip:carol@127.0.0.1:5080"}')))
    assert s.calls[0].steps[1].uri == "sip:carol@127.0.0.1:5080"


@pytest.mark.parametrize("change, where", [
    ("{by: bob, to: bob}", ":12: calls[0].steps[1].transfer.to: 'bob' must be a callee agent that is not a party"),
    ("{by: bob, to: dave}", ":12: calls[0].steps[1].transfer.to: 'dave' must be a callee agent"),
    ("{by: bob, to: erin}", ":12: calls[0].steps[1].transfer.to: no agent named 'erin'"),
    ("{by: carol, to: carol}", ":12: calls[0].steps[1].transfer.by: 'carol' is not a party of this call"),
])
def test_bad_transfers_are_refused(write_yaml, change, where):
    with pytest.raises(ScenarioError) as ei:
        load_scenario(write_yaml(TRANSFER.replace("{by: bob, to: carol}", change)))
    assert where in str(ei.value), str(ei.value)


@pytest.mark.parametrize("bob, where", [
    ("{role: callee, redirect_to: carol, answer: 200}", ":4: agents.bob.answer: a redirect is a 3xx answer"),
    ("{role: callee, redirect_to: dave}", ":4: agents.bob.redirect_to: 'dave' must be another callee agent"),
    ("{role: callee, redirect_to: bob}", ":4: agents.bob.redirect_to: 'bob' must be another callee agent"),
])
def test_bad_redirects_are_refused(write_yaml, bob, where):
    with pytest.raises(ScenarioError) as ei:
        load_scenario(write_yaml(TRANSFER.replace("  bob: {role: callee}", f"  bob: {bob}")))
    assert where in str(ei.value), str(ei.value)


def test_a_redirect_defaults_to_302_and_expects_the_target_to_answer(write_yaml):
    s = load_scenario(write_yaml(TRANSFER.replace("  bob: {role: callee}", "  bob: {role: callee, redirect_to: carol}")))
    assert s.agent("bob").answer == 302 and s.agent("bob").redirect_to == "carol"
