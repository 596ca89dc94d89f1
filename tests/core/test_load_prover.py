"""A load's capture proven file by file (issue 23, soak): a capture split into files mid-call gives
the same per-call rows as the whole file, and the ring never deletes a file before it was analysed."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from callgen.run.capture import CaptureStats
from callgen.run.evidence import AgentEvidence, Evidence, LoadCallRecord
from callgen.run.ring import MB, CaptureFiles
from callgen.scenario.loader import load_scenario
from tests.analysis.capgen import RtpSender, sdp, sip_request, sip_response
from tests.analysis.scapygen import at, eth, udp, write

ADDR = "127.0.0.12"
ALICE, BOB = f"{ADDR}:5060", f"{ADDR}:5062"
SCENARIO = f"""\
name: split
timeout: 60
agents:
  alice: {{role: caller, codecs: [PCMA], address: {ADDR}, port: 5060}}
  bob: {{role: callee, codecs: [PCMA], address: {ADDR}, port: 5062}}
load: {{from: alice, to: bob, rate: 1, calls: 2, hold_s: 3, dtmf: per-call}}
"""


def _call(k: int, t0: float) -> list:
    """One load call as pjsua places it: INVITE/200/ACK, PCMA both ways with the caller's own digits
    in the middle, BYE/200 after a 3 s hold."""
    cid, a_port, b_port = f"load-call-{k}", 4000 + 4 * k, 6000 + 4 * k
    pts = {8: "PCMA/8000", 120: "telephone-event/8000"}
    frames = []

    def sip(t, src, dst, payload):
        (sh, sp), (dh, dp) = src.rsplit(":", 1), dst.rsplit(":", 1)
        frames.append(at(t, eth(udp(sh, int(sp), dh, int(dp), payload))))

    sip(t0, ALICE, BOB, sip_request("INVITE", cid, 1, ALICE, BOB, sdp(ADDR, a_port, pts)))
    sip(t0 + 0.05, BOB, ALICE, sip_response(200, "OK", cid, 1, "INVITE", BOB, ALICE, sdp(ADDR, b_port, pts)))
    sip(t0 + 0.06, ALICE, BOB, sip_request("ACK", cid, 1, ALICE, BOB))
    fwd, bwd = RtpSender(ssrc=0x1000 + k, seq=100, ts=1000), RtpSender(ssrc=0x2000 + k, seq=500, ts=9000)
    t = fwd.audio(t0 + 0.07, 20)
    for digit in f"{k:03d}#":
        t = fwd.digit(t, digit)
        t = fwd.audio(t, 3)
    fwd.audio(t, int((t0 + 3.05 - t) / 0.02))
    bwd.audio(t0 + 0.08, 149)
    for sender, (src, dst) in ((fwd, (a_port, b_port)), (bwd, (b_port, a_port))):
        for when, data in sender.packets:
            frames.append(at(when, eth(udp(ADDR, src, ADDR, dst, data))))
    sip(t0 + 3.1, ALICE, BOB, sip_request("BYE", cid, 2, ALICE, BOB))
    sip(t0 + 3.11, BOB, ALICE, sip_response(200, "OK", cid, 2, "BYE", BOB, ALICE))
    return frames


def _records() -> tuple[LoadCallRecord, ...]:
    return tuple(LoadCallRecord(k, "bob", f"sip:bob@{BOB}", f"{k:03d}#", 100.0 + k, k, confirmed=100.05 + k,
                                ended=103.1 + k, code=200, hold_s=3.0) for k in range(2))


@pytest.fixture
def capture(tmp_path):
    """The two overlapping calls in one file, and the same packets split at 101.5 s: in the middle of
    both calls (call 0's digits on both sides of the cut, call 1's INVITE before it and its BYE after)."""
    frames = sorted(_call(0, 100.0) + _call(1, 101.0), key=lambda f: f.time)
    whole = tmp_path / "whole.pcap"
    write(whole, frames)
    cut = next(i for i, f in enumerate(frames) if f.time >= 101.5)
    parts = [tmp_path / "capture.pcap", tmp_path / "capture.pcap1"]
    write(parts[0], frames[:cut])
    write(parts[1], frames[cut:])
    scenario = load_scenario(tmp_path / "s.yaml") if (tmp_path / "s.yaml").write_text(SCENARIO) else None
    return scenario, whole, parts


def _old_rows(scenario, pcap: Path):
    """The rows the verdict gave from one file before the prover: load_rows over analyze_capture."""
    from callgen.analysis import analyze_capture
    from callgen.verdict.load import load_rows

    alice = AgentEvidence("alice", 5060, ADDR, Path("x"), Path("x"), Path("x"), (), 0)
    evidence = Evidence(pcap.parent, pcap, CaptureStats(None, None, ""), (alice,), (), 0.0, 0.0, scenario=scenario,
                        load_calls=_records())
    return load_rows(scenario, evidence, analyze_capture(str(pcap)))


def test_a_capture_split_mid_call_proves_each_call_as_the_whole_file(capture):
    from callgen.verdict.loadprover import LoadProver, _Sender

    scenario, whole, parts = capture
    expected = _old_rows(scenario, whole)
    assert [r.proven for r in expected] == [True, True], [r.why for r in expected]
    assert [r.dtmf_seen for r in expected] == ["000#", "001#"]
    prover = LoadProver(scenario, _Sender(ADDR, 5060))
    for part in parts:
        prover.feed(part)
        prover.step(_records())
    prover.step(_records(), final=True)
    assert prover.rows() == expected  # every field: code, ACK, BYE, packets, loss, jitter, digits, hold
    # the halves alone prove nothing: the carry across the cut is what proves them
    halves = [_old_rows(scenario, part) for part in parts]
    assert not any(r.proven for rows in halves for r in rows)
    # and nothing of the proven calls is held any more
    assert not prover.scan.streams and not prover.scan.book.dialogs
    assert prover.scan.streams_counted == 4 and prover.scan.dtmf_counted == 8


def test_the_rows_are_written_as_the_calls_are_proven(capture, tmp_path):
    from callgen.verdict.loadprover import LoadProver, _Sender

    scenario, _whole, parts = capture
    journal = tmp_path / "calls.jsonl"
    prover = LoadProver(scenario, _Sender(ADDR, 5060), journal)
    prover.feed(parts[0])
    prover.step(_records())
    assert prover.rows() == () and not journal.exists()  # both calls still up at the cut
    prover.feed(parts[1])
    prover.step(_records())
    assert prover.rows() == ()  # the files end 1 s after call 0's BYE: its last packets may still come
    later = tmp_path / "capture.pcap2"  # a file reaching 105.5 s: 2.4 s past call 0's end, 1.4 s past call 1's
    write(later, [at(105.5, eth(udp(ADDR, 5060, ADDR, 5070, sip_request("OPTIONS", "other", 1, ALICE, f"{ADDR}:5070"))))])
    prover.feed(later)
    prover.step(_records())
    assert [r.index for r in prover.rows()] == [0] and prover.rows()[0].proven
    assert [json.loads(line)["index"] for line in journal.read_text().splitlines()] == [0]
    prover.step(_records(), final=True)
    assert [r.index for r in prover.rows()] == [0, 1] and len(journal.read_text().splitlines()) == 2


def _fill(path: Path, mb: float) -> None:
    path.write_bytes(b"\0" * int(mb * MB))


def test_the_ring_deletes_only_analysed_files_and_says_when_the_prover_is_behind(tmp_path):
    files = CaptureFiles(tmp_path / "capture.pcap", file_mb=1, max_mb=3)
    _fill(tmp_path / "capture.pcap", 1)
    assert files.closed() == [] and files.behind() is None  # the tool still writes it
    _fill(tmp_path / "capture.pcap1", 1)
    assert files.closed() == [tmp_path / "capture.pcap"]
    _fill(tmp_path / "capture.pcap2", 1.0)
    assert files.closed() == [tmp_path / "capture.pcap1"]
    # three files of 1 MB unread and the limit is 3 MB: the next one would pass it
    why = files.behind()
    assert why is not None and "capture capture.pcap: 3 files (3 MB) not yet analysed" in why and "max_mb" in why
    assert all(p.exists() for p in (tmp_path / "capture.pcap", tmp_path / "capture.pcap1"))  # nothing deleted unread
    files.released(tmp_path / "capture.pcap")
    assert not (tmp_path / "capture.pcap").exists() and files.deleted == 1  # room for the next file
    assert files.behind() is None
    files.released(tmp_path / "capture.pcap1")  # fits: kept
    assert (tmp_path / "capture.pcap1").exists()
    files.stopped()
    assert files.closed() == [tmp_path / "capture.pcap2"]
    assert files.max_on_disk == 3 * MB


def test_dumpcap_files_take_tcpdumps_names_once_closed(tmp_path):
    files = CaptureFiles(tmp_path / "capture.pcap", file_mb=1, max_mb=10)
    _fill(tmp_path / "capture_00001_20261203120000.pcap", 0.1)
    _fill(tmp_path / "capture_00002_20261203120001.pcap", 0.1)
    assert files.closed() == [tmp_path / "capture.pcap"]
    assert (tmp_path / "capture_00002_20261203120001.pcap").exists()  # still written
    files.stopped()
    assert files.closed() == [tmp_path / "capture.pcap1"]


LIMITS = """\
name: l
timeout: 600
agents:
  alice: {{role: caller}}
  bob: {{role: callee}}
