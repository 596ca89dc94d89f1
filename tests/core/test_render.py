"""Renderer: golden config files, and no scenario value can smuggle in another
pjsua option (checked with pjsua's own tokenisation rules)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from callgen.errors import ScenarioError
from callgen.pjsua.render import PjsuaOption, RenderError, parse_config, quote_token, render_config
from callgen.run.plan import agent_options, plan_run
from callgen.scenario.loader import load_scenario
from callgen.scenario.model import Agent, Role
from tests.conftest import SCENARIOS

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
RUN = Path("/RUN")


def _rendered(scenario_file: Path) -> dict[str, str]:
    s = load_scenario(scenario_file)
    plan = plan_run(s, RUN, 20000, 400)
    return {ap.name: ap.config_text(s).replace(str(scenario_file), scenario_file.name) for ap in plan.agents}


@pytest.mark.parametrize("name", ["basic_call", "busy"])
def test_golden_configs(name):
    rendered = _rendered(SCENARIOS / f"{name}.yaml")
    for agent, text in rendered.items():
        golden = GOLDEN / name / f"{agent}.cfg"
        if os.environ.get("CALLGEN_UPDATE_GOLDEN"):
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(text)
        assert text == golden.read_text(), f"{golden} differs (CALLGEN_UPDATE_GOLDEN=1 rewrites it)"


def test_codec_order_last_add_codec_is_most_preferred():
    a = Agent("alice", Role.CALLER, "alice", "127.0.0.1", "127.0.0.1", None, codecs=("G722", "PCMA", "PCMU"))
    opts = [o.token for o in agent_options(a, 5060, 5100, RUN / "a.log")]
    adds = [t for t in opts if t.startswith("--add-codec")]
    assert opts.index("--dis-codec=*") < opts.index(adds[0])
    assert adds == ["--add-codec=PCMU", "--add-codec=PCMA", "--add-codec=G722"]


def test_round_trip_through_pjsua_tokeniser():
    opts = [PjsuaOption("--id", '"Alice Smith" <sip:alice@127.0.0.1>'), PjsuaOption("--null-audio")]
    argv = parse_config(render_config(opts))
    assert argv == ['--id="Alice Smith" <sip:alice@127.0.0.1>', "--null-audio"]


@pytest.mark.parametrize(
    "value, problem",
    [
        ("alice\n--auto-answer=200", "newline"),
        ("alice\r--auto-answer=200", "carriage return"),
        ("alice\0", "NUL"),
        ("a\tb", "tab"),
        ("it's \"x\" y", "both quote characters"),
        ("x" * 300, "too long"),
        ("a\x1bb", "control character"),
    ],
)
def test_injection_attempts_rejected(value, problem):
    with pytest.raises(RenderError) as ei:
        quote_token(PjsuaOption("--id", value))
    assert problem in str(ei.value)


def test_blank_in_value_stays_one_token():
    # Without quoting, pjsua would read '--auto-answer=200' as a second option
    tok = quote_token(PjsuaOption("--id", "sip:a@127.0.0.1 --auto-answer=200"))
    assert parse_config(tok) == ["--id=sip:a@127.0.0.1 --auto-answer=200"]


def test_hash_value_is_not_a_comment():
    tok = quote_token(PjsuaOption("--id", "sip:a@127.0.0.1 #x"))
    assert parse_config(tok) == ["--id=sip:a@127.0.0.1 #x"]


def test_schema_stops_injection_in_scenario_values(write_yaml):
    text = (
        "name: t\nagents:\n  alice:\n    role: caller\n    display_name: \"A\\n--auto-answer=200\"\n"
        "  bob:\n    role: callee\ncalls:\n  - from: alice\n    to: bob\n"
    )
    with pytest.raises(ScenarioError) as ei:
        load_scenario(write_yaml(text))
    assert ":5: agents.alice.display_name:" in str(ei.value)


def test_renderer_error_names_the_scenario_key(write_yaml, tmp_path):
    # The schema allows 64 characters of user; a long domain pushes --id past pjsua's line limit
    dom = ".".join(["a" * 60] * 3)
    text = (
        f"name: t\nagents:\n  alice:\n    role: caller\n    user: {'u' * 60}\n    domain: {dom}\n"
        "  bob:\n    role: callee\ncalls:\n  - from: alice\n    to: bob\n"
    )
    from callgen.run.preflight import load_checked

    with pytest.raises(ScenarioError) as ei:  # refused while loading (validate), not when the run starts
        load_checked(write_yaml(text), None)
    assert ":5: agents.alice.user: cannot pass to pjsua" in str(ei.value)
    assert "too long" in str(ei.value)


def test_parse_config_reads_long_lines_as_pjsua_does():
    """fgets(line, 200): a longer line goes on as the next line, it is not cut off."""
    text = "# " + "x" * 197 + " --local-port=5\n--null-audio\n"
    assert parse_config(text) == ["--local-port=5", "--null-audio"]


@pytest.mark.parametrize("header", [
    "scenario from /tmp/" + "d" * 230 + "/s.yaml",  # a long source path: its tail would become a token
    "scenario 'x'\n--local-port=1",  # a file name with a newline: the next line would be an option
    "tab\there and a carriage return\r--rtp-port=2",
])
def test_header_lines_cannot_become_options(header):
    opts = [PjsuaOption("--null-audio"), PjsuaOption("--local-port", "5060")]
    text = render_config(opts, [header])
    assert parse_config(text) == ["--null-audio", "--local-port=5060"]
    assert all(len(line) + 1 <= 199 for line in text.splitlines())


def test_a_real_config_from_a_long_path_keeps_its_options(tmp_path):
    deep = tmp_path / ("d" * 120) / ("e" * 120)
    deep.mkdir(parents=True)
    (deep / "s.yaml").write_text((SCENARIOS / "basic_call.yaml").read_text())
    s = load_scenario(deep / "s.yaml")
    plan = plan_run(s, tmp_path, 20000, 400)
    ap = plan.agents[0]
    assert parse_config(ap.config_text(s)) == [o.token for o in ap.options]


# -- extra SIP headers (issue 22): a header name or value never becomes a pjsua option or menu command

HEADER_SCENARIO = """name: t
agents:
  alice: {{role: caller}}
  bob:
    role: callee
    answer_headers: {{{answer}}}
