"""What a run leaves behind for analysis: the capture, the agents' logs and
what each pjsua said, and what the runner did (step outcomes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from callgen.capture import CaptureStats
from callgen.driver import AgentEvent
from callgen.model import Scenario


@dataclass(frozen=True)
class StepOutcome:
    call: int  #: index of the call in the scenario
    step: int  #: index of the step in the call (-1: placing the call)
    action: str  #: "wait confirmed", "pause 2", "hangup by bob", "dial sip:..."
    ok: bool
    detail: str  #: what happened, e.g. "CONFIRMED after 0.01 s" or "call ended with 486 Busy Here"
    time: float


@dataclass(frozen=True)
class AgentEvidence:
    name: str
    sip_port: int
    address: str
    log_path: Path
    transcript_path: Path
    config_path: Path
    events: tuple[AgentEvent, ...]
    exit_status: int | None
    kind: str = "pjsua"  #: "pjsua" or "sipp"
    died: bool = False  #: the process ended before callgen stopped it

    def problem(self) -> str:
        """Why this agent's part of the run cannot be trusted ("" when it ran to the end)."""
        if not self.died:
            return ""
        st = self.exit_status
        how = f"killed by signal {-st}" if st is not None and st < 0 else f"exit status {st}"
        return f"agent {self.name}: {self.kind} died during the run ({how})"


@dataclass(frozen=True)
class Evidence:
    run_dir: Path
    pcap_path: Path
    capture: CaptureStats
    agents: tuple[AgentEvidence, ...]
    steps: tuple[StepOutcome, ...]
    started: float
    finished: float
    error: str = ""  #: set when the run did not complete
    #: the scenario as it ran: bound to the addresses of the local systems started for
    #: the run (a local Kamailio's real port), which the file alone does not know
    scenario: Scenario | None = None

    def agent(self, name: str) -> AgentEvidence:
        return next(a for a in self.agents if a.name == name)
