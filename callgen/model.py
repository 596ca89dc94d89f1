"""The validated, frozen scenario model.

Built by ``callgen.loader`` from a schema-valid document; everything after the
loader works on these types only (no raw dicts travel between layers).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from callgen.yamlsrc import SourceMap


class Role(str, enum.Enum):
    CALLER = "caller"
    CALLEE = "callee"


class CallState(str, enum.Enum):
    """States a step can wait for, in the order a call goes through them."""

    RINGING = "ringing"  #: a 180/183 arrived
    EARLY = "early"  #: any provisional response that creates an early dialog
    CONFIRMED = "confirmed"  #: answered and ACKed
    DISCONNECTED = "disconnected"  #: ended, by either side, or rejected


@dataclass(frozen=True)
class Agent:
    name: str
    role: Role
    user: str
    domain: str
    address: str
    port: int | None  #: None = choose a free port per run
    answer: int = 200
    display_name: str = ""
    codecs: tuple[str, ...] = ()

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.address


@dataclass(frozen=True)
class WaitStep:
    state: CallState
    timeout: float = 10.0


@dataclass(frozen=True)
class PauseStep:
    seconds: float


@dataclass(frozen=True)
class HangupStep:
    by: str  #: agent name


Step = Union[WaitStep, PauseStep, HangupStep]


@dataclass(frozen=True)
class CallExpect:
    final_code: int | None = None
    codec: str | None = None


@dataclass(frozen=True)
class Call:
    index: int
    caller: str  #: agent name
    callee: str | None  #: agent name, or None when ``uri`` names an outside party
    uri: str | None  #: explicit target URI (outside party)
    steps: tuple[Step, ...]
    expect: CallExpect


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    tags: tuple[str, ...]
    timeout: float
    agents: tuple[Agent, ...]
    calls: tuple[Call, ...]
    source: Path
    source_map: SourceMap = field(compare=False, repr=False, default_factory=lambda: SourceMap(file=""))

    def agent(self, name: str) -> Agent:
        for a in self.agents:
            if a.name == name:
                return a
        raise KeyError(name)

    @property
    def callers(self) -> tuple[Agent, ...]:
        return tuple(a for a in self.agents if a.role is Role.CALLER)

    @property
    def callees(self) -> tuple[Agent, ...]:
        return tuple(a for a in self.agents if a.role is Role.CALLEE)
