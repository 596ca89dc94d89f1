"""When stopping may overlap the capture's settle with pjsua's own shutdown: only
when stopping sends no packet (pjsua agents on UDP, no registration, no proxy, no
SIPp, no call still up), and an agent's live calls follow pjsua's call events."""

from __future__ import annotations

from pathlib import Path

import pytest

from callgen.pjsua.driver import PjsuaAgent
from callgen.run.plan import plan_run
from callgen.run.runner import _quiet_shutdown
from callgen.scenario.loader import load_scenario
from callgen.scenario.model import TlsFiles

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


class IdleAgent:
    """What _quiet_shutdown asks of a started agent."""

    def __init__(self, live: set[int] = frozenset()):
        self.pid = 4242
        self._live = set(live)

    def live_calls(self) -> set[int]:
        return self._live


def plan_for(name: str, tmp_path: Path):
    s = load_scenario(SCENARIOS / f"{name}.yaml", environ={"KAMAILIO": "127.0.0.1:5060", "SIP_PASSWORD": "x"})
    tls = TlsFiles(tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem") if s.uses_tls else None
    return plan_run(s, tmp_path, 20000, 400, tls=tls)


def test_idle_udp_agents_stop_quietly(tmp_path):
    plan = plan_for("basic_call", tmp_path)
    assert _quiet_shutdown(plan, {ap.name: IdleAgent() for ap in plan.agents}, {})


def test_a_call_still_up_is_not_quiet(tmp_path):
    plan = plan_for("basic_call", tmp_path)
    agents = {ap.name: IdleAgent() for ap in plan.agents}
    agents["bob"] = IdleAgent({0})  # pjsua hangs it up as it quits: a BYE
    assert not _quiet_shutdown(plan, agents, {})


def test_an_agent_that_never_started_is_not_counted_quiet(tmp_path):
    plan = plan_for("basic_call", tmp_path)
    agents = {ap.name: IdleAgent() for ap in plan.agents}
    del agents["bob"]
    assert not _quiet_shutdown(plan, agents, {})


@pytest.mark.parametrize("name", ["tcp_transport", "register_and_call", "srtp_tls", "interop_sipp_uas"])
def test_transports_registrations_and_sipp_are_not_quiet(name, tmp_path):
    plan = plan_for(name, tmp_path)
    agents = {ap.name: IdleAgent() for ap in plan.agents if ap.agent.is_pjsua}
    assert not _quiet_shutdown(plan, agents, {})


def test_live_calls_follow_call_events_in_order(tmp_path):
    agent = PjsuaAgent("a", ["pjsua"], tmp_path / "t.txt")
    agent._ingest(["Call 0 state changed to CALLING", "Call 0 state changed to CONFIRMED (200 OK)"])
    assert agent.live_calls() == {0}
    agent._ingest(["Call 0 is DISCONNECTED [reason=200 (Normal call clearing)]"])
    assert agent.live_calls() == set()
    agent._ingest(["Call 0 state changed to EARLY (180 Ringing)", "Call 1 state changed to CALLING"])
    assert agent.live_calls() == {0, 1}  # pjsua reuses ids: the second call 0 is up again
    agent._ingest(["Call 0 state changed to DISCONNCTD (487 Request Terminated)"])
    assert agent.live_calls() == {1}


class StartingAgent:
    def __init__(self, fail: Exception | None = None):
        self.fail = fail
        self.started = False

    def start(self, timeout: float) -> None:
        self.started = True
        if self.fail is not None:
            raise self.fail


def test_agents_start_together_and_the_first_failure_is_raised_after_all_tried():
    from callgen.errors import InfrastructureError, Interrupted
    from callgen.run.callflow import Deadline
    from callgen.run.runner import _start_agents

    agents = {"alice": StartingAgent(InfrastructureError("alice: port in use")), "bob": StartingAgent(),
              "carol": StartingAgent(Interrupted("cancelled"))}
    with pytest.raises(Interrupted):  # an interrupt wins over any other error
        _start_agents(agents, Deadline(30))
    assert all(a.started for a in agents.values())  # every one was tried, so each is stopped after
    agents = {"alice": StartingAgent(), "bob": StartingAgent(InfrastructureError("bob: no pjsua"))}
    with pytest.raises(InfrastructureError, match="bob: no pjsua"):
        _start_agents(agents, Deadline(30))
