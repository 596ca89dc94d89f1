"""Schema messages say what is allowed, in one short line per problem, capped."""

from __future__ import annotations

import pytest

from callgen.errors import MAX_PROBLEMS, ScenarioError, ScenarioErrors
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


def _lines(write_yaml, text: str) -> list[str]:
    with pytest.raises(ScenarioError) as ei:
        load_scenario(write_yaml(text))
    e = ei.value
    return e.lines() if isinstance(e, ScenarioErrors) else [str(e)]


def test_answer_out_of_range_says_what_is_allowed(write_yaml):
    (line,) = _lines(write_yaml, BASE.replace("bob: {role: callee}", "bob: {role: callee, answer: 99}"))
    assert line.endswith("s.yaml:4: agents.bob.answer: 99 is not allowed; allowed: 180 or 183 "
                         "(Ring (or session progress) and never answer); or an integer from 200 to 699 (A final answer)")


def test_port_not_a_number_says_what_is_allowed(write_yaml):
    (line,) = _lines(write_yaml, BASE.replace("bob: {role: callee}", "bob: {role: callee, port: abc}"))
    assert "agents.bob.port: 'abc' is not allowed; allowed: 'auto'" in line
    assert "an integer from 1024 to 65534" in line and "was expected" not in line


def test_thousand_agents_give_a_short_capped_report(write_yaml):
    agents = "".join(f"  a{i}: {{role: caller, x: 1}}\n" for i in range(1000))
    lines = _lines(write_yaml, "name: t\nagents:\n" + agents + "calls: [{from: a0, to: a1}]\n")
    assert len(lines) == MAX_PROBLEMS + 1
    assert lines[0].endswith("s.yaml:2: agents: 1000 entries; at most 16 allowed")
    assert lines[-1].endswith("s.yaml: 981 more problems not shown (fix the ones above first)")
    assert all(len(ln) < 320 for ln in lines)  # the old report was 237 KB


def test_ten_thousand_character_values_are_cut(write_yaml):
    long = "x" * 10_000
    text = BASE.replace("name: t", f"name: {long}\ndescription: {long}").replace(
        "alice: {role: caller}", f"alice: {{role: caller, user: {long}}}")
    lines = _lines(write_yaml, text)
    assert len(lines) == 3 and sum(map(len, lines)) < 1000
    assert lines[0].endswith("name: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'... (10000 characters) is not valid here: "
                             "Short identifier of the scenario, used in reports, run folder names and -k selection.")
    assert lines[1].endswith("description: 10000 characters; at most 2000 allowed")
    assert "(10000 characters) is not valid here" in lines[2]


def test_long_source_line_is_cut_in_the_snippet(write_yaml):
    with pytest.raises(ScenarioError) as ei:
        load_scenario(write_yaml(BASE.replace("name: t", "name: [" + "x" * 5000)))
    assert max(map(len, ei.value.snippet.splitlines())) < 200


def test_cap_is_per_file_in_a_suite(write_yaml, tmp_path):
    from callgen.suite.execute import validate_all

    agents = "".join(f"  a{i}: {{role: caller, x: 1}}\n" for i in range(30))
    one = write_yaml("name: t\nagents:\n" + agents + "calls: [{from: a0, to: a1}]\n", "one.yaml")
    two = write_yaml("name: t\nagents:\n" + agents + "calls: [{from: a0, to: a1}]\n", "two.yaml")
    with pytest.raises(ScenarioErrors) as ei:
        validate_all([one, two])
    lines = ei.value.lines()
    assert len(lines) == 2 * (MAX_PROBLEMS + 1)
    assert lines[MAX_PROBLEMS].endswith("one.yaml: 11 more problems not shown (fix the ones above first)")
    assert lines[-1].endswith("two.yaml: 11 more problems not shown (fix the ones above first)")
