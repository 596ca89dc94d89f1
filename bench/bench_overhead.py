"""Benchmark: what callgen costs per scenario beyond the time the scenario itself scripts.

Runs every scenario of the library (default ``scenarios/``) one at a time, each as
its own ``python -m callgen run FILE -j 1`` (a fresh process: start-up, checks,
agents, capture, reports -- what a user waits for), and prints per scenario the
wall time, the scripted time and their difference, the overhead; then the median.

Scripted time is what the scenario file itself asks to last, computed from the
loaded model (``scripted_seconds``):

- ``pause: S`` counts S; a callee's ``ring_ms`` counts its ring time;
- RFC 2833 digits count 0.2 s each (pjmedia's fixed digit length,
  PJMEDIA_DTMF_DURATION); INFO digits count nothing (one request each); a ``,`` in
  the digits counts the step's ``pause_ms``;
- a callee's ``max_call_s`` and a SIPp uac's ``call_duration_ms`` count the call
  length they impose (a call without explicit steps then lasts that long);
- ``wait`` steps count nothing (they await an event; their cost is overhead or
  the peer's speed);
- calls in one parallel group count their longest; groups add up.

    .venv/bin/python bench/bench_overhead.py [PATH ...] [--pjsua BIN]

Places real calls: run it on a quiet machine, and not many times in a row.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from callgen.scenario.loader import load_scenario  # noqa: E402
from callgen.scenario.model import Call, DtmfMethod, DtmfStep, PauseStep, Scenario  # noqa: E402

GOAL_S = 0.7
#: imports every callgen module (not the ``__main__`` ones, which would run)
IMPORT_ALL = ("import importlib, pkgutil, callgen\n"
              "for m in pkgutil.walk_packages(callgen.__path__, 'callgen.'):\n"
              "    if not m.name.endswith('__main__'):\n"
              "        importlib.import_module(m.name)\n")
RFC2833_DIGIT_S = 0.2  #: PJMEDIA_DTMF_DURATION: 1600 units at 8 kHz


def call_seconds(call: Call, scenario: Scenario) -> float:
    """What one call's steps and agents script, in seconds."""
    total = 0.0
    for step in call.steps:
        if isinstance(step, PauseStep):
            total += step.seconds
        elif isinstance(step, DtmfStep):
            digits = step.digits.replace(",", "")
            if step.method is DtmfMethod.RFC2833:
                total += RFC2833_DIGIT_S * len(digits)
            total += step.digits.count(",") * step.pause_ms / 1000
    caller = scenario.agent(call.caller)
    callee = scenario.agent(call.callee) if call.callee else None
    if callee is not None and callee.ring_ms is not None:
        total += callee.ring_ms / 1000
    limits = [a.max_call_s for a in (caller, callee) if a is not None and a.max_call_s is not None]
    if limits:
        total = max(total, float(min(limits)))
    if caller.sipp is not None and caller.sipp.call_duration_ms:
        total = max(total, caller.sipp.call_duration_ms / 1000)
    return total


def scripted_seconds(scenario: Scenario) -> float:
    """Sum over call groups of the longest call in the group."""
    return sum(max(call_seconds(c, scenario) for c in group) for group in scenario.call_groups())


def library(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(p.glob("*.yaml")) if p.is_dir() else [p]
    return files


def run_one(path: Path, pjsua: str | None, env: dict[str, str]) -> tuple[float, str]:
    """Wall time of one ``callgen run`` and its verdict line."""
    with tempfile.TemporaryDirectory(prefix="callgen-bench-") as out:
        argv = [sys.executable, "-m", "callgen", "run", str(path), "-j", "1", "-o", out]
        if pjsua:
            argv += ["--pjsua", pjsua]
        t0 = time.perf_counter()
        p = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
        wall = time.perf_counter() - t0
    verdict = {0: "pass", 1: "fail"}.get(p.returncode, f"exit {p.returncode}")
    return wall, verdict


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("paths", nargs="*", default=[str(ROOT / "scenarios")])
    ap.add_argument("--pjsua", default=None)
    args = ap.parse_args(argv)
    # Byte-code as an installed package has it: with PYTHONDONTWRITEBYTECODE set (as on
    # some CI machines) every run would compile callgen again (about 0.15 s); the cache
    # goes to a folder of its own, not into the source tree.  Every callgen module is
    # imported once first, so what they import is compiled too: the private cache also
    # holds the standard library's and the dependencies' byte-code, and the first
    # scenario otherwise paid for compiling all of it (1.2 s measured).
    pycache = tempfile.mkdtemp(prefix="callgen-bench-pycache-")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = pycache
    subprocess.run([sys.executable, "-c", IMPORT_ALL], cwd=ROOT, env=env, capture_output=True, timeout=300)
    rows = []
    print(f"{'scenario':28} {'wall s':>7} {'scripted s':>10} {'overhead s':>10}  result")
    for path in library(args.paths):
        try:
            scripted = scripted_seconds(load_scenario(path, environ={**os.environ, "KAMAILIO": "127.0.0.1:5060"}))
        except Exception as exc:  # noqa: BLE001 - a scenario the bench cannot model is shown, not fatal
            print(f"{path.stem:28} cannot model: {exc}")
            continue
        wall, verdict = run_one(path, args.pjsua, env)
        rows.append(wall - scripted)
        print(f"{path.stem:28} {wall:7.2f} {scripted:10.2f} {wall - scripted:10.2f}  {verdict}", flush=True)
    if not rows:
        print("overhead: no scenario ran")
        return 1
    median = statistics.median(rows)
    print(f"overhead: median {median:.2f} s per scenario (goal {GOAL_S} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
