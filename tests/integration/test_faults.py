"""A part of the run that dies makes the run an infrastructure error (exit 3)
that names it (issue #9, items 10 and 11): the capture tool killed right after
it started or in mid-call, a pjsua killed in mid-call.  Before, a dead capture
let busy.yaml PASS on SIP rebuilt from the pjsua logs, and a dead callee gave
exit 1 blaming the far end for a missing BYE."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import SCENARIOS
from tests.integration.conftest import alive, descendants, proc_name
from tests.integration.test_interrupt import _wait_until


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _child(run: subprocess.Popen, name: str, needle: str = "") -> int | None:
    return next((p for p in descendants(run.pid) if proc_name(p) == name and needle in _cmdline(p)), None)


def _run_and_kill(tmp_path, scenario: str, victim: tuple[str, str], when: str, sig: int = signal.SIGKILL):
    """Run ``scenario`` in a subprocess; send ``sig`` to the child ``victim`` (comm, cmdline part)
    once the capture started (``when="start"``) or the call is confirmed (``"confirmed"``)."""
    out = tmp_path / "out"
    stem = scenario.removesuffix(".yaml")
    env = {**os.environ, "CALLGEN_CAPTURE": "tcpdump"}
    run = subprocess.Popen([sys.executable, "-m", "callgen", "run", str(SCENARIOS / scenario), "-o", str(out), "-j", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        if when == "start":  # the capture is confirmed listening before the first agent starts
            _wait_until(lambda: _child(run, "pjsua", "--config-file"), 30, "the first agent's pjsua")
        else:
            transcript = out / stem / "alice.transcript.txt"
            _wait_until(lambda: transcript.is_file() and "CONFIRMED" in transcript.read_text(errors="replace"),
                        30, "the call to be confirmed")
        pid = _wait_until(lambda: _child(run, *victim), 10, f"{victim}")
        kids = {p: proc_name(p) for p in descendants(run.pid)}
        os.kill(pid, sig)
        stdout, stderr = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    leftovers = {p: n for p, n in kids.items() if alive(p)}
    assert not leftovers, f"processes left behind: {leftovers}"
    result = json.loads((out / stem / "result.json").read_text())
    return run.returncode, stdout + stderr, result


def test_capture_killed_at_start_is_an_infrastructure_error(tmp_path, pjsua_bin):
    status, output, result = _run_and_kill(tmp_path, "busy.yaml", ("tcpdump", ""), "start")
    assert status == 3, output
    assert result["verdict"] == "error"
    assert "tcpdump died during the run" in result["error"], result["error"]
    checks = {c["name"]: c for c in result["checks"]}
    assert not checks["capture.complete"]["passed"]
    assert checks["capture.complete"]["evidence"] == "tcpdump"


@pytest.mark.parametrize("victim", [("pjsua", "bob.cfg"), ("tcpdump", "")], ids=["callee-pjsua", "tcpdump"])
def test_a_process_killed_mid_call_is_an_infrastructure_error(tmp_path, pjsua_bin, victim):
    status, output, result = _run_and_kill(tmp_path, "basic_call.yaml", victim, "confirmed")
    assert status == 3, output
    assert result["verdict"] == "error"
    want = "agent bob: pjsua died during the run (killed by signal 9)" if victim[0] == "pjsua" else "tcpdump died during the run"
    assert want in result["error"], result["error"]


def test_a_pjsua_that_crashes_mid_call_is_named_with_its_signal(tmp_path, pjsua_bin):
    """A real pjsua's own crash handler (main.c: SIGSEGV/SIGABRT print "Error: signal N:" and a backtrace,
    then exit 1): callgen said only "exit status 1"."""
    status, output, result = _run_and_kill(tmp_path, "basic_call.yaml", ("pjsua", "bob.cfg"), "confirmed",
                                           signal.SIGSEGV)
    assert status == 3, output
    want = ("agent bob: pjsua died during the run (exit status 1: it crashed on signal 11 (SIGSEGV), its backtrace"
            " is in bob.transcript.txt)")
    assert want in result["error"], result["error"]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root (CI runs as root)")
def test_disk_full_during_a_run_is_named_and_leaves_nothing_running(tmp_path, pjsua_bin):
    """The run folder on a 64 KB tmpfs fills up mid-call.  Before: tracebacks, exit 1,
    a 0-byte report and tcpdump left running (closing a transcript raised ENOSPC, so
    the capture was never stopped)."""
    full = tmp_path / "full"
    full.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(full)], check=True)
    try:
        run = subprocess.Popen([sys.executable, "-m", "callgen", "run", str(SCENARIOS / "basic_call.yaml"),
                                "-o", str(full / "out"), "-j", "1"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        transcript = full / "out" / "basic_call" / "alice.transcript.txt"
        _wait_until(lambda: transcript.is_file(), 30, "the run to start")
        kids = _wait_until(lambda: {p: proc_name(p) for p in descendants(run.pid)} or None, 10, "the run's processes")
        stdout, stderr = run.communicate(timeout=60)
        leftovers = {p: n for p, n in kids.items() if alive(p)}
        empty = [p.name for p in (full / "out").rglob("*") if p.is_file() and p.stat().st_size == 0]
    finally:
        subprocess.run(["umount", "-l", str(full)], check=False)
    assert run.returncode == 3, (run.returncode, stdout, stderr)
    assert "Traceback" not in stdout + stderr
    assert "No space left on device" in stdout + stderr
    assert not leftovers, f"processes left behind: {leftovers}"
    assert not empty, f"0-byte files: {empty}"


def test_a_fixed_port_in_use_is_named(cli, tmp_path, pjsua_bin):
    """Before: "pjsua exited waiting for ready" without the reason, or a ladder of another run's traffic."""
    import socket

    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    scenario = tmp_path / "fixed.yaml"
    scenario.write_text(f"""name: fixed
agents:
  alice: {{role: caller}}
  bob: {{role: callee, port: {port}}}
calls:
  - {{from: alice, to: bob}}
""")
    with holder:
        r = cli("run", str(scenario), "-o", str(tmp_path / "out"))
    assert r.status == 3, r.out + r.err
    assert f"agent bob: its fixed port 127.0.0.1:{port} (udp) is in use" in r.out + r.err
