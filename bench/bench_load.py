"""make bench-load: callgen's load against a local Kamailio, and SIPp beside it in the same run.

callgen places PCMA calls (20 ms) from a pjsua caller through a local Kamailio to pjsua
callees at --rate new calls per second, each held its own hold drawn from
--hold-min..--hold seconds (seed 1) and sending its own DTMF digits, for --seconds (the
ramp included); every call is proven from the capture while the load runs, by callgen's
prover process (``callgen-prover``, nice 10).  Measured while it runs (from /proc): callgen's
own CPU (the Python process placing and holding the calls, without its children), its prover
process's CPU apart, each pjsua's and Kamailio's and the capture tool's CPU, and the calls held.
Then SIPp's built-in uac calls SIPp's uas at the same rate and hold: SIPp counts SIP
flows it saw complete; it proves no media and no DTMF.

callgen's CPU is also printed by thread (each pjsua's reader ``pjsua-<agent>``, the load loop
``callgen-load``, the rest), over the same window, so where it went is in the output.
With the defaults (600 at once) the caller runs as two pjsua processes (one holds at most 504) and
its calls go to bob and carol in turn, so no cap binds below the ~500 calls 8-12 s holds at 50 cps keep up.

Then (unless --no-sbc) a second callgen load through the local SBC (Kamailio with topoh
masking the Call-ID + rtpengine relaying in userspace) at --sbc-rate, every call proven on
both legs (alice <-> SBC and SBC <-> bob, each by its own SIP address, SDP and 5-tuples);
rtpengine's userspace relaying costs CPU, so its rate is its own.  It prints
  load via sbc: <max concurrent> concurrent, <min steady cps> cps, <proven>% proven (both legs)

The last line is for scripts:
  load: <max concurrent> concurrent, <sustained> cps, <proven>% proven, callgen cpu <pct>%, sipp proven <pct>%
where callgen cpu is the process placing and holding the calls (the line before it gives the prover's
and the sum).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callgen.sut.sipp import SippConfig, SippProcess  # noqa: E402

SCENARIO = """\
name: bench_load
timeout: {timeout}
targets:
  KAMAILIO:
    local: {{kind: kamailio, password: bench-secret}}
agents:
  alice:
    role: caller
    codecs: [PCMA]
    register: {{registrar: "sip:${{KAMAILIO}}", password: bench-secret}}
    proxy: "sip:${{KAMAILIO}};lr"
  bob:
    role: callee
    codecs: [PCMA]
    register: {{registrar: "sip:${{KAMAILIO}}", password: bench-secret}}
    proxy: "sip:${{KAMAILIO}};lr"
  carol:
    role: callee
    codecs: [PCMA]
    register: {{registrar: "sip:${{KAMAILIO}}", password: bench-secret}}
    proxy: "sip:${{KAMAILIO}};lr"
load:
  from: alice
  to: [bob, carol]
  rate: {rate}
  ramp_s: {ramp}
  duration_s: {seconds}
  hold_s: {{min: {hold_min}, max: {hold}}}
  seed: 1
  max_concurrent: {concurrent}
  dtmf: {dtmf}
  expect:
    answered_pct_min: 99.9
    proven_pct_min: 99.9
"""

#: the same load through the local SBC (``local: {kind: sbc}``): Kamailio + topoh + userspace rtpengine
SBC_SCENARIO = """\
name: bench_load_sbc
timeout: {timeout}
targets:
  SBC:
    local: {{kind: sbc, mask_callid: true, password: bench-secret}}
agents:
  alice:
    role: caller
    codecs: [PCMA]
    address: {address}
    register: {{registrar: "sip:${{SBC}}", password: bench-secret}}
    proxy: "sip:${{SBC}};lr"
  bob:
    role: callee
    codecs: [PCMA]
    address: {address}
    register: {{registrar: "sip:${{SBC}}", password: bench-secret}}
    proxy: "sip:${{SBC}};lr"
load:
  from: alice
  to: bob
  rate: {rate}
  ramp_s: {ramp}
  duration_s: {seconds}
  hold_s: {{min: {hold_min}, max: {hold}}}
  seed: 1
  max_concurrent: {sbc_concurrent}
  dtmf: {dtmf}
  expect:
    answered_pct_min: 99.9
    proven_pct_min: 99.9