load:
  from: alice
  to: bob
  rate: 5
  calls: 10
  capture: {capture}
"""


@pytest.mark.parametrize("capture,where,says", [
    ("{max_mb: 30, file_mb: 11}", ":11: load.capture.file_mb", "more than a third of max_mb 30"),
    ("{max_mb: 2}", ":11: load.capture.max_mb", "3"),
    ("{max_mb: 100, size: 5}", ":11: load.capture", "size"),
])  # fmt: skip
def test_a_capture_limit_that_cannot_hold_its_files_is_refused(cli, write_yaml, capture, where, says):
    r = cli("validate", str(write_yaml(LIMITS.format(capture=capture))))
    assert r.status == 2, r.out + r.err
    line = r.err.splitlines()[0]
    assert where in line and says in line, r.err


def test_the_capture_limit_defaults_and_its_file_size():
    from callgen.scenario.model import LoadCapture

    assert LoadCapture().max_mb == 2000 and LoadCapture().file_size_mb() == 100
    assert LoadCapture(max_mb=60).file_size_mb() == 3 and LoadCapture(max_mb=3).file_size_mb() == 1


def _process(scenario, tmp_path):
    """The prover as a run starts it: in a process of its own, spilling rows into the run folder."""
    from callgen.verdict.loadprover import ProverProcess, _Init, _Sender

    return ProverProcess(_Init(scenario, _Sender(ADDR, 5060), tmp_path / "calls.jsonl", {}, tmp_path / ".load-rows.pickle"))


def _changes_once(records):
    """A load's ``changes``: every call once, then nothing new."""
    pending = [list(enumerate(records))]
    return lambda: pending.pop() if pending else []


