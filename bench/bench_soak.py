"""make bench-soak CALLS=N: a soak at a steady rate through a local Kamailio, every call proven while it runs.

callgen places --calls PCMA calls (20 ms) from one pjsua caller through a local Kamailio to one
pjsua callee at --rate calls per second, each held its own hold drawn from --hold-min..--hold s
(seed 1) and sending its own DTMF digits.  The capture goes into files of --file-mb, at most
--max-mb on disk (load.capture); each call is proven from the files that hold it while the run
goes on, by callgen's prover process (``callgen-prover``).  Sampled from /proc while it runs: the
resident memory (RSS) of callgen, of its prover process and of each pjsua, and the capture's files
on disk.  "start" is the first sample once the calls held are steady (one
longest hold plus 20 s after the ramp), "end" the last sample while calls are still placed.

Every unproven call is printed with its reason.  The last line is for scripts:
  soak: <calls> calls, <proven>% proven, rss callgen <start>-><end> MB, capture <max MB> MB on disk
where rss callgen is callgen's process and its prover process together.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADDR = "127.0.0.12"  #: the soak's agents' loopback address (the load port region is locked per address)

SCENARIO = """\
name: bench_soak
timeout: {timeout}
targets:
  KAMAILIO:
    local: {{kind: kamailio, password: bench-secret}}
agents:
  alice:
    role: caller
    address: {addr}
    codecs: [PCMA]
    register: {{registrar: "sip:${{KAMAILIO}}", password: bench-secret}}
    proxy: "sip:${{KAMAILIO}};lr"
  bob:
    role: callee
    address: {addr}
    codecs: [PCMA]
    register: {{registrar: "sip:${{KAMAILIO}}", password: bench-secret}}
    proxy: "sip:${{KAMAILIO}};lr"
load:
  from: alice
  to: bob
  rate: {rate}
  ramp_s: {ramp}
  calls: {calls}
  hold_s: {{min: {hold_min}, max: {hold}}}
  seed: 1
  max_concurrent: {concurrent}
  dtmf: per-call
  capture: {{max_mb: {max_mb}, file_mb: {file_mb}}}
  expect:
    answered_pct_min: 99.9
    proven_pct_min: 99.9
"""


PROVER = "callgen-prover"  #: the process callgen proves the calls in while the load runs, as the OS names it


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _cpu_s(pid: int | None) -> float | None:
    """CPU seconds of the process itself (all its threads)."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _children(root: int) -> list[tuple[int, str, list[bytes]]]:
    """(pid, name as the OS shows it, command line) of each process whose parent is ``root``."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{d}/stat") as f:
                text = f.read()
            ppid = int(text.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == root:
            out.append((int(d), text[text.index("(") + 1: text.rindex(")")], argv))
    return out


def _prover(root: int) -> int | None:
    """callgen's prover process (``callgen-prover``, a child of callgen), once it runs."""
    return next((pid for pid, comm, _ in _children(root) if comm == PROVER), None)


def _pjsuas(root: int) -> dict[str, int]:
    """The pjsua processes under ``root``, by agent (the config file on their command line)."""
    out = {}
    for pid, _, argv in _children(root):
        cfg = next((a.decode(errors="replace") for a in argv if a.endswith(b".cfg")), None)
        if cfg and "pjsua" in argv[0].decode(errors="replace"):
            out[Path(cfg.split("=", 1)[-1]).stem] = pid
    return out


def _capture_mb(run: Path) -> float:
    total = 0
    for p in run.glob("capture*.pcap*"):
        try:
            total += p.stat().st_size
        except FileNotFoundError:
            pass
    return total / 1e6


