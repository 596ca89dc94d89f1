"""Free loopback ports, found by asking the kernel (bind to port 0), never guessed.

Other engineers' tests and agents run on the same machine at the same time, so a
fixed port (5060, pjsua's RTP default 4000) collides sooner or later.  Binding
to port 0 cannot rule out a race with another process grabbing the port before
our child does, but it removes every collision with ports already in use.
"""

from __future__ import annotations

import socket

from callgen.errors import InfrastructureError

LOOPBACK = "127.0.0.1"


def _is_free(port: int, host: str) -> bool:
    """Both UDP and TCP free: SIP listens on UDP and TCP/TLS on related ports."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def free_port(host: str = LOOPBACK) -> int:
    """One port free for both UDP and TCP on ``host``."""
    return free_port_block(1, host)


def free_port_block(count: int, host: str = LOOPBACK, attempts: int = 50) -> int:
    """First port of ``count`` consecutive ports free for UDP and TCP.

    pjsua needs blocks: its TLS listener is the SIP port + 1, and RTP/RTCP take
    two ports per call from ``--rtp-port`` upwards.
    """
    if count < 1:
        raise ValueError("count must be >= 1")
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((host, 0))
            base = s.getsockname()[1]
        if base + count > 65535:
            continue
        if all(_is_free(p, host) for p in range(base, base + count)):
            return base
    raise InfrastructureError(f"no block of {count} free ports on {host} after {attempts} attempts")
