"""The step seam: every kind of call step, declared once.

A step kind is one ``StepType``: the action key the schema gives it
(``schemas/scenario.schema.json``, ``$defs.step``), the frozen model class it
becomes (``callgen.scenario.model``), the parser from the checked YAML mapping
to that class, and its doc line.  The loader parses every step through
``parse_step``; nothing here knows how a step runs or is judged.

The upper layers keep their own table keyed by the model class (the scenario
layer cannot import them): ``callgen.run.callflow.STEP_RUNNERS`` (how the step
is played against the agents) and ``callgen.verdict.checks.STEP_CHECKS`` (the
checks the step adds).  ``tests/core/test_step_seam.py`` fails when a step kind
of the schema lacks an entry here or in any of those tables, and the reverse.

Adding a step: its schema fragment in ``$defs.step``, its model class (and the
``Step`` union) in ``model.py``, one ``StepType`` below, one runner in
``STEP_RUNNERS`` and one entry in ``STEP_CHECKS`` (``_no_checks`` when the step
adds none); ``docs/architecture.md`` has the recipe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from callgen.scenario.model import (
    CallState,
    DtmfMethod,
    DtmfStep,
    HangupStep,
    HoldStep,
    PauseStep,
    Step,
    TransferStep,
    WaitStep,
)
from callgen.scenario.yamlsrc import SourceMap

DEFAULT_WAIT_TIMEOUT = 10.0


@dataclass(frozen=True)
class StepSource:
    """Where a step stands: its key path (for error lines), the call's caller and parties."""

    path: tuple
    caller: str
    parties: frozenset[str]
    smap: SourceMap

    def party(self, key: str | tuple[str, ...], name: str) -> str:
        """``name`` must be a party of the call; the error points at ``key`` (or key path) of this step."""
        if name not in self.parties:
            raise self.smap.error(self.path + (key if isinstance(key, tuple) else (key,)),
                                  f"'{name}' is not a party of this call ({', '.join(sorted(self.parties))})")
        return name

    def by(self, key: str, value: Any) -> str:
        """``hangup: true`` / ``hold: true`` mean the caller; a name must be a party."""
        return self.party(key, self.caller if value is True else value)


@dataclass(frozen=True)
class StepType:
    key: str  #: the action key in the schema (``wait``, ``hold``, ...)
    model: type  #: the frozen class in ``callgen.scenario.model`` it parses into
    parse: Callable[[Mapping[str, Any], StepSource], Step]
    doc: str  #: one line: what the step does


def _wait(spec: Mapping[str, Any], src: StepSource) -> WaitStep:
    return WaitStep(CallState(spec["wait"]), float(spec.get("timeout", DEFAULT_WAIT_TIMEOUT)))


def _pause(spec: Mapping[str, Any], src: StepSource) -> PauseStep:
    return PauseStep(float(spec["pause"]))


def _hangup(spec: Mapping[str, Any], src: StepSource) -> HangupStep:
    return HangupStep(src.by("hangup", spec["hangup"]))


def _dtmf(spec: Mapping[str, Any], src: StepSource) -> DtmfStep:
    by = src.party("by", spec.get("by", src.caller))
    return DtmfStep(spec["dtmf"].upper(), DtmfMethod(spec.get("method", "rfc2833")), int(spec.get("pause_ms", 500)), by)


def _hold(spec: Mapping[str, Any], src: StepSource) -> HoldStep:
    return HoldStep(src.by("hold", spec["hold"]))


def _unhold(spec: Mapping[str, Any], src: StepSource) -> HoldStep:
    return HoldStep(src.by("unhold", spec["unhold"]), release=True)


def _transfer(spec: Mapping[str, Any], src: StepSource) -> TransferStep:
    t = spec["transfer"]
    return TransferStep(src.party(("transfer", "by"), t["by"]), t["to"], bool(t.get("attended", False)))


#: every step kind, in the order the schema lists them
STEP_TYPES: tuple[StepType, ...] = (
    StepType("wait", WaitStep, _wait, "wait (bounded) until the caller's call reaches a state"),
    StepType("pause", PauseStep, _pause, "let the call run for a number of seconds"),
    StepType("hangup", HangupStep, _hangup, "hang up (CANCEL before the answer, BYE after it)"),
    StepType("dtmf", DtmfStep, _dtmf, "send DTMF digits (RFC 2833 or SIP INFO)"),
    StepType("hold", HoldStep, _hold, "put the call on hold (re-INVITE a=sendonly)"),
    StepType("unhold", HoldStep, _unhold, "take the call off hold (re-INVITE a=sendrecv)"),
    StepType("transfer", TransferStep, _transfer, "transfer: a party REFERs the other party to another callee "
             "(blind, or attended: after a consultation call, with Replaces)"),
)
BY_KEY: Mapping[str, StepType] = {t.key: t for t in STEP_TYPES}
#: the model classes, each once: what the run and verdict tables are keyed by
STEP_MODELS: tuple[type, ...] = tuple(dict.fromkeys(t.model for t in STEP_TYPES))


def step_key(spec: Mapping[str, Any]) -> str:
    """The action key of a schema-checked step (the schema allows exactly one)."""
    return next(k for k in spec if k in BY_KEY)


def parse_step(spec: Mapping[str, Any], src: StepSource) -> Step:
    return BY_KEY[step_key(spec)].parse(spec, src)
