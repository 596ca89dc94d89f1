"""Process-group helpers shared by the SUT harnesses.

Kamailio forks worker processes and SIPp may spawn helpers, so a harness owns a
whole process group (started by ``callgen.spawn.popen`` in its own session) and stops the
group: SIGTERM, wait with a timeout, then SIGKILL.  Nothing may outlive a run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from callgen import spawn
from callgen.errors import InfrastructureError


def group_alive(pgid: int) -> bool:
    """True while any process of group ``pgid`` exists (zombies included)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def how_it_ended(returncode: int) -> str:
    """``exited with status 0`` / ``killed by signal 9`` for a Popen return code."""
    return f"killed by signal {-returncode}" if returncode < 0 else f"exited with status {returncode}"


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def stop_group(proc: subprocess.Popen, timeout: float = 5.0) -> int:
    """Stop ``proc`` and its group: SIGTERM, then SIGKILL after ``timeout``; return the exit code.

    The leader is reaped with ``wait``; the rest of the group (children that the
    leader did not reap) are killed and awaited until the group is gone.
    """
    pgid = proc.pid  # start_new_session=True makes the child its group's leader
    if proc.poll() is None:
        _signal_group(pgid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(pgid, signal.SIGKILL)
            proc.wait(timeout=timeout)
    elif group_alive(pgid):  # the leader ended on its own (killed, crashed) and left its workers: stop them now
        _signal_group(pgid, signal.SIGTERM)
    # Workers may still be exiting after the leader; give them the same budget.
    deadline = time.monotonic() + timeout
    killed = False
    while group_alive(pgid):
        if time.monotonic() > deadline:
            if killed:
                raise InfrastructureError(f"process group {pgid} ({proc.args[0]}) survived SIGKILL for {timeout:g} s")
            _signal_group(pgid, signal.SIGKILL)
            killed, deadline = True, time.monotonic() + timeout
        time.sleep(0.02)  # polling the kernel for group exit; there is no event for a non-child
    spawn.reaped(proc)
    return proc.returncode