def test_a_file_that_cannot_be_analysed_names_itself_on_every_call_left(capture, tmp_path):
    scenario, _whole, parts = capture
    good = parts[1].read_bytes()
    parts[1].write_bytes(good[:200])  # the tool died mid-record: the file ends inside one
    prover = _process(scenario, tmp_path)
    prover.start(CaptureFiles(parts[0], file_mb=1, max_mb=10), _changes_once(_records()))
    prover.finish(_records(), timeout=30.0)
    why = prover.problem()
    assert why is not None and why.startswith("capture capture.pcap1 cannot be analysed:") and "truncated" in why, why
    rows = prover.rows()
    assert [r.index for r in rows] == [0, 1] and all(r.why == (why,) and not r.proven for r in rows)


def test_the_prover_process_gives_the_rows_of_the_whole_file(capture, tmp_path):
    """In its own process, fed file by file while the calls change, the rows are those of one file read
    at the end; none is kept in a file once read back, and the process is gone."""
    scenario, whole, parts = capture
    expected = _old_rows(scenario, whole)
    prover = _process(scenario, tmp_path)
    files = CaptureFiles(parts[0], file_mb=1, max_mb=10)
    prover.start(files, _changes_once(_records()))
    prover.finish(_records(), timeout=30.0)
    assert prover.problem() is None
    assert prover.rows() == expected
    assert prover.streams_counted == 4 and prover.dtmf_counted == 8 and prover.files_analysed == 2
    assert not (tmp_path / ".load-rows.pickle").exists() and prover._proc.poll() == 0
    assert [json.loads(line)["verdict"] for line in (tmp_path / "calls.jsonl").read_text().splitlines()] == [
        "proven", "proven"]


