"""Free loopback ports for helpers (Kamailio, rtpengine, SIPp, test peers), test-bound, never fixed.

Other engineers' tests and agents run on the same machine at the same time, so a
fixed port (5060, pjsua's RTP default 4000) collides sooner or later.

Runs lock blocks of ports in [RUN_PORTS_FIRST, RUN_PORTS_LAST) (``callgen.run.ports``)
and bind their RTP ports only when their agents start, so a port that is free now
may belong to another run's locked block.  The kernel's ephemeral ports (bind to
port 0; 32768-60999 on Linux) fall inside those blocks, so helpers take theirs from
above them instead: random candidates in [RUN_PORTS_LAST, 65535], each one
test-bound for UDP and TCP.

"Free now" is not enough above RUN_PORTS_LAST either: rtpengine is given a media range
(``--port-min``/``--port-max``) and binds a port of it only when a call needs one, with
SO_REUSEADDR (rtpengine mr10.5, lib/socket.c ``open_socket`` calls ``reuseaddr``, used for every
media port by daemon/media_socket.c) - as Kamailio binds its SIP socket.  Two UDP sockets that both set
SO_REUSEADDR may bind the same address and port, and the one bound last receives what is
sent there.  So a Kamailio whose port was picked inside a running rtpengine's range (its
own SBC's or another run's) answered until the relay opened that port for a call's media;
from then on its REGISTERs and INVITEs went to the relay and vanished (a load through the
local SBC saw 2 of 24 INVITEs relayed, about one run in six).  Helpers therefore *reserve*
their ports (``reserve_ports``) for as long as they run: an open-file-description lock
(``F_OFD_SETLK``) on the ports' bytes of one lock file per user, which every callgen
process and thread honours and the kernel drops when the holder ends, however it ends.
``free_port``/``free_port_block`` skip reserved ports too.  A race with a program that
is not callgen binding the same port between the test and our child's bind remains
possible, as with port 0.
"""

from __future__ import annotations

import fcntl
import os
import random
import socket
import stat
import struct
import tempfile
from pathlib import Path

from callgen.errors import InfrastructureError

LOOPBACK = "127.0.0.1"

#: the range runs lock their port blocks in (``callgen.run.ports``); helpers stay above it
RUN_PORTS_FIRST = 20000
RUN_PORTS_LAST = 60000

#: the file whose byte N stands for port N (any address: a reservation is per port number)
HELPER_LOCK_FILE = "helper-ports.lock"


def lock_dir() -> Path:
    """The user's own lock folder: ``$CALLGEN_PORT_LOCKS``, else ``$XDG_RUNTIME_DIR/callgen-port-locks``,
    else ``<tmp>/callgen-port-locks-<uid>``; created 0700, refused if it is a link or another user's
    (a shared, predictable /tmp folder let any user plant a link or hog the locks)."""
    explicit = os.environ.get("CALLGEN_PORT_LOCKS")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if explicit:
        d = Path(explicit)
    elif runtime and os.path.isabs(runtime) and os.path.isdir(runtime):
        d = Path(runtime) / "callgen-port-locks"
    else:
        d = Path(tempfile.gettempdir()) / f"callgen-port-locks-{os.getuid()}"
    try:
        d.mkdir(mode=0o700, parents=bool(explicit))
    except FileExistsError:
        pass
    except OSError as exc:
        raise InfrastructureError(f"port lock folder {d}: cannot create it: {exc.strerror}") from None
    st = os.lstat(d)
    if stat.S_ISLNK(st.st_mode):
        raise InfrastructureError(f"port lock folder {d}: is a symbolic link; callgen does not follow it (remove it)")
    if not stat.S_ISDIR(st.st_mode):
        raise InfrastructureError(f"port lock folder {d}: is not a folder (remove it)")
    if st.st_uid != os.getuid():
        raise InfrastructureError(f"port lock folder {d}: belongs to uid {st.st_uid}, not to you (uid {os.getuid()}); "
                                  "remove it or set CALLGEN_PORT_LOCKS to a folder of your own")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(d, 0o700)
    return d


