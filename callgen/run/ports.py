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
import tempfile
from dataclasses import dataclass
from pathlib import Path

from callgen.errors import InfrastructureError
from callgen.sut.ports import RUN_PORTS_FIRST, RUN_PORTS_LAST

BLOCK = 400
FIRST = RUN_PORTS_FIRST
LAST = RUN_PORTS_LAST  #: the Linux ephemeral range (32768-60999) is inside: we test-bind; helpers stay above LAST


def _lock_dir() -> Path:
    d = Path(os.environ.get("CALLGEN_PORT_LOCKS", Path(tempfile.gettempdir()) / "callgen-port-locks"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def port_is_free(port: int, address: str = "127.0.0.1") -> bool:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(family, kind) as s:
            try:
                s.bind((address, port))
            except OSError:
                return False
    return True


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

    def __enter__(self) -> "PortBlock":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: RTP ports of load runs: pjsua takes two new ports for every call and never wraps (its
#: command line has no port range), so a load run walks through ports below the blocks.
LOAD_REGION = (4000, FIRST)


def acquire_load_region(address: str = "127.0.0.1") -> PortBlock:
    """The load region on ``address``, for one load run at a time there (shares of a load
    on one machine run on loopback addresses of their own, e.g. 127.0.0.2 and 127.0.0.3)."""
    fd = os.open(_lock_dir() / f"load-region-{address}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise InfrastructureError(f"another load run holds the load port region {LOAD_REGION[0]}-{LOAD_REGION[1] - 1} "
                                  f"on {address}; one load run at a time per address") from None
    return PortBlock(LOAD_REGION[0], LOAD_REGION[1] - LOAD_REGION[0], fd)


def acquire_block(must_be_free: list[int] | None = None, address: str = "127.0.0.1", rng: random.Random | None = None) -> PortBlock:
    """Lock a block whose offsets ``must_be_free`` are bindable right now."""
    rng = rng or random.Random()
    bases = list(range(FIRST, LAST - BLOCK + 1, BLOCK))
    rng.shuffle(bases)
    lock_dir = _lock_dir()
    for base in bases:
        fd = os.open(lock_dir / f"{base}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if all(port_is_free(base + off, address) for off in (must_be_free or [])):
            return PortBlock(base, BLOCK, fd)
        os.close(fd)
    raise OSError("no free block of ports between %d and %d" % (FIRST, LAST))
