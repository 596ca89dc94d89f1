"""SIGTERM and SIGHUP handling and shielding of clean-up from a second Ctrl-C.

SIGHUP (the terminal or the SSH session went away) is handled like SIGINT and
SIGTERM: an orderly stop, reports written, exit 130.  What callgen cannot handle
(SIGKILL) is covered by ``callgen.spawn``'s watchdog: no child outlives callgen."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

#: the signals that stop a run in order (exit 130, reports kept)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _raise_interrupt(signum, frame):  # noqa: ARG001 - signal handler signature
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM and SIGHUP behave like Ctrl-C (KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, _raise_interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def interrupt_once() -> Iterator[None]:
    """Within the block the first SIGINT, SIGTERM or SIGHUP raises KeyboardInterrupt; every
    later one is ignored until the block ends.  A first Ctrl-C starts an orderly
    stop (runs clean up, reports are written); Ctrl-C pressed again, or a SIGTERM
    that follows it, cannot cut that short and leave a capture tool running or the
    reports unwritten.  The stop is bounded by the runner's own timeouts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = STOP_SIGNALS

    def first(signum, frame):  # noqa: ARG001 - signal handler signature
        for s in signals:
            signal.signal(s, signal.SIG_IGN)
        raise KeyboardInterrupt(f"signal {signum}")

    old = {s: signal.signal(s, first) for s in signals}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM/SIGHUP while cleaning up, so a second Ctrl-C cannot
    leave pjsua or tcpdump behind; restores the handlers afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, signal.SIG_IGN) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
