"""Fixtures for the SUT harness tests: pjsua peers that are always closed and checked gone."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

import pytest

from callgen.sut.pjsua_peer import PjsuaPeer, close_all
from callgen.sut.ports import free_port_block

PeerFactory = Callable[..., PjsuaPeer]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def pjsua(tmp_path: Path) -> Iterator[PeerFactory]:
    """``pjsua(name, *args, sip_port=None)`` starts a loopback pjsua (UDP only, own free ports).

    On teardown every peer is closed and its process must be gone.
    """
    peers: list[PjsuaPeer] = []
    pids: list[int] = []

    def start(name: str, *args: str, sip_port: int | None = None) -> PjsuaPeer:
        port = sip_port or free_port_block(1)
        peer = PjsuaPeer(name, [f"--rtp-port={free_port_block(4)}", "--no-tcp", *args], tmp_path, sip_port=port)
        peers.append(peer)
        peer.start()
        pids.append(peer.pid)
        return peer

    try:
        yield start
    finally:
        close_all(peers)
    leftovers = [pid for pid in pids if not _gone(pid)]
    assert not leftovers, f"pjsua processes left behind: {leftovers}"