def run_soak(args, work: Path) -> dict:
    placing_s = args.ramp / 2 + args.calls / args.rate
    timeout = int(placing_s + args.hold + 180)
    scenario = work / "bench_soak.yaml"
    scenario.write_text(SCENARIO.format(timeout=timeout, addr=ADDR, rate=args.rate, ramp=args.ramp, calls=args.calls,
                                        hold=args.hold, hold_min=args.hold_min, concurrent=args.concurrent,
                                        max_mb=args.max_mb, file_mb=args.file_mb))
    out = work / "callgen"
    run = out / "bench_soak"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "callgen", "run", str(scenario), "-o", str(out), "-j", "1"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    samples: list[tuple[float, dict[str, float]]] = []  #: (seconds since the first call, RSS MB by process)
    disk_max = 0.0
    first_call: float | None = None
    pjsuas: dict[str, int] = {}
    prover: int | None = None
    while proc.poll() is None:
        pjsuas = pjsuas if len(pjsuas) == 2 else _pjsuas(proc.pid)
        prover = prover or _prover(proc.pid)
        if first_call is None and (run / "alice.transcript.txt").is_file() and len(pjsuas) == 2:
            first_call = time.monotonic()  # the agents are up: the load starts now (give or take registering)
        disk_max = max(disk_max, _capture_mb(run))
        if first_call is not None:
            rss = {"callgen": _rss_mb(proc.pid), PROVER: _rss_mb(prover) if prover else None,
                   **{f"pjsua {n}": _rss_mb(p) for n, p in pjsuas.items()},
                   "cpu": _cpu_s(proc.pid), "cpu prover": _cpu_s(prover)}
            samples.append((time.monotonic() - first_call, {k: v for k, v in rss.items() if v is not None}))
        time.sleep(1.0)  # sampling /proc: there is no event to wait for
    output = proc.stdout.read()
    result = json.loads((run / "result.json").read_text()) if (run / "result.json").exists() else {}
    rows = [json.loads(line) for line in (run / "calls.jsonl").read_text().splitlines()] if (run / "calls.jsonl").exists() else []
    steady_from = args.ramp + args.hold + 20
    placing = [s for s in samples if s[0] < placing_s]
    start = next((s for s in placing if s[0] >= steady_from), placing[0] if placing else None)
    end = placing[-1] if placing else None
    return {"result": result, "rows": rows, "start": start, "end": end, "disk_max_mb": disk_max,
            "peak": {k: max(s[1].get(k, 0.0) for s in samples) for k in {k for s in samples for k in s[1]}},
            "output_tail": output[-3000:]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=20000, help="calls to place (default 20000)")
    p.add_argument("--rate", type=float, default=40.0, help="new calls per second (default 40)")
    p.add_argument("--hold-min", type=float, default=3.0, help="shortest hold, s (default 3: room for 6 digits)")
    p.add_argument("--hold", type=float, default=5.0, help="longest hold, s (default 5)")
    p.add_argument("--ramp", type=float, default=5.0)
    p.add_argument("--concurrent", type=int, default=400)
    p.add_argument("--max-mb", type=int, default=500, help="the capture's disk limit, MB (default 500)")
    p.add_argument("--file-mb", type=int, default=25, help="the capture's file size, MB (default 25)")
    p.add_argument("--keep", metavar="DIR", help="run in DIR and keep the run folder there")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="callgen-bench-soak-") as d:
        work = Path(args.keep) if args.keep else Path(d)
        work.mkdir(parents=True, exist_ok=True)
        r = run_soak(args, work)
    result, rows = r["result"], r["rows"]
    load = result.get("summary", {}).get("load", {})
    print(f"callgen: verdict {result.get('verdict')} {result.get('error', '')}".rstrip())
    print(f"command: bench/bench_soak.py {' '.join(sys.argv[1:])}".rstrip())
    unproven = [row for row in rows if row["verdict"] != "proven"]
    for row in unproven:  # every one, with its reason
        print(f"unproven: call {row['index']} ({row.get('call_id')}): {'; '.join(row['why'])}")
    if unproven:
        reasons = Counter(why.split(" (")[0] for row in unproven for why in row["why"])
        print("unproven by reason: " + "; ".join(f"{n} x {why}" for why, n in reasons.most_common(8)))
    print(json.dumps({k: load.get(k) for k in ("attempted", "answered", "proven", "proven_pct", "concurrency_max",
                                               "setup_ms", "capture_files", "capture_max_mb")}, indent=1))
    cps = load.get("cps_per_second", [])
    steady = cps[int(args.ramp) + 1: int(args.ramp / 2 + args.calls / args.rate) - 1] or cps  # while placing
    if steady:
        print(f"cps per second (steady part): min {min(steady)}, mean {sum(steady) / len(steady):.1f}")
    start, end = r["start"], r["end"]
    for key, what in (("cpu", "callgen's own cpu while placing and holding"), ("cpu prover", f"its prover's ({PROVER})")):
        if start and end and end[0] > start[0] and key in start[1] and key in end[1]:
            print(f"{what} (from {start[0]:.0f} s to {end[0]:.0f} s): "
                  f"{100 * (end[1][key] - start[1][key]) / (end[0] - start[0]):.1f}% of a core")
    for name in sorted(k for k in (end or (0, {}))[1] if not k.startswith("cpu")):
        a, b = (start or (0, {}))[1].get(name), end[1].get(name)
        growth = f" ({100 * (b - a) / a:+.1f}%)" if a else ""
        print(f"rss {name:12} {a or float('nan'):7.1f} MB at {start[0]:.0f} s -> {b:7.1f} MB at {end[0]:.0f} s{growth},"
              f" peak {r['peak'].get(name, float('nan')):.1f} MB")
    disk = max(r["disk_max_mb"], load.get("capture_max_mb") or 0.0)
    print(f"capture on disk: at most {disk:.1f} MB (limit {args.max_mb} MB, files of {args.file_mb} MB;"
          f" {load.get('capture_files')} files in all)")
    if not rows:
        print(r["output_tail"])
    # callgen in all: the process placing the calls and its prover process
    cg_a = sum((start or (0, {}))[1].get(k, float("nan")) for k in ("callgen", PROVER))
    cg_b = sum((end or (0, {}))[1].get(k, float("nan")) for k in ("callgen", PROVER))
    pct = 100.0 * sum(row["verdict"] == "proven" for row in rows) / len(rows) if rows else 0.0
    pct = math.floor(pct * 1000) / 1000  # 19,999 of 20,000 is 99.995, never rounded up to 100
    print(f"soak: {len(rows)} calls, {pct:g}% proven, rss callgen {cg_a:.0f}->{cg_b:.0f} MB, capture {disk:.0f} MB on disk")
    return 0 if rows and not unproven else 1


if __name__ == "__main__":
    sys.exit(main())
