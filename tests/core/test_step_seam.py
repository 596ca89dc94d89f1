"""The step seam: a step kind of the schema has an entry in every table that handles steps
(parse in the scenario layer, run in callflow, checks in the verdict), and no table has an
entry for a kind that no longer exists.  A step forgotten in one table fails here, not at
run time."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest

from callgen.run import callflow
from callgen.scenario import model, steps
from callgen.verdict import checks

ROOT = Path(__file__).resolve().parents[2]


def schema_step_keys() -> set[str]:
    """The action keys of ``$defs.step``: each ``oneOf`` branch requires exactly one."""
    step = json.loads((ROOT / "schemas" / "scenario.schema.json").read_text())["$defs"]["step"]
    return {k for branch in step["oneOf"] for k in branch["required"]}


def upper_tables() -> dict[str, typing.Mapping[type, object]]:
    return {"callgen.run.callflow.STEP_RUNNERS": callflow.STEP_RUNNERS,
            "callgen.verdict.checks.STEP_CHECKS": checks.STEP_CHECKS}


def seam_gaps() -> list[str]:
    """Every way the step tables disagree with the schema and the model, one line each."""
    gaps = []
    schema, declared = schema_step_keys(), set(steps.BY_KEY)
    gaps += [f"schema step '{k}' has no StepType in callgen.scenario.steps" for k in sorted(schema - declared)]
    gaps += [f"StepType '{k}' is not a step of the schema" for k in sorted(declared - schema)]
    union = set(typing.get_args(model.Step))
    models = set(steps.STEP_MODELS)
    gaps += [f"{t.__name__} is in model.Step but no StepType parses into it" for t in union - models]
    gaps += [f"{t.__name__} is parsed into but missing from model.Step" for t in models - union]
    for name, table in upper_tables().items():
        gaps += [f"{t.__name__} has no entry in {name}" for t in models - set(table)]
        gaps += [f"{name} has an entry for {t.__name__}, which is no step kind" for t in set(table) - models]
    return gaps


def test_every_step_kind_has_an_entry_in_every_table():
    assert seam_gaps() == []


def test_the_schema_names_the_steps_the_seam_declares():
    assert schema_step_keys() == {"wait", "pause", "hangup", "dtmf", "hold", "unhold", "transfer"}


@pytest.mark.parametrize("table", sorted(upper_tables()))
@pytest.mark.parametrize("kind", steps.STEP_MODELS, ids=lambda t: t.__name__)
def test_a_missing_table_entry_is_found(monkeypatch, table, kind):
    mapping = upper_tables()[table]
    monkeypatch.delitem(mapping, kind)
    assert f"{kind.__name__} has no entry in {table}" in seam_gaps()


def test_an_entry_for_no_step_kind_is_found(monkeypatch):
    class TransferStep:  # a table entry for a kind the scenario layer does not declare
        pass

    monkeypatch.setitem(callflow.STEP_RUNNERS, TransferStep, lambda run, i, step: True)
    assert seam_gaps() == ["callgen.run.callflow.STEP_RUNNERS has an entry for TransferStep, which is no step kind"]


def test_a_schema_step_without_a_step_type_is_found(monkeypatch):
    monkeypatch.setattr(steps, "BY_KEY", {k: v for k, v in steps.BY_KEY.items() if k != "unhold"})
    assert seam_gaps() == ["schema step 'unhold' has no StepType in callgen.scenario.steps"]


@pytest.mark.parametrize("yaml_step,want", [
    ("{wait: confirmed}", model.WaitStep(model.CallState.CONFIRMED, 10.0)),
    ("{wait: early, timeout: 3}", model.WaitStep(model.CallState.EARLY, 3.0)),
    ("{pause: 0.5}", model.PauseStep(0.5)),
    ("{hangup: true}", model.HangupStep("alice")),
    ("{hangup: bob}", model.HangupStep("bob")),
    ("{dtmf: '1a#', method: info, pause_ms: 300, by: bob}", model.DtmfStep("1A#", model.DtmfMethod.INFO, 300, "bob")),
    ("{dtmf: '5'}", model.DtmfStep("5", model.DtmfMethod.RFC2833, 500, "alice")),
    ("{hold: true}", model.HoldStep("alice")),
    ("{unhold: bob}", model.HoldStep("bob", release=True)),
])  # fmt: skip
def test_each_step_kind_parses_into_its_model(write_yaml, yaml_step, want):
    from callgen.scenario.loader import load_scenario

    s = load_scenario(write_yaml(f"""name: s
agents:
  alice: {{role: caller}}
  bob: {{role: callee}}
calls:
  - from: alice
    to: bob
    steps:
      - {yaml_step}
"""))
    assert s.calls[0].steps == (want,)


def test_a_step_by_someone_outside_the_call_names_its_key(write_yaml, cli):
    f = write_yaml("""name: s
agents:
  alice: {role: caller}
  bob: {role: callee}
  carol: {role: callee}
calls:
  - from: alice
    to: bob
    steps:
      - hold: carol
""")
    r = cli("validate", str(f))
    assert r.status == 2 and "calls[0].steps[0].hold: 'carol' is not a party of this call (alice, bob)" in r.err
