"""Helper ports are reserved while the helper runs, across threads and processes.

The defect (issue 23): a load through the local SBC saw its Kamailio stop relaying a few calls
in (2 of 24 INVITEs), about one run in six, and the normal SIGTERM of its stop at the end of
the run was read as the cause.  What happened: Kamailio's SIP port was picked "free now" from
the same range as rtpengine's media ranges, which rtpengine binds only when a call needs a port.
Once a relay (the SBC's own, or another run's) opened Kamailio's port for a call's media, both
sockets were bound (both set SO_REUSEADDR) and the relay, bound last, got every REGISTER and
INVITE sent to it.  Seen on this machine: bench_load's relay (``--port-min`` ... range holding
63852) took 127.0.0.1:63852 for a call 0.4 s after a test's Kamailio started listening there;
the test's REGISTERs to 63852 were never answered.
"""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import textwrap

import pytest

from callgen.sut import ports
from callgen.sut.kamailio import KamailioConfig, KamailioProcess
from callgen.sut.ports import free_port, free_port_block, reserve_ports


@pytest.fixture(autouse=True)
def _own_lock_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("CALLGEN_PORT_LOCKS", str(tmp_path / "locks"))


def _pick_first(monkeypatch, *ports_first: int) -> None:
    """The helpers' random pick proposes ``ports_first`` before any random port (the lottery made certain)."""
    queue = list(ports_first)
    real = random.SystemRandom.randrange

    def randrange(self, *args):
        return queue.pop(0) if queue else real(self, *args)

    monkeypatch.setattr(random.SystemRandom, "randrange", randrange)


def test_a_port_reserved_by_a_helper_is_given_to_no_other(monkeypatch):
    held = reserve_ports(8)
    try:
        inside = held.base + 3
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", inside))  # bindable now: only the reservation keeps it from others
        _pick_first(monkeypatch, inside, inside)
        assert free_port() != inside
        other = reserve_ports(1)
        assert other.base != inside
        other.close()
        _pick_first(monkeypatch, held.base - 2)  # a block of 4 that overlaps the reservation's first two ports
        assert free_port_block(4) != held.base - 2
    finally:
        held.close()
    _pick_first(monkeypatch, inside)
    assert free_port() == inside  # released: free again


def test_a_reservation_of_another_process_counts_until_that_process_ends(monkeypatch, tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys
        from callgen.sut.ports import reserve_ports
        r = reserve_ports(16)
        print(r.base, flush=True)
        sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        base = int(holder.stdout.readline())
        _pick_first(monkeypatch, base + 5, base + 5)
        got = reserve_ports(1)
        assert got.base != base + 5
        got.close()
    finally:
        holder.kill()  # ended hard: the kernel drops its lock, no clean-up needed
        holder.wait()
    _pick_first(monkeypatch, base + 5)
    assert free_port() == base + 5


@pytest.mark.tool("rtpengine")
def test_kamailio_never_gets_a_port_of_a_running_relays_media_range(monkeypatch, tmp_path):
    """Before: Kamailio's port was any port free at that moment, inside a relay's range included."""
    from callgen.sut.rtpengine import RtpengineConfig, RtpengineProcess

    relay = RtpengineProcess(RtpengineConfig(tmp_path / "relay", media_ports=64)).start()
    try:
        inside = relay.port_min + 10
        _pick_first(monkeypatch, inside, inside, inside)
        kam = KamailioProcess(KamailioConfig(tmp_path / "kam"))
        try:
            assert not relay.port_min <= kam.port <= relay.port_max, (kam.port, relay.port_min, relay.port_max)
        finally:
            kam.stop()
    finally:
        relay.stop()


def test_reservations_are_released_when_the_helper_stops(monkeypatch, tmp_path):
    kam = KamailioProcess(KamailioConfig(tmp_path / "kam"))
    port = kam.port
    kam.stop()  # never started: its reservation goes with it
    _pick_first(monkeypatch, port)
    assert ports.free_port() == port
