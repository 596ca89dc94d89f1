"""Fixtures for the SUT harness tests: pjsua agents that are always stopped and checked gone."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from callgen.pjsua.driver import PjsuaAgent, loopback_argv, stop_all
from callgen.pjsua.toolpaths import find_pjsua
from callgen.sut.ports import free_port_block

AgentFactory = Callable[..., PjsuaAgent]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def pjsua(tmp_path: Path) -> Iterator[AgentFactory]:
    """``pjsua(name, *args, sip_port=None)`` starts a loopback pjsua agent (UDP only, own free ports).

    On teardown every agent is stopped and its process must be gone.
    """
    agents: list[PjsuaAgent] = []
    pids: list[int] = []

    def start(name: str, *args: str, sip_port: int | None = None) -> PjsuaAgent:
        port = sip_port or free_port_block(1)
        argv = loopback_argv(find_pjsua(), f"--local-port={port}", f"--rtp-port={free_port_block(4)}", "--no-tcp", *args)
        agent = PjsuaAgent(name, argv, tmp_path / f"{name}.out", cwd=tmp_path)
        agents.append(agent)
        agent.start()
        pids.append(agent.pid)
        return agent

    try:
        yield start
    finally:
        stop_all(agents)
    leftovers = [pid for pid in pids if not _gone(pid)]
    assert not leftovers, f"pjsua processes left behind: {leftovers}"