calls:
  - from: alice
    to: bob
    headers: {{{call}}}
"""


@pytest.mark.parametrize("where", ["answer", "call"])
@pytest.mark.parametrize("header, key", [
    ('X-A: "v\\n--auto-answer=200"', "X-A"),  # a newline would end the config line / menu line
    ('X-A: "v\\r--local-port=1"', "X-A"),
    ('X-A: "v\\u0000"', "X-A"),
    ('X-A: "v\\tw"', "X-A"),
    ('"X-A\\n--auto-answer": v', "headers"),  # not a token
    ('"X A": v', "headers"),
    ('"--auto-answer=200": v', "headers"),
    ('Via: "SIP/2.0/UDP 127.0.0.1"', "Via"),  # pjsua writes it: a second one breaks the message
    ('i: abc', "i"),
])
def test_headers_cannot_inject_or_break_pjsua(write_yaml, where, header, key):
    text = HEADER_SCENARIO.format(answer=header if where == "answer" else "X-Ok: 1",
                                  call=header if where == "call" else "X-Ok: 1")
    with pytest.raises(ScenarioError) as ei:
        load_scenario(write_yaml(text))
    line = ":6:" if where == "answer" else ":10:"
    assert line in str(ei.value), str(ei.value)
    assert ("answer_headers" if where == "answer" else "calls[0].headers") in str(ei.value)


def test_answer_and_register_headers_render_as_one_option_each(write_yaml):
    text = HEADER_SCENARIO.format(answer='X-Answered-By: "bob --auto-answer=486 #x"', call="X-Case-Id: n-42")
    text = text.replace("  alice: {role: caller}\n", "  alice:\n    role: caller\n    register:\n"
                        "      registrar: sip:127.0.0.1:5070\n      headers: {X-Reg: \"a 'b' c\"}\n")
    s = load_scenario(write_yaml(text))
    plan = plan_run(s, RUN, 20000, 400)
    bob = parse_config(plan.agent("bob").config_text(s))
    alice = parse_config(plan.agent("alice").config_text(s))
    assert "--answer-header=X-Answered-By: bob --auto-answer=486 #x" in bob
    assert [t for t in bob if t.startswith("--auto-answer")] == ["--auto-answer=200"]
    assert "--reg-header=X-Reg: a 'b' c" in alice
    assert not any("X-Case-Id" in t for t in alice + bob)  # a call's headers go by menu 'k', not as options


def test_header_value_with_both_quotes_and_a_blank_is_refused_at_validate(write_yaml):
    from callgen.run.preflight import load_checked

    text = HEADER_SCENARIO.format(answer="X-A: \"it's \\\"x\\\" y\"", call="X-Ok: 1")
    with pytest.raises(ScenarioError) as ei:
        load_checked(write_yaml(text), None)
    assert ":6: agents.bob.answer_headers.X-A: cannot pass to pjsua" in str(ei.value)
