"""Free port blocks for runs that may overlap on one machine.

Each run takes a block of ``BLOCK`` consecutive ports, held by an exclusive
``flock`` on a per-block lock file for as long as the run lasts, so two
callgen processes (or two -j workers) never pick the same ports; the ports
of the block that agents will bind are also test-bound before use, so a
port taken by some other program makes us move to the next block.
"""

from __future__ import annotations

import fcntl
import os
import random
import socket
from dataclasses import dataclass

from callgen.analysis.ipaddr import endpoint
from callgen.errors import InfrastructureError
from callgen.sut.ports import RUN_PORTS_FIRST, RUN_PORTS_LAST
from callgen.sut.ports import lock_dir as _lock_dir
from callgen.sut.ports import open_lock as _open_lock

BLOCK = 400
FIRST = RUN_PORTS_FIRST
LAST = RUN_PORTS_LAST  #: the Linux ephemeral range (32768-60999) is inside: we test-bind; helpers stay above LAST


def port_is_free(port: int, address: str = "127.0.0.1") -> bool:
    return port_problem(port, address) is None


def port_problem(port: int, address: str = "127.0.0.1") -> str | None:
    """Why ``address:port`` cannot be bound for UDP and TCP right now, or None."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    for kind, proto in ((socket.SOCK_DGRAM, "udp"), (socket.SOCK_STREAM, "tcp")):
        with socket.socket(family, kind) as s:
            try:
                s.bind((address, port))
            except OSError as exc:
                return f"{endpoint(address, port)} ({proto}) is in use ({exc.strerror})"
    return None


@dataclass
class PortBlock:
    """A locked block [base, base+BLOCK).  Release with ``close()``."""

    base: int
    size: int
    _fd: int

    @property
    def last(self) -> int:
        return self.base + self.size - 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing drops the flock
            self._fd = -1

    def __enter__(self) -> PortBlock:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: RTP ports of load runs: pjsua takes two new ports for every call and never wraps (its
#: command line has no port range), so a load run walks through ports below the blocks.
LOAD_REGION = (4000, FIRST)


def acquire_load_region(address: str = "127.0.0.1") -> PortBlock:
    """The load region on ``address``, for one load run at a time there (shares of a load
    on one machine run on loopback addresses of their own, e.g. 127.0.0.2 and 127.0.0.3)."""
    fd = _open_lock(_lock_dir() / f"load-region-{address}.lock")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise InfrastructureError(f"another load run holds the load port region {LOAD_REGION[0]}-{LOAD_REGION[1] - 1} "
                                  f"on {address}; one load run at a time per address") from None
    return PortBlock(LOAD_REGION[0], LOAD_REGION[1] - LOAD_REGION[0], fd)


def acquire_block(must_be_free: list[int | tuple[int, str]] | None = None, address: str = "127.0.0.1",
                  rng: random.Random | None = None) -> PortBlock:
    """Lock a block whose offsets ``must_be_free`` are bindable right now: an offset alone on
    ``address``, an ``(offset, address)`` pair on its own address (each agent binds its own)."""
    rng = rng or random.Random()
    bases = list(range(FIRST, LAST - BLOCK + 1, BLOCK))
    rng.shuffle(bases)
    lock_dir = _lock_dir()
    wanted = [(w, address) if isinstance(w, int) else w for w in (must_be_free or [])]
    first_problem = ""
    for base in bases:
        fd = _open_lock(lock_dir / f"{base}.lock")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        problem = next((p for off, addr in wanted if (p := port_problem(base + off, addr))), None)
        if problem is None:
            return PortBlock(base, BLOCK, fd)
        first_problem = first_problem or problem
        os.close(fd)
    why = f": {first_problem}, and a port of every other block is held too" if first_problem else \
        " (every block is locked by other callgen runs)"
    raise InfrastructureError(f"no block of ports free between {FIRST} and {LAST}{why}")