def open_lock(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)


def _ofd_lock(fd: int, cmd: int, kind: int, base: int, count: int) -> int:
    """One ``fcntl`` on the byte range [base, base+count) of ``fd`` (struct flock; l_pid 0 as OFD locks want);
    returns the l_type the kernel gave back (F_GETLK: F_UNLCK when nothing would conflict)."""
    flock = struct.pack("hhqqi", kind, os.SEEK_SET, base, count, 0)
    return struct.unpack("hhqqi", fcntl.fcntl(fd, cmd, flock))[0]


class PortReservation:
    """Ports [base, base+count) held for one helper until ``close()`` (or the process's end)."""

    def __init__(self, base: int, count: int, fd: int):
        self.base, self.count, self._fd = base, count, fd

    @property
    def last(self) -> int:
        return self.base + self.count - 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the description drops its lock
            self._fd = -1

    def __del__(self) -> None:
        self.close()

    def __enter__(self) -> PortReservation:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _is_free(port: int, host: str) -> bool:
    """Both UDP and TCP free: SIP listens on UDP and TCP/TLS on related ports."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind) as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def _pick(count: int, host: str, attempts: int, also: tuple[str, ...], hold: bool) -> PortReservation | int:
    if count < 1 or RUN_PORTS_LAST + count > 65536:
        raise ValueError(f"count must be between 1 and {65536 - RUN_PORTS_LAST}")
    rng = random.SystemRandom()
    path = lock_dir() / HELPER_LOCK_FILE
    for _ in range(attempts):
        base = rng.randrange(RUN_PORTS_LAST, 65536 - count + 1)
        fd = open_lock(path)  # a description of our own: its lock conflicts with every other one, ours included
        try:
            if hold:
                try:
                    _ofd_lock(fd, fcntl.F_OFD_SETLK, fcntl.F_WRLCK, base, count)
                except (BlockingIOError, PermissionError):  # EAGAIN/EACCES: another helper holds part of it
                    continue
            elif _ofd_lock(fd, fcntl.F_OFD_GETLK, fcntl.F_WRLCK, base, count) != fcntl.F_UNLCK:
                continue
            if all(_is_free(p, h) for h in (host, *also) for p in range(base, base + count)):
                if hold:
                    reservation, fd = PortReservation(base, count, fd), -1
                    return reservation
                return base
        finally:
            if fd >= 0:
                os.close(fd)
    raise InfrastructureError(f"no block of {count} free ports on {host} above {RUN_PORTS_LAST} after {attempts} attempts")


def reserve_ports(count: int, host: str = LOOPBACK, attempts: int = 50, *, also: tuple[str, ...] = ()) -> PortReservation:
    """``count`` consecutive ports free for UDP and TCP on ``host`` (and every ``also`` host), reserved
    until the reservation is closed: no other callgen helper is given any of them meanwhile."""
    reservation = _pick(count, host, attempts, also, hold=True)
    assert isinstance(reservation, PortReservation)
    return reservation


def free_port(host: str = LOOPBACK) -> int:
    """One port free for both UDP and TCP on ``host``, not reserved by a helper (not held: see ``reserve_ports``)."""
    return free_port_block(1, host)


def free_port_block(count: int, host: str = LOOPBACK, attempts: int = 50, *, also: tuple[str, ...] = ()) -> int:
    """First port of ``count`` consecutive ports free for UDP and TCP (on ``host`` and every ``also`` host)
    and reserved by no helper; nothing holds them once returned (a helper that runs uses ``reserve_ports``).

    pjsua needs blocks: its TLS listener is the SIP port + 1, and RTP/RTCP take
    two ports per call from ``--rtp-port`` upwards.
    """
    base = _pick(count, host, attempts, also, hold=False)
    assert isinstance(base, int)
    return base
