"""Ctrl-C or SIGTERM in the middle of a call: the run ends within seconds, no
pjsua or tcpdump is left behind, and the artefacts written so far stay."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import alive, descendants, proc_name

LONG_CALL = Path(__file__).resolve().parents[1] / "data" / "scenarios" / "long_call.yaml"


def _wait_until(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)  # polling /proc and files: there is no event to block on
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_leaves_no_process_and_keeps_artefacts(tmp_path, sig, pjsua_bin):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "callgen", "run", str(LONG_CALL), "-o", str(out), "-j", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        transcript = out / "long_call" / "alice.transcript.txt"
        _wait_until(lambda: transcript.is_file() and "CONFIRMED" in transcript.read_text(errors="replace"),
                    30, "the call to be confirmed")
        kids = {p: proc_name(p) for p in descendants(proc.pid)}
        names = set(kids.values())
        assert "pjsua" in names and "tcpdump" in names, kids
        t0 = time.monotonic()
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=15)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (proc.returncode, stdout, stderr)
    assert took < 8, f"the run took {took:.1f} s to stop"
    leftovers = {p: n for p, n in kids.items() if alive(p)}
    assert not leftovers, f"processes left behind: {leftovers}"
    run = out / "long_call"
    pcap = run / "capture.pcap"
    assert pcap.is_file() and pcap.stat().st_size > 24, "the partial capture must be kept"
    for name in ("alice.pjsua.log", "bob.pjsua.log", "alice.cfg", "bob.cfg"):
        assert (run / name).is_file(), name
    result = json.loads((run / "result.json").read_text())
    assert result["verdict"] == "error" and "interrupted" in result["error"]
    assert "interrupted" in stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_repeated_signals_still_clean_up_and_write_every_report(tmp_path, sig, pjsua_bin):
    """Three signals at 0, +0.3 and +0.8 s: the first stops the run, the others cannot
    cut the clean-up or the reports short (before, tcpdump was orphaned and no
    result.json, index.html, summary or JUnit file was written)."""
    out = tmp_path / "out"
    junit = tmp_path / "junit.xml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "callgen", "run", str(LONG_CALL), "-o", str(out), "-j", "1", "--junit", str(junit)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        transcript = out / "long_call" / "alice.transcript.txt"
        _wait_until(lambda: transcript.is_file() and "CONFIRMED" in transcript.read_text(errors="replace"),
                    30, "the call to be confirmed")
        kids = {p: proc_name(p) for p in descendants(proc.pid)}
        assert "tcpdump" in kids.values(), kids
        t0 = time.monotonic()
        for at in (0.0, 0.3, 0.8):
            time.sleep(max(0.0, t0 + at - time.monotonic()))  # the spacing is the test's input
            proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (proc.returncode, stdout, stderr)
    leftovers = {p: n for p, n in kids.items() if alive(p)}
    assert not leftovers, f"processes left behind: {leftovers}"
    result = json.loads((out / "long_call" / "result.json").read_text())
    assert result["verdict"] == "error" and "interrupted" in result["error"]
    for report in (out / "index.html", out / "summary.md", junit):
        assert report.is_file() and report.stat().st_size > 0, report
    assert "long_call" in junit.read_text()
