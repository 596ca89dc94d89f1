"""The one way callgen starts a child process, so that none outlives callgen.

``popen(argv, ...)`` starts a child in its own session (its own process group, so
a stop reaches the workers a daemon forks) and registers the group with the
watchdog; ``watch(pid)``/``forget(pid)`` do the same for children started
elsewhere (pexpect's pjsua).  ``popen`` children are forgotten by ``reaped(proc)``
once callgen has stopped them.

The watchdog (``callgen/_watchdog.py``) is one small process per callgen process,
started with the first child.  Its stdin is a pipe whose only write end callgen
holds; when callgen ends in any way - SIGKILL, the OOM killer, a crash - the kernel
closes that end, and the watchdog SIGTERMs every group still registered, then
SIGKILLs what is left after 2 s.  Why not only ``PR_SET_PDEATHSIG``: the kernel
clears it when a child changes its user (tcpdump drops root to the ``tcpdump``
user) or executes a file with capabilities (dumpcap), it fires when the *thread*
that forked the child ends (suites start pjsua in worker threads), it reaches only
the direct child (not Kamailio's forked workers), and setting it needs a
``preexec_fn``, which Python documents as unsafe in a threaded program.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from callgen.errors import InfrastructureError

_WATCHDOG = Path(__file__).with_name("_watchdog.py")


class _Guard:
    """The watchdog process and the write end of its pipe (one per callgen process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._proc: subprocess.Popen | None = None
        self._pid = 0  #: the process that started the watchdog (a forked copy must start its own)

    def _ensure(self) -> int:
        if self._fd is not None and self._pid == os.getpid():
            return self._fd
        r, w = os.pipe()  # both ends close-on-exec: no other child inherits the write end
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(_WATCHDOG)], stdin=r, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
            )
        except OSError as exc:
            os.close(w)
            raise InfrastructureError(f"cannot start callgen's watchdog ({sys.executable}): {exc.strerror}") from None
        finally:
            os.close(r)
        self._fd, self._pid = w, os.getpid()
        atexit.register(self.close)
        return w

    def start(self) -> None:
        with self._lock:
            self._ensure()

    def tell(self, op: str, target: int) -> None:
        with self._lock:
            fd = self._ensure()
            try:
                os.write(fd, f"{op} {target}\n".encode())
            except OSError as exc:  # the watchdog is gone: a child could outlive callgen
                raise InfrastructureError(f"callgen's watchdog is gone ({exc.strerror})") from None

    def close(self, timeout: float = 5.0) -> None:
        """At a normal exit: close the pipe and wait for the watchdog to finish."""
        with self._lock:
            if self._fd is None or self._pid != os.getpid():
                return
            os.close(self._fd)
            self._fd = None
            proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None


_GUARD = _Guard()


def watch(pid: int, *, group: bool = True) -> None:
    """Kill ``pid`` (its process group with ``group``) if callgen ends before ``forget``."""
    _GUARD.tell("add", -pid if group else pid)


def forget(pid: int, *, group: bool = True) -> None:
    """``pid`` was stopped and reaped by callgen: the watchdog drops it."""
    try:
        _GUARD.tell("del", -pid if group else pid)
    except InfrastructureError:  # no watchdog: nothing to drop
        pass


def start_watchdog() -> None:
    """Start the watchdog now (``popen`` and ``watch`` do it themselves)."""
    _GUARD.start()


def watchdog_pid() -> int | None:
    """The watchdog's pid once a child was started (for tests)."""
    return _GUARD.pid


def popen(argv: Sequence[str], *, own_group: bool = True, **kwargs: Any) -> subprocess.Popen:
    """``subprocess.Popen`` in a new session (``own_group``), watched until ``reaped``.

    Without ``own_group`` the child stays in callgen's process group (a command the
    user runs, which should see the terminal's Ctrl-C) and only it is watched."""
    start_watchdog()  # first the watchdog: a child must never run unwatched
    proc = subprocess.Popen(list(argv), start_new_session=own_group, **kwargs)
    proc._callgen_group = own_group  # type: ignore[attr-defined]
    watch(proc.pid, group=own_group)
    return proc


def reaped(proc: subprocess.Popen) -> None:
    """``proc`` (from ``popen``) and its group are stopped: the watchdog may forget them."""
    forget(proc.pid, group=getattr(proc, "_callgen_group", True))