"""

HZ = os.sysconf("SC_CLK_TCK")
PROVER = "callgen-prover"  #: the process callgen proves a load's calls in, as the OS names it


def _stat(pid: int) -> tuple[str, float] | None:
    """(comm, CPU seconds of the process itself) from /proc."""
    return _stat_file(f"/proc/{pid}/stat")


def _threads(pid: int) -> dict[int, tuple[str, float]]:
    """tid -> (thread name as the OS shows it, CPU seconds) of every thread of ``pid``."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        st = _stat_file(f"/proc/{pid}/task/{tid}/stat")
        if st:
            out[int(tid)] = st
    return out


def _stat_file(path: str) -> tuple[str, float] | None:
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    comm = text[text.index("(") + 1: text.rindex(")")]
    fields = text.rsplit(")", 1)[1].split()
    return comm, (int(fields[11]) + int(fields[12])) / HZ


def cpu_by_thread(first: dict[int, tuple[str, float]], last: dict[int, tuple[str, float]],
                  wall: float) -> dict[str, float]:
    """% of a core each thread name used between two samples of ``_threads`` (threads of one name added;
    a thread that began meanwhile counts from 0)."""
    pct: dict[str, float] = {}
    for tid, (comm, sec) in last.items():
        used = sec - first.get(tid, (comm, 0.0))[1]
        pct[comm] = pct.get(comm, 0.0) + 100.0 * used / wall if wall > 0 else 0.0
    return pct


def steady_part(cps: list[int], ramp: float, seconds: float) -> list[int]:
    """The calls placed in each second of the steady part: after the ramp's second and before the last
    second of ``duration_s`` (which counts from the first call, the ramp included)."""
    return cps[int(ramp) + 1: int(seconds) - 1] or cps


