"""One scenario, start to end: execute (callgen.run) -> conclude (callgen.verdict) -> result.json."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

from callgen.errors import CallgenError, Interrupted
from callgen.fileio import OutputError, make_private, write_atomic
from callgen.run.evidence import Evidence
from callgen.run.runner import RunOptions, execute
from callgen.scenario.model import Scenario
from callgen.verdict.conclude import conclude
from callgen.verdict.loadprover import ProverProcess
from callgen.verdict.result import ScenarioResult, Verdict


def run_scenario(scenario: Scenario, options: RunOptions) -> ScenarioResult:
    """Run ``scenario`` once; raise ``Interrupted`` on Ctrl-C/SIGTERM (after cleaning up)."""
    run_dir = Path(options.out_dir).resolve()  # agents run with the run folder as cwd
    run_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(run_dir, 0o700)  # what runs in it writes secrets (digest exchange, SDES keys, passwords)
    t0 = time.monotonic()
    evidence: Evidence | None = None
    interrupted = False
    error = ""
    if scenario.load is not None and options.load_prover is None:  # its calls proven while it runs
        options = dataclasses.replace(options, load_prover=ProverProcess.for_plan)
    try:
        evidence = execute(scenario, run_dir, options)
    except (KeyboardInterrupt, Interrupted):
        interrupted, error = True, "interrupted (SIGINT/SIGTERM/SIGHUP)"
    except CallgenError as exc:  # before any process ran (no pjsua, no free ports, Kamailio refused...)
        error = str(exc)
    result = conclude(scenario, run_dir, evidence, time.monotonic() - t0, error)
    try:
        if result.load_rows:  # every call's evidence row, also when the run failed midway
            write_atomic(run_dir / "calls.jsonl", "".join(json.dumps(r.to_json()) + "\n" for r in result.load_rows))
        write_atomic(run_dir / "result.json", json.dumps(result.to_dict(), indent=2) + "\n")
    except OutputError as exc:  # the run's verdict stands for the reports; say what was not kept
        result = dataclasses.replace(result, verdict=Verdict.ERROR, error="; ".join(e for e in (result.error, str(exc)) if e))
    make_private(run_dir)  # also what pjsua, tcpdump and Kamailio created (a copy keeps its mode)
    if interrupted:
        raise Interrupted(f"interrupted; partial artefacts kept in {run_dir}")
    return result
