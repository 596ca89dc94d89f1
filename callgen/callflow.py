"""Executing one call's steps on the pjsua agents (the runner's inner loop).

Step failures that are about the call (it was rejected while we waited for
CONFIRMED) are recorded as ``StepOutcome(ok=False)`` and end the call's steps;
they become failed checks.  Problems of the machinery (pjsua died) raise.
"""

from __future__ import annotations

import time
from typing import Callable

from callgen import pjsua_patterns as pp
from callgen.driver import AgentEvent, EventKind, PjsuaAgent
from callgen.errors import AgentTimeout, InfrastructureError
from callgen.evidence import StepOutcome
from callgen.model import CallState, HangupStep, PauseStep, WaitStep
from callgen.plan import CallPlan


class ScenarioTimeout(InfrastructureError):
    """The scenario's own 'timeout' ran out."""


class Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def bound(self, timeout: float, what: str) -> float:
        left = self.left()
        if left <= 0:
            raise ScenarioTimeout(f"the scenario timeout ({self.seconds:g} s) ran out before {what}")
        return min(timeout, left)


def _is_call(ev: AgentEvent, call_id: int) -> bool:
    return ev.call == call_id and ev.kind in (EventKind.CALL_STATE, EventKind.DISCONNECTED)


def state_predicate(state: CallState, call_id: int) -> Callable[[AgentEvent], bool]:
    def pred(ev: AgentEvent) -> bool:
        if not _is_call(ev, call_id):
            return False
        if state is CallState.DISCONNECTED:
            return ev.kind is EventKind.DISCONNECTED
        if state is CallState.CONFIRMED:
            return ev.state == pp.STATE_CONFIRMED
        if state is CallState.EARLY:
            return ev.state == pp.STATE_EARLY
        return ev.state == pp.STATE_EARLY and ev.code in (180, 183)  # RINGING

    return pred


class CallRun:
    """One call between driver objects; records every step's outcome."""

    def __init__(self, plan: CallPlan, agents: dict[str, PjsuaAgent], deadline: Deadline, outcomes: list[StepOutcome]):
        self.plan = plan
        self.call = plan.call
        self.agents = agents
        self.deadline = deadline
        self.outcomes = outcomes
        self.caller = agents[self.call.caller]
        self.call_id: int | None = None
        self.since = 0

    def _record(self, step: int, action: str, ok: bool, detail: str) -> None:
        self.outcomes.append(StepOutcome(self.call.index, step, action, ok, detail, time.time()))

    def disconnected(self) -> AgentEvent | None:
        ended = state_predicate(CallState.DISCONNECTED, self.call_id)
        return next((ev for ev in self.caller.events()[self.since :] if ended(ev)), None)

    def execute(self) -> None:
        self.since = self.caller.mark()
        t0 = time.monotonic()
        self.call_id = self.caller.make_call(self.plan.uri, timeout=self.deadline.bound(5.0, f"dialling {self.plan.uri}"))
        self._record(-1, f"dial {self.plan.uri}", True, f"pjsua call {self.call_id} after {time.monotonic() - t0:.3f} s")
        for i, step in enumerate(self.call.steps):
            if not self._step(i, step):
                break
        self._ensure_ended()

    def _step(self, i: int, step) -> bool:
        if isinstance(step, WaitStep):
            return self._wait(i, step)
        if isinstance(step, PauseStep):
            return self._pause(i, step)
        if isinstance(step, HangupStep):
            return self._hangup(i, step)
        raise TypeError(step)

    def _wait(self, i: int, step: WaitStep) -> bool:
        action = f"wait {step.state.value}"
        want = state_predicate(step.state, self.call_id)
        ended = state_predicate(CallState.DISCONNECTED, self.call_id)
        t0 = time.monotonic()
        timeout = self.deadline.bound(step.timeout, action)
        try:
            ev = self.caller.wait_for(lambda e: want(e) or ended(e), f"call {self.call.index} to be {step.state.value}", timeout, since=self.since)
        except AgentTimeout as exc:
            if self.deadline.left() <= 0:
                raise ScenarioTimeout(f"the scenario timeout ({self.deadline.seconds:g} s) ran out during {action}") from None
            self._record(i, action, False, str(exc))
            return False
        took = time.monotonic() - t0
        if want(ev):
            detail = f"{ev.state}" + (f" ({ev.code} {ev.reason})" if ev.code else "") + f" after {took:.3f} s"
            self._record(i, action, True, detail)
            return True
        self._record(i, action, False, f"the call ended with {ev.code} {ev.reason} instead")
        return False

    def _pause(self, i: int, step: PauseStep) -> bool:
        action = f"pause {step.seconds:g}"
        ended = state_predicate(CallState.DISCONNECTED, self.call_id)
        if self.deadline.left() < step.seconds:
            raise ScenarioTimeout(f"the scenario timeout ({self.deadline.seconds:g} s) is shorter than {action}")
        try:  # the pause is the scenario's own duration; an early hang-up ends it
            ev = self.caller.wait_for(ended, "the pause", step.seconds, since=self.since)
        except AgentTimeout:
            self._record(i, action, True, "call still up")
            return True
        self._record(i, action, False, f"the call ended during the pause ({ev.code} {ev.reason})")
        return False

    def _hangup(self, i: int, step: HangupStep) -> bool:
        agent = self.agents[step.by]
        action = f"hangup by {step.by}"
        if self.disconnected() is not None:
            self._record(i, action, False, "the call had already ended")
            return False
        agent.hangup()
        self._record(i, action, True, "hangup sent")
        return True

    def _ensure_ended(self) -> None:
        """Leave no call up between calls: hang up what is left, wait for the end."""
        if self.disconnected() is not None:
            return
        self.caller.hangup_all()
        try:
            self.caller.wait_for(state_predicate(CallState.DISCONNECTED, self.call_id), "the call to end", self.deadline.bound(5.0, "ending the call"), since=self.since)
        except AgentTimeout:
            self._record(len(self.call.steps), "end of call", False, "the call did not end within 5 s of hanging up")
