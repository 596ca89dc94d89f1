"""Free loopback ports for helpers (Kamailio, SIPp, test peers), test-bound, never fixed.

Other engineers' tests and agents run on the same machine at the same time, so a
fixed port (5060, pjsua's RTP default 4000) collides sooner or later.

Runs lock blocks of ports in [RUN_PORTS_FIRST, RUN_PORTS_LAST) (``callgen.run.ports``)
and bind their RTP ports only when their agents start, so a port that is free now
may belong to another run's locked block.  The kernel's ephemeral ports (bind to
port 0; 32768-60999 on Linux) fall inside those blocks, so helpers take theirs from
above them instead: random candidates in [RUN_PORTS_LAST, 65535], each one
test-bound for UDP and TCP.  A race with another process binding the same port
between the test and our child's bind remains possible, as with port 0.
"""

from __future__ import annotations

import random
import socket

from callgen.errors import InfrastructureError

LOOPBACK = "127.0.0.1"

#: the range runs lock their port blocks in (``callgen.run.ports``); helpers stay above it
RUN_PORTS_FIRST = 20000
RUN_PORTS_LAST = 60000


def _is_free(port: int, host: str) -> bool:
    """Both UDP and TCP free: SIP listens on UDP and TCP/TLS on related ports."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind) as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def free_port(host: str = LOOPBACK) -> int:
    """One port free for both UDP and TCP on ``host``."""
    return free_port_block(1, host)


def free_port_block(count: int, host: str = LOOPBACK, attempts: int = 50, *, also: tuple[str, ...] = ()) -> int:
    """First port of ``count`` consecutive ports free for UDP and TCP (on ``host`` and every ``also`` host).

    pjsua needs blocks: its TLS listener is the SIP port + 1, and RTP/RTCP take
    two ports per call from ``--rtp-port`` upwards.
    """
    if count < 1 or RUN_PORTS_LAST + count > 65536:
        raise ValueError(f"count must be between 1 and {65536 - RUN_PORTS_LAST}")
    rng = random.SystemRandom()
    for _ in range(attempts):
        base = rng.randrange(RUN_PORTS_LAST, 65536 - count + 1)
        if all(_is_free(p, h) for h in (host, *also) for p in range(base, base + count)):
            return base
    raise InfrastructureError(f"no block of {count} free ports on {host} above {RUN_PORTS_LAST} after {attempts} attempts")
