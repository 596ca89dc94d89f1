"""The scenario language for legs (issue 19): ``callee:`` on URI calls, ``leg:`` on the
call's expect and its parts, SRTP and codec per leg; bad input is one line, exit 2."""

from __future__ import annotations

import pytest

from callgen.errors import ScenarioError
from callgen.scenario.loader import load_scenario

BASE = """\
name: t
targets:
  SBC: {{address: "127.0.0.1:5999"}}
agents:
  alice: {{role: caller{alice}}}
  bob: {{role: callee{bob}}}
calls:
  - from: alice
    to: {to}
{callee}    steps:
      - wait: confirmed
      - dtmf: "1"
      - hangup: bob
    expect:
{expect}"""


def load(write_yaml, expect: str = "      final_code: 200\n", *, to: str = "sip:bob@${SBC}", callee: str = "bob",
         alice: str = "", bob: str = ""):
    text = BASE.format(to=to, callee=f"    callee: {callee}\n" if callee else "", expect=expect, alice=alice, bob=bob)
    return load_scenario(write_yaml(text))


def test_a_uri_call_names_its_answerer(write_yaml):
    s = load(write_yaml, '      dtmf: {digits: "1", receiver: bob}\n')
    call = s.calls[0]
    assert (call.uri, call.callee) == ("sip:bob@127.0.0.1:5999", "bob")
    assert call.expect.dtmf.receiver == "bob"  # refused before: "'bob' is not a party of this call"


def test_callee_with_an_agent_name_in_to_is_refused(write_yaml):
    with pytest.raises(ScenarioError, match=r"calls\[0\]\.callee: 'callee' names the agent a URI reaches"):
        load(write_yaml, to="bob")


def test_callee_must_be_a_callee_agent(write_yaml):
    with pytest.raises(ScenarioError, match=r"calls\[0\]\.callee: no agent named 'carol'"):
        load(write_yaml, callee="carol")
    with pytest.raises(ScenarioError, match=r"calls\[0\]\.callee: agent 'alice' has role 'caller'"):
        load(write_yaml, callee="alice")


def test_srtp_spellings_become_per_leg_expectations(write_yaml):
    cases = {
        "true": (("caller", True), ("callee", True)),
        "false": (("caller", False), ("callee", False)),
        "{leg: caller}": (("caller", True),),
        "{caller: true, callee: false}": (("caller", True), ("callee", False)),
        "{leg: both, callee: false}": (("caller", True), ("callee", False)),
    }
    for spelling, legs in cases.items():
        e = load(write_yaml, f"      srtp: {spelling}\n").calls[0].expect
        assert e.srtp_legs == legs, spelling
        assert e.srtp_for("callee") == dict(legs).get("callee")
    e = load(write_yaml, "      leg: caller\n      srtp: true\n").calls[0].expect
    assert e.srtp_legs == (("caller", True),)  # the call's leg narrows a plain true


def test_codec_per_leg_and_validate_per_leg(write_yaml):
    e = load(write_yaml, "      codec: {caller: PCMA, callee: PCMU}\n",
             alice=", codecs: [PCMA]", bob=", codecs: [PCMU]").calls[0].expect
    assert e.codec_for("caller") == "PCMA" and e.codec_for("callee") == "PCMU"
    # one codec for both legs still needs both agents to have it: named on the leg it cannot be
    with pytest.raises(ScenarioError, match="'PCMA' can never be selected: 'bob' accepts only PCMU"):
        load(write_yaml, "      codec: PCMA\n", alice=", codecs: [PCMA]", bob=", codecs: [PCMU]")
    # ...unless the expectation is narrowed to the caller's leg (a transcoding SBC between them)
    e = load(write_yaml, "      leg: caller\n      codec: PCMA\n", alice=", codecs: [PCMA]", bob=", codecs: [PCMU]").calls[0].expect
    assert e.codec_legs == (("caller", "PCMA"),)


def test_leg_on_parts(write_yaml):
    e = load(write_yaml, '      rtp: {min_packets: 5, leg: callee}\n      dtmf: {digits: "1", receiver: bob, leg: callee}\n'
                         "      media: anchored\n").calls[0].expect
    assert e.rtp.leg == "callee" and e.dtmf.leg == "callee" and e.leg == "both" and e.media == "anchored"
    assert load(write_yaml, "      call_id: changed\n").calls[0].expect.call_id == "changed"


@pytest.mark.parametrize("expect, key", [("      leg: callee\n", "leg"), ("      rtp: {leg: callee}\n", "rtp.leg"),
                                         ("      srtp: {callee: true}\n", "srtp.callee"),
                                         ("      codec: {callee: PCMU}\n", "codec.callee"),
                                         ("      call_id: changed\n", "call_id")])
def test_a_call_to_an_outside_party_has_no_callee_leg(write_yaml, cli, expect, key):
    text = BASE.format(to="sip:carol@${SBC}", callee="", expect=expect, alice="", bob="").replace("      - hangup: bob\n", "")
    r = cli("validate", str(write_yaml(text)))
    assert r.status == 2, r.out + r.err
    assert f"calls[0].expect.{key}: this call has no callee's leg" in r.err.splitlines()[0], r.err
