"""Nights for the history tests, made from the result.json of real runs (tests/data/reports):
``basic_call`` fails, fails, then passes; ``busy`` passes twice, then fails and takes longer;
``dtmf`` is flaky on the middle night."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data" / "reports"
NIGHTS = ("2026-11-30", "2026-12-01", "2026-12-02")


def recorded(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}_run.json").read_text())


def as_scenario(data: dict[str, Any], name: str, *, duration: float | None = None, mos: float | None = None) -> dict[str, Any]:
    d = copy.deepcopy(data)
    d["name"], d["file"] = name, f"library/nightly/{name}.yaml"
    if duration is not None:
        d["duration_s"] = duration
    if mos is not None:
        for s in d["summary"]["rtp_streams"]:
            s["mos"] = mos
    return d


def flaky(data: dict[str, Any]) -> dict[str, Any]:
    d = copy.deepcopy(data)
    d["verdict"], d["attempts"] = "flaky", 2
    d["summary"]["failed_attempts"] = [{"attempt": 1, "verdict": "fail", "error": "", "folder": "x",
                                        "failed_checks": [{"name": "call1.dtmf", "expected": "1234", "seen": "124"}]}]
    return d


def night_reports() -> list[dict[str, Any]]:
    """One suite report (the --json form) per night."""
    good, bad = recorded("pass"), recorded("fail")
    plan = [
        [as_scenario(bad, "basic_call", mos=3.1), as_scenario(good, "busy", duration=5.0, mos=4.2),
         as_scenario(good, "dtmf", mos=4.3)],
        [as_scenario(bad, "basic_call", mos=3.4), as_scenario(good, "busy", duration=5.2, mos=4.2),
         flaky(as_scenario(good, "dtmf", mos=4.3))],
        [as_scenario(good, "basic_call", mos=4.1), as_scenario(bad, "busy", duration=12.0, mos=4.0),
         as_scenario(good, "dtmf", mos=4.3)],
    ]
    return [{"callgen_version": "0.1.0", "started": f"{night}T02:00:00+00:00", "duration_s": 20.0, "jobs": 2,
             "interrupted": False, "results": results, "totals": {}} for night, results in zip(NIGHTS, plan, strict=True)]


def write_nights(folder: Path) -> list[Path]:
    paths = []
    for night, report in zip(NIGHTS, night_reports(), strict=True):
        p = folder / f"{night}.json"
        p.write_text(json.dumps(report))
        paths.append(p)
    return paths
