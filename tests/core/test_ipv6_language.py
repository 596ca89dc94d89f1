"""IPv6 agents in the language: ``address: "::1"`` (in any textual form), ``[::1]`` URIs,
what pjsua is given for them (``--ipv6-only``, patch 0007) and what is still refused
(another IPv6 address, parties of different IP versions) with ``file:line: key: message``."""

from __future__ import annotations

from pathlib import Path

import pytest

from callgen.analysis.ipaddr import canonical_ip, endpoint
from callgen.errors import ScenarioError, ScenarioErrors
from callgen.pjsua.features import Feature, features_from_help
from callgen.run.plan import agent_options, contact_uri, plan_run
from callgen.run.preflight import load_checked, needed_features
from callgen.verdict.legs import agent_addresses
from tests.conftest import SCENARIOS

V6 = """\
name: t
agents:
  alice: {role: caller, address: "::1"}
  bob: {role: callee, address: "0:0:0:0:0:0:0:1"}
calls:
  - from: alice
    to: bob
"""


def _lines(write_yaml, text: str) -> list[str]:
    with pytest.raises(ScenarioError) as ei:
        load_checked(write_yaml(text), None)
    e = ei.value
    return e.lines() if isinstance(e, ScenarioErrors) else [str(e)]


def test_ipv6_loopback_agents_load_with_one_textual_form(write_yaml):
    s = load_checked(write_yaml(V6), None)
    assert [a.address for a in s.agents] == ["::1", "::1"]
    assert [a.domain for a in s.agents] == ["::1", "::1"]


def test_ipv6_agent_is_given_ipv6_only_transports_and_media(write_yaml):
    s = load_checked(write_yaml(V6), None)
    plan = plan_run(s, Path("/RUN"), 20000, 400)
    alice, bob = plan.agents
    tokens = [o.token for o in agent_options(alice.agent, alice.sip_port, alice.rtp_port, Path("/RUN/a.log"))]
    assert "--ipv6-only" in tokens
    assert {"--id=sip:alice@[::1]", "--ip-addr=::1", "--bound-addr=::1"} <= set(tokens)
    assert contact_uri(bob.agent, 5062) == "sip:bob@[::1]:5062"
    assert plan.calls[0].uri == f"sip:bob@[::1]:{bob.sip_port}"
    v4 = load_checked(write_yaml(V6.replace('"::1"', '"127.0.0.1"').replace('"0:0:0:0:0:0:0:1"', '"127.0.0.1"'),
                                 "v4.yaml"), None)
    assert not any(o.name == "--ipv6-only" for o in agent_options(v4.agents[0], 5060, 5100, Path("/RUN/a.log")))


def test_ipv6_agents_need_patch_0007(write_yaml):
    s = load_checked(write_yaml(V6), None)
    assert [(k, f) for k, f, _ in needed_features(s)] == [(("agents", "alice", "address"), Feature.IPV6_ONLY),
                                                          (("agents", "bob", "address"), Feature.IPV6_ONLY)]
    assert Feature.IPV6_ONLY in features_from_help("  --ipv6              Create SIP IPv6 transports.\n"
                                                   "  --ipv6-only         IPv6 only: SIP transports on ...\n")
    assert Feature.IPV6_ONLY not in features_from_help("  --ipv6              Create SIP IPv6 transports.\n")


def test_ipv6_uris_from_an_ipv6_agent_are_accepted(write_yaml):
    text = V6.replace("to: bob", "to: 'sip:bob@[::1]:5070'")
    text = text.replace('alice: {role: caller, address: "::1"}',
                        'alice: {role: caller, address: "::1", proxy: "sip:[::1]:5080;lr", '
                        'register: {registrar: "sip:[0::1]:5080", password: x}}')
    s = load_checked(write_yaml(text), None)
    assert s.calls[0].uri == "sip:bob@[::1]:5070" and s.agents[0].proxy == "sip:[::1]:5080;lr"


@pytest.mark.parametrize("address", ["2001:db8::1", "fe80::1", "::ffff:127.0.0.1"])
def test_a_non_loopback_ipv6_agent_is_refused(write_yaml, address):
    (line,) = _lines(write_yaml, V6.replace('"0:0:0:0:0:0:0:1"', f'"{address}"'))
    assert f"s.yaml:4: agents.bob.address: '{address}': an IPv6 agent must use the loopback address '::1'" in line


