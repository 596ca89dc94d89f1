"""A load's capture rotated into bounded files while real calls run (issue 23, soak): the files
rotate several times, the files on disk stay within load.capture.max_mb, every call is still
proven (with the rows the one-file analysis gives), and a prover that cannot keep up stops the
run with exit 3 naming the capture. On 127.0.0.12 (other helpers' loads run on .11 and .13)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

ADDR = "127.0.0.12"


def _scenario(name: str, capture: str, calls: int = 48) -> str:
    return f"""\
name: {name}
timeout: 60
agents:
  alice: {{role: caller, codecs: [PCMA], address: {ADDR}}}
  bob: {{role: callee, codecs: [PCMA], address: {ADDR}}}
load:
  from: alice
  to: bob
  rate: 12
  calls: {calls}
  hold_s: 6
  max_concurrent: 60
  dtmf: per-call
  capture: {capture}
  expect:
    answered_pct_min: 100
"""


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "calls.jsonl").read_text().splitlines()]


def _capture_bytes(run: Path) -> tuple[int, set[str]]:
    """The capture's files on disk now (tcpdump's names, or dumpcap's before callgen renames them)."""
    total, names = 0, set()
    for p in run.glob("capture*.pcap*"):
        try:
            total += p.stat().st_size
            names.add(p.name)
        except FileNotFoundError:  # deleted by the ring meanwhile
            pass
    return total, names


def test_the_capture_ring_rotates_within_its_limit_and_every_call_is_proven(tmp_path, pjsua_bin):
    """1 MB files, at most 4 MB on disk: 48 calls held 6 s (~6.5 MB of RTP) rotate the capture
    several times and the ring deletes analysed files while the run goes on."""
    f = tmp_path / "ring.yaml"
    f.write_text(_scenario("load_ring", "{file_mb: 1, max_mb: 4}"))
    out = tmp_path / "out"
    run_dir = out / "load_ring"
    proc = subprocess.Popen([sys.executable, "-m", "callgen", "run", str(f), "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    most, seen = 0, set()
    try:
        while proc.poll() is None:  # the disk as the run goes on, every 50 ms
            total, names = _capture_bytes(run_dir)
            most, seen = max(most, total), seen | names
            time.sleep(0.05)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stdout + stderr
    rows = _rows(run_dir)
    assert len(rows) == 48 and all(r["verdict"] == "proven" for r in rows), [r["why"] for r in rows if r["why"]]
    assert [r["dtmf_seen"] for r in rows] == [f"{k:03d}#" for k in range(48)]
    load = json.loads((run_dir / "result.json").read_text())["summary"]["load"]
    assert load["capture_files"] >= 5, load  # rotated several times
    assert len({n for n in seen if re.fullmatch(r"capture\.pcap\d*", n)}) >= 5, seen
    assert most <= 4_000_000 + 65_536, most  # the limit, give or take the packet that passes a file's size
    assert load["capture_max_mb"] <= 4.1, load
    left, _ = _capture_bytes(run_dir)
    assert left <= 4_000_000 + 65_536 and not (run_dir / "capture.pcap").exists()  # the oldest files were deleted


def test_the_rotated_files_give_the_rows_of_one_file(cli, tmp_path, pjsua_bin):
    """The same rows as the one-file analysis (load_rows over analyze_capture) of the files joined."""
    from callgen.analysis import analyze_capture
    from callgen.run.capture import CaptureStats
    from callgen.run.evidence import AgentEvidence, Evidence, LoadCallRecord
    from callgen.scenario.loader import load_scenario
    from callgen.verdict.load import load_rows

    f = tmp_path / "kept.yaml"
    f.write_text(_scenario("load_ring_kept", "{file_mb: 1, max_mb: 1000}", calls=30))
    r = cli("run", str(f), "-o", str(tmp_path / "out"))
    assert r.status == 0, r.out + r.err
    run = tmp_path / "out" / "load_ring_kept"
    files = sorted(run.glob("capture.pcap*"), key=lambda p: int(p.name[len("capture.pcap"):] or 0))
    assert len(files) >= 3, files
    whole = tmp_path / "whole.pcap"
    subprocess.run(["mergecap", "-a", "-F", "pcap", "-w", str(whole), *map(str, files)], check=True, timeout=60)
    rows = _rows(run)
    records = tuple(LoadCallRecord(r["index"], r["callee"], "", r["dtmf_sent"], r["placed_time"], 0 if r["call_id"] else None,
                                   code=r["pjsua_code"], hold_s=r["hold_s"], caller=r["caller"]) for r in rows)
    port = int(re.search(r"--local-port=(\d+)", (run / "alice.cfg").read_text())[1])
    alice = AgentEvidence("alice", port, ADDR, Path("x"), Path("x"), Path("x"), (), 0)
    scenario = load_scenario(f)
    evidence = Evidence(run, whole, CaptureStats(None, None, ""), (alice,), (), 0.0, 0.0, load_calls=records)
    one_file = [row.to_json() for row in load_rows(scenario, evidence, analyze_capture(str(whole)))]
    assert one_file == rows
    assert all(r["verdict"] == "proven" for r in rows)


def test_a_prover_that_cannot_keep_up_stops_the_load_with_exit_3(cli, tmp_path, pjsua_bin, monkeypatch):
    """The prover's process takes 1.5 s more per 1 MB file while the calls write one every ~0.3 s: before
    the files not yet analysed pass 3 MB the run stops, exit 3 naming the capture; no file was deleted
    unread, so the calls are still proven at the end."""
    from callgen.verdict.loadprover import ProverProcess

    monkeypatch.setattr(ProverProcess, "module", "tests.integration.slow_prover")
    f = tmp_path / "slow.yaml"
    f.write_text(_scenario("load_ring_slow", "{file_mb: 1, max_mb: 3}"))
    r = cli("run", str(f), "-o", str(tmp_path / "out"))
    assert r.status == 3, r.out + r.err
    run = tmp_path / "out" / "load_ring_slow"
    result = json.loads((run / "result.json").read_text())
    assert "capture capture.pcap:" in result["error"] and "not yet analysed" in result["error"], result["error"]
    assert "callgen's prover fell behind" in result["error"] and "the load stopped after" in result["error"]
    rows = _rows(run)  # each call placed has its row, proven from files none of which was deleted unread
    placed = int(re.search(r"the load stopped after (\d+) calls", result["error"])[1])
    assert len(rows) == placed and sum(r["verdict"] == "proven" for r in rows) >= 1, rows