def _await(predicate, timeout: float = 20.0) -> bool:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if predicate():
            return True
        time.sleep(0.02)  # polling /proc: there is no event for another process renaming itself
    return predicate()


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def test_the_prover_runs_in_a_niced_process_of_its_own(capture, tmp_path):
    """The defect: as a thread of callgen's it held Python's lock while the load placed calls (43-48 calls in
    the slowest seconds at 50 cps) and its CPU could not be told from the engine's."""
    scenario, _whole, parts = capture
    prover = _process(scenario, tmp_path)
    prover.start(CaptureFiles(parts[0], file_mb=1, max_mb=10), _changes_once(_records()))
    try:
        pid = prover._proc.pid
        assert pid != os.getpid()
        assert _await(lambda: _comm(pid) == "callgen-prover"), _comm(pid)
        nice = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
        assert nice == min(19, os.nice(0) + 10)
    finally:
        prover.finish(_records(), timeout=30.0)
    assert prover.problem() is None and prover._proc.poll() == 0


def test_a_prover_process_that_dies_is_named_and_every_call_left_unproven(capture, tmp_path):
    scenario, _whole, parts = capture
    prover = _process(scenario, tmp_path)
    prover.start(CaptureFiles(parts[0], file_mb=1, max_mb=10), _changes_once(_records()))
    prover._stop.set()  # the thread would see it too; here the test looks itself
    prover._thread.join(5.0)
    os.kill(prover._proc.pid, signal.SIGKILL)
    prover._proc.wait(10.0)
    assert prover._exchange() is False
    why = prover.problem()
    assert why is not None and "capture prover" in why and "died during the run (killed by signal 9" in why, why
    prover.finish(_records(), timeout=5.0)
    rows = prover.rows()
    assert [r.index for r in rows] == [0, 1] and all(r.why == (why,) and not r.proven for r in rows)


def test_the_load_hands_the_prover_only_the_calls_that_changed():
    """Every look used to copy every record of the run (20,000 in a soak) five times a second."""
    from callgen.run.load import LoadRun

    run = LoadRun.__new__(LoadRun)
    run._lock, run._records, run._changed = threading.Lock(), list(_records()), {0: None, 1: None}
    assert [k for k, _ in run.changes()] == [0, 1] and run.changes() == []
    run._set(1, ended=200.0)
    assert run.changes() == [(1, run._records[1])] and run._records[1].ended == 200.0 and run.changes() == []


def test_spilled_rows_are_not_kept_in_memory(capture, tmp_path):
    from callgen.verdict.loadprover import LoadProver, _Sender

    scenario, whole, parts = capture
    prover = LoadProver(scenario, _Sender(ADDR, 5060), spill=tmp_path / "rows.pickle")
    for part in parts:
        prover.feed(part)
        prover.step(_records())
    prover.step(_records(), final=True)
    assert prover._rows._mem == {} and prover.rows() == _old_rows(scenario, whole)
