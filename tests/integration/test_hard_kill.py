"""callgen killed hard (SIGKILL) or hung up on (SIGHUP) in the middle of a call or a
load: nothing it started lives on - pjsua, tcpdump, Kamailio and its forked workers,
callgen's watchdog - found by searching /proc for every descendant seen mid-run.
Before the watchdog, tcpdump kept capturing and five Kamailio processes stayed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import alive, descendants, proc_name
from tests.integration.test_interrupt import LONG_CALL, _wait_until
from tests.integration.test_load import THROUGH_KAMAILIO


@pytest.fixture
def reaper():
    """Processes a test saw; whatever of them is alive at the end is killed, pass or fail."""
    seen: dict[int, str] = {}
    yield seen
    for pid in seen:
        if alive(pid):
            for kill in (lambda p=pid: os.killpg(p, signal.SIGKILL), lambda p=pid: os.kill(p, signal.SIGKILL)):
                try:
                    kill()
                except OSError:
                    pass


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "callgen", "run", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kids_with(proc: subprocess.Popen, names: set[str], reaper: dict[int, str], timeout: float) -> dict[int, str]:
    """Every descendant of ``proc`` once all of ``names`` are among them."""
    def found():
        kids = {p: proc_name(p) for p in descendants(proc.pid)}
        reaper.update(kids)
        return kids if names <= set(kids.values()) else None

    return _wait_until(found, timeout, f"processes {sorted(names)}")


def _gone(kids: dict[int, str], timeout: float) -> dict[int, str]:
    """The kids still alive after ``timeout`` (polling /proc: they are not our children)."""
    deadline = time.monotonic() + timeout
    while True:
        left = {p: n for p, n in kids.items() if alive(p)}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def test_sigkill_mid_call_leaves_no_process(tmp_path, pjsua_bin, reaper):
    out = tmp_path / "out"
    proc = _start([str(LONG_CALL), "-o", str(out), "-j", "1"])
    try:
        transcript = out / "long_call" / "alice.transcript.txt"
        _wait_until(lambda: transcript.is_file() and "CONFIRMED" in transcript.read_text(errors="replace"),
                    30, "the call to be confirmed")
        kids = _kids_with(proc, {"pjsua", "tcpdump"}, reaper, 10)
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    left = _gone(kids, 5.0)
    assert not left, f"processes outlived callgen's SIGKILL: {left}"


def test_sighup_mid_call_stops_in_order_and_leaves_no_process(tmp_path, pjsua_bin, reaper):
    """SIGHUP (terminal or SSH session gone) is an orderly stop like SIGTERM: exit 130, reports kept."""
    out = tmp_path / "out"
    junit = tmp_path / "junit.xml"
    proc = _start([str(LONG_CALL), "-o", str(out), "-j", "1", "--junit", str(junit)])
    try:
        transcript = out / "long_call" / "alice.transcript.txt"
        _wait_until(lambda: transcript.is_file() and "CONFIRMED" in transcript.read_text(errors="replace"),
                    30, "the call to be confirmed")
        kids = _kids_with(proc, {"pjsua", "tcpdump"}, reaper, 10)
        proc.send_signal(signal.SIGHUP)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (proc.returncode, stdout, stderr)
    assert not _gone(kids, 2.0), "processes outlived callgen"
    result = json.loads((out / "long_call" / "result.json").read_text())
    assert result["verdict"] == "error" and "interrupted" in result["error"]
    assert "long_call" in junit.read_text()
    assert (out / "index.html").is_file()


def _long_load(tmp_path: Path) -> Path:
    text = (THROUGH_KAMAILIO.replace("calls: 30", "calls: 200")
            .replace("  dtmf: per-call\n", "").replace("hold_s: 3", "hold_s: 1")
            .replace("    dtmf_ok_pct_min: 100\n", "")
            .replace("rate: 10", "rate: 5").replace("timeout: 60", "timeout: 120"))
    f = tmp_path / "load.yaml"
    f.write_text(text)
    return f


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP], ids=["SIGKILL", "SIGHUP"])
def test_killed_load_through_kamailio_leaves_no_process_and_keeps_call_rows(tmp_path, pjsua_bin, reaper, sig):
    """A load through a real local Kamailio (which forks workers: not callgen's children), its calls proven
    meanwhile by callgen's prover process (``callgen-prover``)."""
    out = tmp_path / "out"
    proc = _start([str(_long_load(tmp_path)), "-o", str(out), "-j", "1"])
    rows = out / "load_via_kamailio" / "calls.jsonl"
    try:
        kids = _kids_with(proc, {"pjsua", "tcpdump", "kamailio", "callgen-prover"}, reaper, 30)
        # the per-call rows are written as calls end, not only at the end of the run
        _wait_until(lambda: rows.is_file() and len(rows.read_text().splitlines()) >= 3, 30, "three rows in calls.jsonl")
        kids = _kids_with(proc, {"pjsua", "tcpdump", "kamailio", "callgen-prover"}, reaper, 5)  # Kamailio's workers are up
        assert sum(n == "kamailio" for n in kids.values()) > 1, kids
        proc.send_signal(sig)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    left = _gone(kids, 5.0)
    assert not left, f"processes outlived callgen ({sig.name}): {left}"
    lines = rows.read_text().splitlines()
    assert len(lines) >= 3
    for line in lines:
        row = json.loads(line)
        assert row["callee"] == "bob" and "verdict" in row
    if sig == signal.SIGHUP:
        assert proc.returncode == 130
