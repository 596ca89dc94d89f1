"""The machine-readable suite report (``--json FILE``).

Shape: ``{"callgen_version", "started", "duration_s", "jobs", "interrupted",
"results": [ScenarioResult.to_dict()...], "totals": {...}}``; ``totals`` is
always recomputed from ``results`` so merged shards stay consistent.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callgen import __version__
from callgen.fileio import write_atomic
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


def to_json(suite: SuiteResult) -> dict[str, Any]:
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
    """Strict JSON: a NaN or infinity that reached the data (a shard report may hold one anywhere)
    is written as null, never as the ``NaN`` token that JSON parsers refuse."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        text = json.dumps(data, indent=2, ensure_ascii=False, default=str, allow_nan=False)
    except ValueError:  # only then walk the data
        text = json.dumps(_finite_only(data), indent=2, ensure_ascii=False, default=str, allow_nan=False)
    write_atomic(path, text + "\n")
    return path


def write_json_streamed(head: dict[str, Any], key: str, items: Iterable[dict[str, Any]], tail: dict[str, Any],
                        path: Path) -> Path:
    """``{**head, key: [*items], **tail}`` as strict JSON, the items one compact line each, encoded and
    written one at a time: a report of 20,000 results is never one string, and the C encoder does the
    work (``indent`` makes Python's json fall back to its pure-Python encoder, 4x slower)."""

    def dumps(value: Any, **kw: Any) -> str:
        try:
            return json.dumps(value, ensure_ascii=False, default=str, allow_nan=False, **kw)
        except ValueError:
            return json.dumps(_finite_only(value), ensure_ascii=False, default=str, allow_nan=False, **kw)

    def members(d: dict[str, Any]) -> list[str]:
        return [f"  {json.dumps(k)}: " + dumps(v, indent=2).replace("\n", "\n  ") for k, v in d.items()]

    def pieces() -> Iterator[str]:
        yield "{\n" + "".join(m + ",\n" for m in members(head)) + f"  {json.dumps(key)}: ["
        for n, item in enumerate(items):
            yield ("," if n else "") + "\n    " + dumps(item)
        yield "\n  ]" + "".join(",\n" + m for m in members(tail)) + "\n}\n"

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, pieces())
    return path


def _finite_only(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_only(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_only(v) for v in value]
    return value


def write_json(suite: SuiteResult, path: Path) -> Path:
    return write_json_data(to_json(suite), path)
