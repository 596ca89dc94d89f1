"""Auto ports are test-bound on each agent's own address (before: on 127.0.0.1 only, so a port
held on the agent's address, e.g. 127.0.0.9, gave "pjsua exited while waiting..." naming no port)."""

from __future__ import annotations

import re
import socket

import pytest

from callgen.run.ports import BLOCK, FIRST, LAST

SCENARIO = """\
name: on_nine
agents:
  alice:
    role: caller
    address: 127.0.0.9
  bob:
    role: callee
    address: 127.0.0.9
calls:
  - from: alice
    to: bob
    steps:
      - wait: confirmed
      - hangup: alice
"""


@pytest.fixture
def hold():
    socks = []

    def take(ports):
        for p in ports:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.9", p))
            socks.append(s)

    yield take
    for s in socks:
        s.close()


def test_a_port_held_on_the_agents_address_is_avoided(cli, write_yaml, tmp_path, hold, pjsua_bin):
    bases = list(range(FIRST, LAST - BLOCK + 1, BLOCK))
    hold(b for b in bases if b != bases[len(bases) // 2])  # alice's SIP port in every block but one
    r = cli("run", str(write_yaml(SCENARIO)), "-o", str(tmp_path / "out"))
    assert r.status == 0, r.out + r.err


def test_when_every_block_is_held_the_error_names_the_port(cli, write_yaml, tmp_path, hold, pjsua_bin):
    hold(b + 2 for b in range(FIRST, LAST - BLOCK + 1, BLOCK))  # bob's SIP port in every block
    r = cli("run", str(write_yaml(SCENARIO)), "-o", str(tmp_path / "out"))
    assert r.status == 3, r.out + r.err
    assert re.search(r"no block of ports free .*: 127\.0\.0\.9:\d+ \(udp\) is in use", r.out + r.err), r.out + r.err
