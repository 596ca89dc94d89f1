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
