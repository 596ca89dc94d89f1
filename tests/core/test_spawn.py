"""callgen.spawn: a child started through it dies with callgen, also when callgen is
SIGKILLed, and so do the processes the child forked (as Kamailio forks its workers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

PROGRAM = """
import sys, time
from callgen import spawn
p = spawn.popen(["sh", "-c", "sleep 60 & sleep 60 & wait"])  # a daemon-like child that forks
print(p.pid, spawn.watchdog_pid(), flush=True)
if sys.argv[1] == "forget":
    from callgen.sut.process import stop_group
    stop_group(p)
    print("stopped", flush=True)
time.sleep(60)
"""


def _group(pgid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                out.append(int(d))
    return out


def _exists(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def parent():
    procs = []

    def start(mode: str) -> tuple[subprocess.Popen, int, int]:
        p = subprocess.Popen([sys.executable, "-c", PROGRAM, mode], stdout=subprocess.PIPE, text=True)
        procs.append(p)
        child, watchdog = map(int, p.stdout.readline().split())
        return p, child, watchdog

    yield start
    for p in procs:
        p.kill()
        p.wait()


def _wait_gone(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # not our processes: /proc is the only way to see them go
    return True


def test_sigkill_of_the_parent_kills_the_child_and_its_forks(parent):
    p, child, watchdog = parent("keep")
    assert _wait_gone(lambda: len(_group(child)) < 3, 5)  # sh and both sleeps are up
    members = _group(child)
    try:
        p.send_signal(signal.SIGKILL)
        p.wait()
        assert _wait_gone(lambda: _group(child), 5), f"outlived callgen: {_group(child)}"
        assert _wait_gone(lambda: _exists(watchdog), 5), "the watchdog outlived callgen"
    finally:
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def test_the_watchdog_ends_with_callgen_after_a_clean_stop(parent):
    """After callgen stopped a group itself, the watchdog has nothing left to kill (it would
    otherwise signal a process group whose id the kernel may have given to someone else)."""
    p, child, watchdog = parent("forget")
    assert p.stdout.readline().strip() == "stopped"
    assert not _group(child)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert _wait_gone(lambda: _exists(watchdog), 5)
