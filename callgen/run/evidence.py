"""What a run leaves behind for analysis: the capture, the agents' logs and
what each pjsua said, and what the runner did (step outcomes)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from callgen.pjsua.driver import AgentEvent
from callgen.run.capture import CaptureStats
from callgen.scenario.model import Scenario


class StepKind(str, enum.Enum):
    """What a recorded outcome was about: each kind becomes one named check."""

    REGISTER = "register"  #: an agent's registration, before the calls
    DIAL = "dial"  #: the caller placing the call (no check of its own: the capture proves the INVITE)
    ANSWER = "answer"  #: a ringing callee answering later
    STEP = "step"  #: one of the call's scenario steps
    AUDIO = "audio"  #: wiring the caller's player/recorder once the call is confirmed
    END = "end"  #: making sure the call ended before the next one
    SIPP_CALL = "sipp_call"  #: a call placed by a SIPp uac
    SIPP_UAS = "sipp_uas"  #: a SIPp uas's own verdict on the calls it answered


@dataclass(frozen=True)
class StepOutcome:
    """What the runner did and how it went, e.g. "wait confirmed": "CONFIRMED after 0.01 s"."""

    kind: StepKind
    action: str  #: "wait confirmed", "pause 2", "hangup by bob", "dial sip:..."
    ok: bool
    detail: str  #: what happened, e.g. "CONFIRMED after 0.01 s" or "call ended with 486 Busy Here"
    time: float
    call: int | None = None  #: index of the call in the scenario (None: not about one call)
    step: int | None = None  #: index of the step in the call's steps
    agent: str | None = None  #: the agent that acted

    @property
    def check_name(self) -> str | None:
        """The check this outcome becomes; None for outcomes that are no check of their own."""
        call = f"call{self.call + 1}" if self.call is not None else ""
        step = f"{call}.step{(self.step or 0) + 1}"
        return {
            StepKind.REGISTER: f"register.{self.agent}",
            StepKind.SIPP_UAS: f"sipp.{self.agent}",
            StepKind.DIAL: None,
            StepKind.ANSWER: f"{call}.answer",
            StepKind.SIPP_CALL: f"{call}.sipp",
            StepKind.STEP: step,
            StepKind.AUDIO: f"{step}.connect",
            StepKind.END: f"{call}.end",
        }[self.kind]

    @property
    def source(self) -> str:
        """Who reported it: the evidence label of its check."""
        return "sipp" if self.kind in (StepKind.SIPP_CALL, StepKind.SIPP_UAS) else "pjsua"


@dataclass(frozen=True, slots=True)
class LoadCallRecord:
    """One call of a load run as the caller's pjsua saw it (the capture is the proof)."""

    index: int
    callee: str  #: agent name
    uri: str
    digits: str  #: its own DTMF digits ("" when the load sends none)
    placed: float  #: time.time() when callgen asked pjsua to place it
    pjsua_call: int | None  #: pjsua's call slot while it was up
    confirmed: float | None = None
    ended: float | None = None
    code: int | None = None  #: pjsua's final status (DISCONNECTED reason code)
    reason: str = ""
    dtmf_refused: str = ""  #: why pjsua would not send the digits ("" when it took them)
    problem: str = ""  #: what went wrong placing it
    hold_s: float | None = None  #: the hold drawn for it (callgen hangs it up that long after its answer)
    caller: str = ""  #: the caller's pjsua process that placed it (its agent name: ``alice``, ``alice-p2``...)

    def journal_row(self) -> dict:
        """The row ``calls.jsonl`` holds for this call while the run goes on (keys as the verdict's rows):
        pjsua's view only, ``unproven`` - at the end of the run the verdict replaces the file with the
        rows proven from the capture; a run killed midway leaves these."""
        setup = None if self.confirmed is None else round((self.confirmed - self.placed) * 1000, 3)
        held = None if self.confirmed is None or self.ended is None else round(self.ended - self.confirmed, 3)
        none = {"packets": 0, "loss_pct": None, "jitter_ms": None}
        return {
            "index": self.index, "callee": self.callee, "call_id": None, "invite_time": round(self.placed, 6),
            "final_code": self.code, "setup_ms": setup, "bye_time": None if self.ended is None else round(self.ended, 6),
            "duration_s": held, "ack": False, "bye_answered": False, "rtp_caller_to_callee": none,
            "rtp_callee_to_caller": none, "srtp_decrypted": False, "dtmf_sent": self.digits, "dtmf_seen": "",
            "pjsua_code": self.code, "hold_s": self.hold_s, "caller": self.caller, "placed_time": round(self.placed, 6),
            "verdict": "unproven",
            "why": [self.problem or "not checked against the capture: the run did not finish (pjsua's view only)"],
        }


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
    death: str = ""  #: how, where the agent said so (pjsua's crash handler: the signal and where its backtrace is)

    def problem(self) -> str:
        """Why this agent's part of the run cannot be trusted ("" when it ran to the end)."""
        if not self.died:
            return ""
        st = self.exit_status
        how = f"killed by signal {-st}" if st is not None and st < 0 else f"exit status {st}"
        return f"agent {self.name}: {self.kind} died during the run ({how}{': ' + self.death if self.death else ''})"


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
    load_calls: tuple[LoadCallRecord, ...] = ()  #: a load run's calls in the order they were placed
    #: a load run's prover (callgen.run.ring.CaptureProver, the verdict's ProverProcess): its calls proven file by file
    load_prover: object | None = field(default=None, compare=False, repr=False)

    def agent(self, name: str) -> AgentEvidence:
        return next(a for a in self.agents if a.name == name)
