"""callgen's watchdog: kills what callgen started when callgen ends, however it ends.

Run by ``callgen.spawn`` as ``python -I -S _watchdog.py`` with its stdin the read end
of a pipe whose only write end callgen holds.  callgen writes ``add N`` / ``del N``
lines (N > 0: one process; N < 0: the process group -N).  When callgen exits in any
way - SIGKILL included - the kernel closes the write end; the watchdog reads EOF,
sends SIGTERM to everything still registered, SIGKILL after GRACE_S to what is
left, and exits.  It runs in its own session and ignores SIGINT and SIGHUP, so the
signals a terminal sends to callgen's process group cannot end it first.

Standard library only and no import of callgen: it must start in milliseconds.
"""

from __future__ import annotations

import os
import signal
import sys
import time

GRACE_S = 2.0


def _send(target: int, sig: int) -> bool:
    """Signal a pid (> 0) or a group (< 0); False when nothing of it exists any more."""
    try:
        if target < 0:
            os.killpg(-target, sig)
        else:
            os.kill(target, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists but is not ours to signal any more (pid reused)
        return False
    return True


def _alive(target: int) -> bool:
    if target > 0:  # a zombie that only waits for its reaper is dead for this purpose
        try:
            with open(f"/proc/{target}/stat", "rb") as f:
                return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
        except (OSError, IndexError):
            return False
    return _send(target, 0)


def main() -> int:
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    targets: set[int] = set()
    for line in sys.stdin.buffer:
        op, _, arg = line.strip().partition(b" ")
        try:
            n = int(arg)
        except ValueError:
            continue
        if op == b"add":
            targets.add(n)
        elif op == b"del":
            targets.discard(n)
    # callgen is gone: nothing it started may outlive it
    live = [t for t in targets if _send(t, signal.SIGTERM)]
    deadline = time.monotonic() + GRACE_S
    while live and time.monotonic() < deadline:
        time.sleep(0.05)  # not our children: the kernel has no exit event for them
        live = [t for t in live if _alive(t)]
    for t in live:
        _send(t, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
