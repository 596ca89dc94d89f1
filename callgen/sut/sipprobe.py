"""A SIP OPTIONS probe over UDP: the readiness event for SIP servers we start.

Why: "the process started" is not "the server answers SIP".  A server is ready
when an OPTIONS sent to its socket gets a response; that is the event we wait
for (with retransmissions like SIP's timer E, and an overall timeout).
"""

from __future__ import annotations

import os
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProbeResult:
    """The first response to the probe."""

    status: int
    reason: str
    elapsed_s: float
    attempts: int


def _options(host: str, port: int, local_port: int, branch: str) -> bytes:
    call_id = f"{branch}@callgen-probe"
    host = f"[{host}]" if ":" in host else host
    return (
        f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {host}:{local_port};branch=z9hG4bK{branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@{host}>;tag={branch[:10]}\r\n"
        f"To: <sip:{host}:{port}>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Accept: application/sdp\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def parse_status_line(data: bytes) -> tuple[int, str] | None:
    """``(code, reason)`` of a SIP response, None for anything else."""
    line = data.split(b"\r\n", 1)[0].decode("utf-8", "replace")
    parts = line.split(" ", 2)
    if len(parts) >= 2 and parts[0] == "SIP/2.0" and parts[1].isdigit():
        return int(parts[1]), parts[2] if len(parts) > 2 else ""
    return None


def sip_options_probe(
    host: str,
    port: int,
    timeout: float,
    *,
    still_running: Callable[[], bool] = lambda: True,
    interval: float = 0.1,
) -> ProbeResult | None:
    """Send OPTIONS until a SIP response arrives; None on timeout or when ``still_running()`` turns false.

    The socket is bound to ``host`` so the probe stays on the loopback address.
    """
    start = time.monotonic()
    deadline = start + timeout
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        local_port = sock.getsockname()[1]
        branch = os.urandom(8).hex()
        message = _options(host, port, local_port, branch)
        attempts = 0
        while time.monotonic() < deadline and still_running():
            attempts += 1
            try:
                sock.sendto(message, (host, port))
            except OSError:
                pass  # an earlier ICMP "port unreachable" may surface here; just retransmit
            status = _await_final(sock, min(deadline, time.monotonic() + interval))
            if status:
                return ProbeResult(status[0], status[1], time.monotonic() - start, attempts)
    return None


def _await_final(sock: socket.socket, until: float) -> tuple[int, str] | None:
    """Read until ``until`` for a final (>= 200) response; provisional ones are ignored."""
    while (left := until - time.monotonic()) > 0:
        readable, _, _ = select.select([sock], [], [], left)
        if not readable:
            return None
        try:
            data = sock.recv(65535)
        except ConnectionRefusedError:
            # Nothing bound yet (ICMP port unreachable).  Pace the retransmission
            # rather than spin; this is the probe interval, not a synchronisation sleep.
            time.sleep(max(0.0, until - time.monotonic()))
            return None
        status = parse_status_line(data)
        if status and status[0] >= 200:
            return status
    return None
