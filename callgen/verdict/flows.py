"""Who the ladder's lanes are and which REGISTER transactions it draws.

Besides the agents, a lane is named after the scenario's target it belongs to (callgen's
own Kamailio is ``KAMAILIO``, not a bare address), and every registering agent's REGISTER
transactions are drawn as flows of their own (``summary.register_flows``), found the way
``checks.registration_checks`` finds them.
"""

from __future__ import annotations

import re
from typing import Any

from callgen.analysis import CaptureAnalysis
from callgen.analysis.ipaddr import canonical_ip
from callgen.run.evidence import Evidence
from callgen.scenario.model import Scenario, Transport
from callgen.verdict.ladder import AgentAddress, CallInfo, build_flows
from callgen.verdict.media import host_port

_HOST_PORT = re.compile(r"^(?:sips?:)?(?:[^@;]*@)?(\[[0-9A-Fa-f:.]+\]|[0-9.]+|[A-Za-z0-9.-]+):(\d{1,5})(?:;.*)?$")


def target_endpoint(value: str) -> tuple[str, int] | None:
    """("127.0.0.1", 5070) for a target bound to ``127.0.0.1:5070`` (or ``sip:...``), else None."""
    m = _HOST_PORT.match(value.strip())
    if not m or not 0 < int(m[2]) < 65536:
        return None
    return canonical_ip(m[1].strip("[]")), int(m[2])  # "[0::1]" is the lane of an agent on ::1


def lane_parties(scenario: Scenario, evidence: Evidence) -> list[AgentAddress]:
    """The agents, then each target at its address and port, named after the target."""
    tls = {a.name for a in scenario.agents if a.transport is Transport.TLS}
    lanes = [AgentAddress(a.name, a.address, a.sip_port, a.sip_port + 1 if a.name in tls else 0) for a in evidence.agents]
    taken = {(a.address, a.sip_port) for a in lanes}
    for name, value in scenario.resolved_targets:
        end = target_endpoint(str(value))
        if end is not None and end not in taken:
            lanes.append(AgentAddress(name, *end))
            taken.add(end)
    return lanes


def register_flows(scenario: Scenario, evidence: Evidence, analysis: CaptureAnalysis,
                   lanes: list[AgentAddress]) -> list[dict[str, Any]]:
    """The JSON form of each registering agent's REGISTER transactions (one flow per Call-ID)."""
    infos = []
    for agent in scenario.agents:
        if agent.register is None or agent.name not in {a.name for a in evidence.agents}:
            continue
        ag = evidence.agent(agent.name)
        mine = {host_port(ag.address, ag.sip_port + k) for k in (0, 1)}
        dialogs = [d for d in analysis.dialogs if any(m.method == "REGISTER" and m.src in mine for m in d.messages)]
        for i, d in enumerate(dialogs, 1):
            name = f"register.{agent.name}" + (f".{i}" if len(dialogs) > 1 else "")
            infos.append((CallInfo(name, agent.name, agent.register.registrar), d))
    return build_flows(infos, lanes)
