"""Evidence -> the scenario's result (the verdict stage's entry point)."""

from __future__ import annotations

from pathlib import Path

from callgen.run.evidence import Evidence
from callgen.scenario.model import Scenario
from callgen.verdict.checks import evaluate
from callgen.verdict.result import ScenarioResult, Verdict


def conclude(scenario: Scenario, run_dir: Path, evidence: Evidence | None, duration: float, error: str) -> ScenarioResult:
    """The run's result: ERROR without evidence or when a part of the run failed, else the checks decide."""
    common = dict(name=scenario.name, file=str(scenario.source), duration_s=duration, artefacts=str(run_dir), tags=scenario.tags)
    if evidence is None:
        return ScenarioResult(verdict=Verdict.ERROR, error=error, **common)
    outcome = evaluate(evidence.scenario or scenario, evidence)
    # A part of the run that died, or a capture that is not the whole record, makes the
    # run unproven: an infrastructure error that names it, whatever the checks say.
    errors = [e for e in (evidence.error, *outcome.infrastructure) if e]
    if errors:
        verdict = Verdict.ERROR
    else:
        verdict = Verdict.PASS if all(c.passed for c in outcome.checks) else Verdict.FAIL
    return ScenarioResult(
        verdict=verdict, error="; ".join(errors), checks=outcome.checks, ladder=outcome.ladder, summary=outcome.summary,
        load_rows=outcome.load_rows,
        **common
    )
