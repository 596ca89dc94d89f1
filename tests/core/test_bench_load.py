"""bench/bench_load.py's figures: the steady part of the calls placed per second, and callgen's CPU by thread."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_load", ROOT / "bench" / "bench_load.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_steady_part_ends_where_placing_ends():
    """duration_s counts from the first call, the ramp included: 5 s of ramp and 70 s in all place calls in
    seconds 0-69.  The window used to run to second 73, so seconds after the last call read "min 0 cps"
    (2026-12-03: a run that placed 43-66 calls in every steady second printed `0 cps`)."""
    cps = [5, 15, 25, 35, 45] + [50] * 64 + [33] + [0] * 20  # second 69: the last, cut short
    steady = _bench().steady_part(cps, ramp=5, seconds=70)
    assert steady == [50] * 63 and min(steady) == 50


def test_cpu_by_thread_adds_threads_of_one_name_and_counts_new_threads_from_zero():
    first = {1: ("pjsua-alice", 10.0), 2: ("callgen-load", 5.0)}
    last = {1: ("pjsua-alice", 12.0), 2: ("callgen-load", 5.5), 3: ("python", 0.5), 4: ("python", 0.5)}
    pct = _bench().cpu_by_thread(first, last, wall=20.0)
    assert pct == {"pjsua-alice": 10.0, "callgen-load": 2.5, "python": 5.0}
