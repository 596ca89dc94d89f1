"""callgen's pjsua patch 0007 (``--ipv6-only``) on a real pjsua: the SIP transport is an
IPv6 socket on ``::1`` at ``--local-port`` itself (a stock ``--ipv6`` adds 10 and keeps the
IPv4 transport, which cannot bind ``::1``), and the process holds no IPv4 socket.  Calls
over it (SDP ``c=IN IP6``, RTP on ::1) are in tests/integration/test_ipv6.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from callgen.pjsua.driver import PjsuaAgent, stop_all
from callgen.pjsua.toolpaths import find_pjsua
from callgen.sut.ports import free_port_block
from callgen.sut.sipp import owns_udp_socket

pytestmark = pytest.mark.integration


def _socket_inodes(pid: int) -> set[str]:
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


def _inodes_in(table: str) -> set[str]:
    with open(table, encoding="ascii") as f:
        next(f)
        return {cols[9] for cols in (line.split() for line in f) if len(cols) > 9}


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_ipv6_only_binds_local_port_on_ipv6_loopback_and_nothing_ipv4(tmp_path: Path, transport):
    port = free_port_block(2, "::1")
    argv = [find_pjsua(), "--ipv6-only", "--ip-addr=::1", "--bound-addr=::1", "--null-audio",
            f"--local-port={port}", f"--rtp-port={free_port_block(4, '::1')}",
            "--no-tcp" if transport == "udp" else "--no-udp"]
    agent = PjsuaAgent("v6", argv, tmp_path / "v6.out", cwd=tmp_path)
    try:
        agent.start()
        mine = _socket_inodes(agent.pid)
        if transport == "udp":
            assert owns_udp_socket(agent.pid, "::1", port)
            assert not owns_udp_socket(agent.pid, "::1", port + 10)
        else:
            with open("/proc/net/tcp6", encoding="ascii") as f:
                listening = {line.split()[1] for line in f if line.split()[3:4] == ["0A"]}
            assert f"00000000000000000000000001000000:{port:04X}" in listening
        v4 = _inodes_in("/proc/net/udp") | _inodes_in("/proc/net/tcp")
        assert not (mine & v4), "pjsua --ipv6-only holds an IPv4 socket"
    finally:
        stop_all([agent])
