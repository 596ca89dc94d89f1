"""Loader and schema: valid files become a frozen model; every invalid file
gets one line naming file, line and key path, and nothing runs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from callgen.errors import ScenarioError, ScenarioErrors
from callgen.scenario.loader import load_scenario
from callgen.scenario.model import CallState, HangupStep, PauseStep, Role, WaitStep
from callgen.scenario.schema import scenario_schema
from tests.conftest import SCENARIOS

GOOD = """\
name: t
agents:
  alice:
    role: caller
  bob:
    role: callee
    answer: 200
calls:
  - from: alice
    to: bob
"""


def test_shipped_scenarios_load():
    files = sorted(SCENARIOS.glob("*.yaml"))
    assert files, "no scenarios shipped"
    for f in files:
        s = load_scenario(f)
        assert s.name and s.agents and (s.calls or s.load)


def test_model_is_frozen_and_typed(write_yaml):
    s = load_scenario(write_yaml(GOOD))
    assert s.agent("alice").role is Role.CALLER
    assert s.agent("bob").answer == 200
    assert s.agent("alice").address == "127.0.0.1"
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.name = "x"  # type: ignore[misc]


def test_default_steps_answered_call(write_yaml):
    s = load_scenario(write_yaml(GOOD))
    steps = s.calls[0].steps
    assert isinstance(steps[0], WaitStep) and steps[0].state is CallState.CONFIRMED
    assert isinstance(steps[1], PauseStep)
    assert isinstance(steps[2], HangupStep) and steps[2].by == "alice"


def test_default_steps_rejected_call(write_yaml):
    s = load_scenario(write_yaml(GOOD.replace("answer: 200", "answer: 486")))
    assert [type(x) for x in s.calls[0].steps] == [WaitStep]
    assert s.calls[0].steps[0].state is CallState.DISCONNECTED


@pytest.mark.parametrize("expect", ["final_code: 486", "answered: false"])
def test_default_steps_uri_call_expected_to_be_refused(write_yaml, expect):
    text = GOOD.replace("    to: bob\n", f"    to: sip:far@127.0.0.1:5999\n    expect: {{{expect}}}\n")
    steps = load_scenario(write_yaml(text)).calls[0].steps
    assert [type(x) for x in steps] == [WaitStep] and steps[0].state is CallState.DISCONNECTED


@pytest.mark.parametrize("uri", ["sips:far@127.0.0.1:5999", "sip:far@127.0.0.1:5999;transport=TLS"])
def test_tls_uri_from_an_agent_without_tls_is_refused(write_yaml, uri):
    """Nothing would be sent (pjsua has no TLS transport): refused at validate, not a capture error."""
    e = _err(write_yaml, GOOD.replace("    to: bob\n", f"    to: '{uri}'\n"))
    assert "calls[0].to" in str(e) and "needs TLS" in str(e) and "transport: tls" in str(e), str(e)
    assert str(e).split(": ")[0].endswith("s.yaml:10"), str(e)  # the line of 'to:'


def _err(write_yaml, text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as ei:
        load_scenario(write_yaml(text))
    return ei.value


def test_wrong_type_names_file_line_and_key(write_yaml):
    e = _err(write_yaml, GOOD.replace("answer: 200", "answer: ok"))
    assert str(e).endswith("s.yaml:7: agents.bob.answer: 'ok' is not of type 'integer'")
    assert "> 7 |     answer: ok" in e.snippet


def test_misspelled_key_suggests_the_right_one(write_yaml):
    e = _err(write_yaml, GOOD.replace("answer: 200", "answr: 200"))
    assert "s.yaml:7: agents.bob.answr: unknown key 'answr' (did you mean 'answer'?)" in str(e)


def test_unknown_top_level_key(write_yaml):
    e = _err(write_yaml, GOOD + "colour: blue\n")
    assert "s.yaml:11: colour: unknown key 'colour'" in str(e)


def test_list_index_in_path(write_yaml):
    e = _err(write_yaml, GOOD.replace("    role: caller\n", "    role: caller\n    codecs: [PCMA, 'a b']\n", 1))
    assert ":5: agents.alice.codecs[1]:" in str(e)


def test_syntax_error_has_line(write_yaml):
    e = _err(write_yaml, "name: t\nagents: [\n")
    assert "s.yaml:3" in str(e) and "YAML syntax error" in str(e)


def test_duplicate_key_rejected(write_yaml):
    e = _err(write_yaml, GOOD.replace("    answer: 200\n", "    answer: 200\n    answer: 486\n"))
    assert ":8: agents.bob.answer: duplicate key" in str(e)


def test_call_from_must_be_a_caller(write_yaml):
    e = _err(write_yaml, GOOD.replace("from: alice", "from: bob"))
    assert ":9: calls[0].from: agent 'bob' has role 'callee'" in str(e)


def test_call_to_unknown_agent(write_yaml):
    e = _err(write_yaml, GOOD.replace("to: bob", "to: carol"))
    assert ":10: calls[0].to: no agent named 'carol'" in str(e)


def test_step_with_two_actions(write_yaml):
    e = _err(write_yaml, GOOD + "    steps:\n      - wait: confirmed\n        pause: 1\n")
    assert "calls[0].steps[0]: a step has exactly one action, found wait, pause" in str(e)


@pytest.mark.parametrize("step, found", [
    ("dtmf: '1'\n        hold: alice", "dtmf, hold"),
    ("dtmf: '1'\n        pause: 1", "pause, dtmf"),
    ("unhold: alice\n        hangup: alice", "hangup, unhold"),
])
def test_step_with_two_actions_of_any_kind(write_yaml, step, found):
    """Every action counts, not only wait/pause/hangup."""
    e = _err(write_yaml, GOOD + f"    steps:\n      - {step}\n")
    assert f"calls[0].steps[0]: a step has exactly one action, found {found}" in str(e)


def test_step_without_action_lists_all_seven(write_yaml):
    e = _err(write_yaml, GOOD + "    steps:\n      - timeout: 3\n")
    assert "a step needs one action: wait, pause, hangup, dtmf, hold, unhold or transfer" in str(e)


def test_hangup_by_stranger(write_yaml):
    e = _err(write_yaml, GOOD + "    steps:\n      - hangup: carol\n")
    assert "calls[0].steps[0].hangup: 'carol' is not a party of this call" in str(e)


def test_fixed_port_clash(write_yaml):
    text = GOOD.replace("role: caller\n", "role: caller\n    port: 5060\n").replace("role: callee\n", "role: callee\n    port: 5061\n")
    e = _err(write_yaml, text)
    assert "agents.bob.port: port 5061 clashes with agent 'alice'" in str(e)


def test_several_errors_reported_together(write_yaml):
    with pytest.raises(ScenarioErrors) as ei:
        load_scenario(write_yaml(GOOD.replace("answer: 200", "answr: 200").replace("role: caller", "role: talker")))
    lines = ei.value.lines()
    assert len(lines) == 2
    assert ":4: agents.alice.role:" in lines[0] and ":7: agents.bob.answr:" in lines[1]


def test_missing_file():
    with pytest.raises(ScenarioError) as ei:
        load_scenario(Path("/nonexistent/x.yaml"))
    assert "no such file" in str(ei.value)


def test_schema_is_valid_2020_12_with_descriptions_everywhere():
    schema = scenario_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"].endswith("2020-12/schema")

    def walk(node, path):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                assert node.get("additionalProperties") is False, f"{path}: additionalProperties must be false"
                for k, v in node["properties"].items():
                    assert "description" in v, f"{path}.{k} has no description"
            for k, v in node.items():
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(schema, "$")


def test_packaged_schema_copy_matches():
    packaged = Path(__file__).resolve().parents[2] / "callgen" / "scenario" / "data" / "scenario.schema.json"
    src = Path(__file__).resolve().parents[2] / "schemas" / "scenario.schema.json"
    assert json.loads(packaged.read_text()) == json.loads(src.read_text())


def test_non_loopback_ipv6_agent_is_refused_with_the_reason(write_yaml):
    e = _err(write_yaml, GOOD.replace("    role: caller\n", "    role: caller\n    address: '2001:db8::1'\n", 1))
    assert ":5: agents.alice.address: '2001:db8::1': an IPv6 agent must use the loopback address '::1'" in str(e)


def test_parallel_calls_group_and_refuse_a_busy_agent(write_yaml):
    two = GOOD + "  - from: alice\n    to: bob\n    parallel: true\n"
    e = _err(write_yaml, two)
    assert ":13: calls[1].parallel: 'alice' is already in a call running at the same time" in str(e)
    ok = GOOD.replace("calls:\n", "").replace("  - from: alice\n    to: bob\n", "") + (
        "  carol:\n    role: caller\n  dave:\n    role: callee\n"
        "calls:\n  - from: alice\n    to: bob\n  - from: carol\n    to: dave\n    parallel: true\n"
        "  - from: alice\n    to: dave\n"
    )
    s = load_scenario(write_yaml(ok, "ok.yaml"))
    assert [[c.index for c in g] for g in s.call_groups()] == [[0, 1], [2]]