def _descendants(pid: int) -> set[int]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = set(), [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def run_callgen(args, work: Path, sbc: bool = False) -> dict:
    """The Kamailio load (``SCENARIO``), or with ``sbc`` the one through the local SBC (``SBC_SCENARIO``)."""
    name = "bench_load_sbc" if sbc else "bench_load"
    seconds = args.sbc_seconds if sbc else args.seconds
    timeout = int(args.ramp + seconds + args.hold + 120)
    scenario = work / f"{name}.yaml"
    scenario.write_text((SBC_SCENARIO if sbc else SCENARIO).format(
        timeout=timeout, rate=args.sbc_rate if sbc else args.rate, ramp=args.ramp, seconds=seconds, hold=args.hold,
        hold_min=args.hold_min, concurrent=args.concurrent, sbc_concurrent=args.sbc_concurrent, dtmf=args.dtmf,
        address=args.sbc_address))
    out = work / ("callgen-sbc" if sbc else "callgen")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "callgen", "run", str(scenario), "-o", str(out), "-j", "1"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    cpu: dict[int, tuple[str, float]] = {}
    own_at_load: list[tuple[float, float]] = []  #: (wall, callgen's own CPU) while calls are placed and held
    prover_at_load: list[tuple[float, float]] = []  #: (wall, CPU of callgen's prover process) in the same window
    threads_at_load: list[dict[int, tuple[str, float]]] = []  #: the first and the latest sample of its threads
    start = time.monotonic()
    while proc.poll() is None:
        for pid in _descendants(proc.pid) | {proc.pid}:
            st = _stat(pid)
            if st:
                cpu[pid] = st
        own = cpu.get(proc.pid)
        t = time.monotonic() - start
        if own and args.ramp + 5 < t < args.ramp + seconds:
            own_at_load.append((t, own[1]))
            prover = [sec for pid, (comm, sec) in cpu.items() if comm == PROVER]
            if prover:
                prover_at_load.append((t, prover[0]))
            threads_at_load[1:] = [_threads(proc.pid)] if threads_at_load else []
            if not threads_at_load:
                threads_at_load.append(_threads(proc.pid))
        time.sleep(0.5)  # sampling /proc: there is no event to wait for
    output = proc.stdout.read()
    run = out / name
    result = json.loads((run / "result.json").read_text()) if (run / "result.json").exists() else {}
    summary = result.get("summary", {}).get("load", {})
    by_comm: dict[str, float] = {}
    for pid, (comm, sec) in cpu.items():
        if pid != proc.pid:
            by_comm[comm] = by_comm.get(comm, 0.0) + sec
    own_pct, prover_pct, threads = None, None, {}
    if len(own_at_load) >= 2 and len(threads_at_load) == 2:
        (t0, c0), (t1, c1) = own_at_load[0], own_at_load[-1]
        own_pct = 100.0 * (c1 - c0) / (t1 - t0)
        threads = cpu_by_thread(threads_at_load[0], threads_at_load[1], t1 - t0)
    if len(prover_at_load) >= 2:
        (t0, c0), (t1, c1) = prover_at_load[0], prover_at_load[-1]
        prover_pct = 100.0 * (c1 - c0) / (t1 - t0)
    return {"summary": summary, "verdict": result.get("verdict"), "error": result.get("error", ""),
            "cpu_s": by_comm, "callgen_cpu_pct_during_load": own_pct, "callgen_cpu_by_thread": threads,
            "prover_cpu_pct_during_load": prover_pct,
            "wall_s": time.monotonic() - start, "output_tail": output[-2000:], "lateness": lateness(scenario, run)}


def lateness(scenario_file: Path, run: Path) -> dict | None:
    """How late each INVITE left against the load's schedule (ms; from the first INVITE, as the calls placed
    per second are counted), and which part was callgen's (asking pjsua late) and which pjsua's (asked on
    time, INVITE late), from calls.jsonl's invite_time (capture) and placed_time (callgen's clock)."""
    sys.path.insert(0, str(ROOT))
    from callgen.scenario.loader import load_scenario

    load = load_scenario(scenario_file).load
    try:
        rows = [json.loads(line) for line in (run / "calls.jsonl").read_text().splitlines()]
    except OSError:
        return None
    rows = sorted((r for r in rows if r.get("invite_time") and r.get("placed_time")), key=lambda r: r["index"])
    if len(rows) < 2:
        return None
    first = rows[0]
    due = {r["index"]: first["invite_time"] + load.offset(r["index"] - first["index"]) - load.offset(0) for r in rows}
    late = sorted((1000 * (r["invite_time"] - due[r["index"]]), 1000 * (r["placed_time"] - due[r["index"]]),
                   1000 * (r["invite_time"] - r["placed_time"]), r["index"]) for r in rows)

    def pct(values: list[float], q: float) -> float:
        values = sorted(values)
        return round(values[min(len(values) - 1, int(q * len(values)))], 1)

    return {"invite_late_ms": {q: pct([x[0] for x in late], v) for q, v in (("p50", .5), ("p99", .99), ("max", 1.0))},
            "pjsua_ms": {q: pct([x[2] for x in late], v) for q, v in (("p50", .5), ("p99", .99), ("max", 1.0))},
            "latest": [{"call": k, "late_ms": round(a, 1), "callgen_asked_late_ms": round(b, 1), "pjsua_ms": round(c, 1)}
                       for a, b, c, k in late[-5:]]}


def _mean_hold(args) -> float:
    return (args.hold_min + args.hold) / 2


def run_sipp(args, work: Path) -> dict:
    """SIPp uac -> SIPp uas at the same rate and hold: what SIPp itself reports."""
    calls = int(args.rate * args.seconds)
    uas = SippProcess(SippConfig(work / "sipp", scenario="uas", calls=calls, timeout_s=args.seconds + args.hold + 60))
    (work / "sipp").mkdir(exist_ok=True)
    uas.start()
    try:
        uac = SippProcess(SippConfig(work / "sipp", scenario="uac", remote=f"127.0.0.1:{uas.port}", calls=calls,
                                     rate=args.rate, call_duration_ms=int(_mean_hold(args) * 1000),
                                     timeout_s=args.seconds + args.hold + 60,
                                     extra_args=("-l", str(args.concurrent))))
        uac.start()
        res = uac.wait(args.seconds + args.hold + 90)
    finally:
        uas.stop()
    return {"successful": res.successful_calls, "failed": res.failed_calls, "expected": calls, "exit": res.exit_code}


#: calls per second through the local SBC by default: with 8-12 s holds, about 200 calls (800 RTP streams:
#: two legs, both ways) relayed at once by rtpengine in userspace, which this 2-core machine carries beside
#: both pjsua (measured: docs/load.md)
SBC_RATE = 20.0


def _steady_min(cps: list[int], ramp: float, seconds: float) -> int:
    """The fewest calls started in a second after the ramp and before the end of placing (``duration_s``
    counts from the first call, the ramp included); the first and the last such second may be partial."""
    steady = cps[int(ramp) + 1: int(seconds) - 1] or cps
    return min(steady) if steady else 0


def sbc_line(args, cg: dict) -> str:
    """What the run through the SBC proved, per leg, and what it cost; its last line ``load via sbc: ...``."""
    s = cg["summary"]
    legs = s.get("legs", {})
    out = [f"via sbc: verdict {cg['verdict']} {cg['error']}".rstrip(),
           f"via sbc: rate {args.sbc_rate:g} cps for {args.sbc_seconds:g} s, holds {args.hold_min:g}-{args.hold:g} s; "
           f"proven on alice's leg {legs.get('caller', {}).get('proven')}, on bob's leg {legs.get('callee', {}).get('proven')}, "
           f"both {s.get('proven')} of {s.get('attempted')}; legs joined by {legs.get('joined_by')}"]
    reasons = Counter(why.split(",")[0].split(" (")[0] for row in s.get("unproven", []) for why in row["why"])
    if reasons:
        out.append("via sbc: unproven (first 50) by reason: " + "; ".join(f"{n} x {w}" for w, n in reasons.most_common(5)))
    for comm, sec in sorted(cg["cpu_s"].items(), key=lambda kv: -kv[1]):
        out.append(f"via sbc: cpu {comm:12} {sec:7.1f} s over {cg['wall_s']:.0f} s ({100 * sec / cg['wall_s']:.1f}% of a core)")
    sustained = _steady_min(s.get("cps_per_second", []), args.ramp, args.sbc_seconds)
    out.append(f"load via sbc: {s.get('concurrency_max', 0)} concurrent, {sustained} cps, {s.get('proven_pct', 0)}% proven (both legs)")
    return "\n".join(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=50.0, help="new calls per second (default 50)")
    p.add_argument("--hold", type=float, default=12.0, help="longest hold in seconds (default 12)")
    p.add_argument("--hold-min", type=float, default=8.0,
                   help="shortest hold (default 8: holds drawn per call from 8-12 s, 500 held at 50 cps)")
    p.add_argument("--seconds", type=float, default=70.0,
                   help="seconds of placing calls, the ramp included (the load's duration_s; default 70)")
    p.add_argument("--ramp", type=float, default=5.0)
    p.add_argument("--concurrent", type=int, default=600,
                   help="max_concurrent (default 600: above the ~500 the holds keep up, so the cap does not bind; "
                        "the caller runs as 2 pjsua processes)")
    p.add_argument("--dtmf", choices=("per-call", "none"), default="per-call",
                   help="per-call: each call sends and proves its own digits (default)")
    p.add_argument("--no-sipp", action="store_true")
    p.add_argument("--no-sbc", action="store_true", help="skip the load through the local SBC")
    p.add_argument("--sbc-rate", type=float, default=SBC_RATE,
                   help=f"new calls per second through the SBC (default {SBC_RATE:g}: userspace rtpengine relays "
                        "every packet of both legs)")
    p.add_argument("--sbc-concurrent", type=int, default=400,
                   help="max_concurrent through the SBC (default 400: 20 cps of 8-12 s holds keep ~200 up; one bob, "
                        "which registers, so one pjsua: at most 504)")
    p.add_argument("--sbc-seconds", type=float, default=30.0, help="seconds of placing calls through the SBC (default 30)")
    p.add_argument("--sbc-address", default="127.0.0.1", help="loopback address of the agents of the SBC run")
    p.add_argument("--keep", metavar="DIR", help="run in DIR and keep the run folder (capture, calls.jsonl) there")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="callgen-bench-load-") as d:
        work = Path(args.keep) if args.keep else Path(d)
        work.mkdir(parents=True, exist_ok=True)
        cg = run_callgen(args, work)
        via_sbc = None if args.no_sbc else run_callgen(args, work, sbc=True)
        sipp = None if args.no_sipp else run_sipp(args, work)
    s = cg["summary"]
    print(f"callgen: verdict {cg['verdict']} {cg['error']}".rstrip())
    reasons = Counter(why.split(",")[0].split(" (")[0] for row in s.get("unproven", []) for why in row["why"])
    if reasons:  # the first 50 unproven calls, by reason
        print("unproven (first 50 calls) by reason: " + "; ".join(f"{n} x {why}" for why, n in reasons.most_common(8)))
    print(f"final codes: {s.get('final_codes')}")
    print(json.dumps({k: s.get(k) for k in ("attempted", "answered", "proven", "proven_pct", "concurrency_max",
                                            "setup_ms", "loss_pct", "jitter_ms", "dtmf_proven_pct")}, indent=1))
    cps = s.get("cps_per_second", [])
    steady = steady_part(cps, args.ramp, args.seconds)
    sustained = min(steady) if steady else 0
    print(f"cps per second (steady part): min {sustained}, mean {sum(steady) / max(1, len(steady)):.1f}")
    if cg.get("lateness"):  # a call later than 20 ms at the end of a second is counted in the next one
        print("placing: INVITE after its due time (ms) " + json.dumps(cg["lateness"]))
    low = [(int(args.ramp) + 1 + i, n) for i, n in enumerate(steady) if n < args.rate]
    if low:  # which seconds fell short (second from the first INVITE: calls placed)
        print("seconds below the rate: " + ", ".join(f"{sec}: {n}" for sec, n in low[:20]))
    print(f"holds drawn from {args.hold_min:g}-{args.hold:g} s; command: bench/bench_load.py {' '.join(sys.argv[1:])}")
    cpu = cg["cpu_s"]
    held_s = sum(cps) * _mean_hold(args) if cps else 0
    for comm, sec in sorted(cpu.items(), key=lambda kv: -kv[1]):
        print(f"cpu {comm:12} {sec:7.1f} s over {cg['wall_s']:.0f} s ({100 * sec / cg['wall_s']:.1f}% of a core)")
    pj = cpu.get("pjsua", 0.0)
    if held_s:
        print(f"pjsua cpu per held call: {100 * pj / held_s:.3f}% of a core (both sides, {held_s:.0f} call-seconds held)")
    own = cg["callgen_cpu_pct_during_load"]
    print(f"callgen's own cpu while placing and holding calls: {own:.1f}% of a core" if own is not None else "callgen cpu: not sampled")
    by_thread = sorted(cg["callgen_cpu_by_thread"].items(), key=lambda kv: -kv[1])
    if by_thread:  # where it went: each pjsua's reader thread, the load loop, the rest (python: threads not named)
        print("callgen's cpu by thread (same window): " + ", ".join(f"{name} {pct:.1f}%" for name, pct in by_thread))
    prover = cg["prover_cpu_pct_during_load"]
    if prover is not None and own is not None:  # the proof from the capture runs while the load goes on
        print(f"callgen's prover process ({PROVER}, nice 10: proving calls from the capture while the load runs): "
              f"{prover:.1f}% of a core; callgen in all (placing, holding and proving): {own + prover:.1f}%")
    sipp_pct = None
    if sipp:
        ok = sipp["successful"] or 0
        sipp_pct = 0.0  # SIPp's own count is of SIP flows: no call's media or DTMF is proven
        print(f"sipp: {ok} of {sipp['expected']} calls successful by its own count (SIP flow only; media and DTMF "
              f"unproven: 0% proven in callgen's sense), exit {sipp['exit']}")
        print(f"ratio of proven calls callgen/sipp: {s.get('proven', 0)}/0 (SIPp proves none)")
    if via_sbc is not None:
        print(sbc_line(args, via_sbc))
    print(f"load: {s.get('concurrency_max', 0)} concurrent, {sustained} cps, {s.get('proven_pct', 0)}% proven, "
          f"callgen cpu {own if own is not None else float('nan'):.1f}%, sipp proven "
          f"{sipp_pct if sipp_pct is not None else float('nan'):.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
