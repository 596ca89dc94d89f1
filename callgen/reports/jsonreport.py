"""The machine-readable suite report (``--json FILE``).

Shape: ``{"callgen_version", "started", "duration_s", "jobs", "interrupted",
"results": [ScenarioResult.to_dict()...], "totals": {...}}``; ``totals`` is
always recomputed from ``results`` so merged shards stay consistent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from callgen.fileio import write_atomic
from callgen import __version__
from callgen.verdict.result import ScenarioResult, Verdict

if TYPE_CHECKING:
    from callgen.suite.execute import SuiteResult


def totals(results: Sequence[ScenarioResult], *, interrupted: bool = False, not_run: int = 0) -> dict[str, int]:
    from callgen.suite.execute import SuiteResult

    status = SuiteResult(tuple(results), 0.0, 0, interrupted=interrupted).exit_status
    count = {v: sum(1 for r in results if r.verdict is v) for v in Verdict}
    return {
        "tests": len(results),
        "passed": count[Verdict.PASS],
        "failed": count[Verdict.FAIL],
        "errors": count[Verdict.ERROR],
        "flaky": count[Verdict.FLAKY],
        "not_run": not_run,
        "exit_status": status,
    }


def to_json(suite: "SuiteResult") -> dict[str, Any]:
    return {
        "callgen_version": __version__,
        "started": suite.started,
        "duration_s": round(suite.duration_s, 3),
        "jobs": suite.jobs,
        "interrupted": suite.interrupted,
        "results": [r.to_dict() for r in suite.results],
        "totals": totals(suite.results, interrupted=suite.interrupted, not_run=suite.not_run),
    }


def write_json_data(data: dict[str, Any], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    return path


def write_json(suite: "SuiteResult", path: Path) -> Path:
    return write_json_data(to_json(suite), path)