def test_a_bracketed_or_bad_address_is_refused_by_the_schema(write_yaml):
    (line,) = _lines(write_yaml, V6.replace('"::1"', '"[::1]"', 1))
    assert ("s.yaml:3: agents.alice.address: '[::1]' is not allowed; allowed: an IPv4 address, e.g. 127.0.0.1; "
            "or an IPv6 address without brackets, e.g. ::1") in line


def test_ipv6_uri_from_an_ipv4_agent_is_refused(write_yaml):
    text = V6.replace('address: "::1"', 'address: "127.0.0.1"').replace("to: bob", "to: 'sip:bob@[::1]:5070'")
    lines = _lines(write_yaml, text)
    assert any("s.yaml:7: calls[0].to: 'sip:bob@[::1]:5070': 'alice' is an IPv4 agent (127.0.0.1) and has no "
               "IPv6 transport; give it address '::1'" in x for x in lines)


def test_ipv4_uri_from_an_ipv6_agent_is_refused(write_yaml):
    (line,) = _lines(write_yaml, V6.replace("to: bob", "to: 'sip:bob@127.0.0.1:5070'"))
    assert "calls[0].to: 'sip:bob@127.0.0.1:5070': 'alice' is an IPv6 agent (::1) and has no IPv4 transport" in line


def test_a_remote_ipv6_host_is_refused(write_yaml):
    (line,) = _lines(write_yaml, V6.replace("to: bob", "to: 'sip:bob@[2001:db8::5]:5060'"))
    assert "calls[0].to: 'sip:bob@[2001:db8::5]:5060': an IPv6 host other than ::1 cannot be reached" in line


def test_agents_of_different_ip_versions_cannot_call_each_other(write_yaml):
    (line,) = _lines(write_yaml, V6.replace('address: "::1"', 'address: "127.0.0.1"'))
    assert "s.yaml:7: calls[0].to: 'alice' (127.0.0.1) and 'bob' (::1) are of different IP versions" in line


def test_ipv6_registrar_from_an_ipv4_agent_is_refused(write_yaml):
    text = V6.replace('alice: {role: caller, address: "::1"}',
                      "alice: {role: caller, register: {registrar: 'sip:[::1]:5060', password: x}}")
    text = text.replace('"0:0:0:0:0:0:0:1"', '"127.0.0.1"')
    (line,) = _lines(write_yaml, text)
    assert "agents.alice.register.registrar: 'sip:[::1]:5060': 'alice' is an IPv4 agent" in line


def test_addresses_compare_in_canonical_form():
    assert canonical_ip("0:0:0:0:0:0:0:1") == canonical_ip("[::1]") == "::1"
    assert endpoint("0000::0001", 5060) == "[::1]:5060" and endpoint("127.0.0.1", 5060) == "127.0.0.1:5060"
    assert "[::1]:5061" in agent_addresses("0:0::1", 5060)


def test_the_library_ipv6_scenario_loads():
    s = load_checked(SCENARIOS / "ipv6_call.yaml", None)
    assert {a.address for a in s.agents} == {"::1"}


KAM6 = """\
name: t
targets:
  K6: {local: {kind: KIND, address: "::1"}}
agents:
  alice: {role: caller, address: "::1", register: {registrar: "sip:${K6}", password: x}}
  bob: {role: callee, address: "::1"}
calls:
  - from: alice
    to: bob
"""


def test_a_local_kamailio_on_ipv6_stands_for_an_ipv6_target(write_yaml):
    s = load_checked(write_yaml(KAM6.replace("KIND", "kamailio")), None)
    assert s.agents[0].register.registrar == "sip:[::1]:5060"
    [t] = s.local_targets
    assert (t.name, t.kind, t.address) == ("K6", "kamailio", "::1")


def test_a_local_sbc_on_ipv6_is_refused(write_yaml):
    lines = _lines(write_yaml, KAM6.replace("KIND", "sbc"))
    assert any("s.yaml:3: targets.K6.local.address: a local SBC runs on 127.0.0.1 only" in x for x in lines), lines


def test_kamailio_on_ipv6_listens_and_is_dialled_in_brackets(tmp_path):
    from callgen.sut.kamailio import KamailioConfig, KamailioProcess

    k = KamailioProcess(KamailioConfig(tmp_path, address="::1", port=5999))
    assert k.uri == "sip:[::1]:5999" and k.outbound_uri == "sip:[::1]:5999;lr"
    assert "LISTEN=udp:[::1]:5999" in k.argv()
