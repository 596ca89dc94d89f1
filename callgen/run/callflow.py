"""Executing one call's steps on the pjsua agents (the runner's inner loop).

Step failures that are about the call (it was rejected while we waited for
CONFIRMED) are recorded as ``StepOutcome(ok=False)`` and end the call's steps;
they become failed checks.  Problems of the machinery (pjsua died) raise.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from callgen.errors import AgentTimeout, CallgenError, InfrastructureError
from callgen.pjsua import patterns as pp
from callgen.pjsua.driver import AgentEvent, EventKind, PjsuaAgent
from callgen.run.evidence import StepKind, StepOutcome
from callgen.run.plan import CallPlan, RunPlan
from callgen.scenario.model import (
    Agent,
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


def _find_port(ports: dict[int, str], needle: str) -> int | None:
    """A conference port whose name contains ``needle`` (a file name or URI)."""
    bare = needle.split(";")[0]
    for slot, name in ports.items():
        if needle in name or bare in name or name in needle:
            return slot
    return None


#: pjmedia queues at most 32 RFC 2833 digits per stream (more: PJ_ETOOMANY); longer strings go in bursts
MAX_DTMF_BURST = 16
#: an RFC 2833 digit lasts 200 ms in pjmedia (PJMEDIA_DTMF_DURATION, 1600 units at 8 kHz), then three end packets
DIGIT_TAIL_S = 0.3
#: a blind transfer ends with the NOTIFY of the new call's final response (a target that rings long may take longer)
TRANSFER_TIMEOUT_S = 15.0
#: pjsua reports a DTMF INFO that got no answer once its transaction times out (timer F, 64*T1 = 32 s)
INFO_TIMEOUT_S = 34.0
#: after a step's error (the scenario timeout, an agent gone) the call still left is hung up within this bound
END_GRACE_S = 2.0


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

    def __init__(self, plan: CallPlan, agents: dict[str, PjsuaAgent], deadline: Deadline, outcomes: list[StepOutcome],
                 run: RunPlan):
        self.plan = plan
        self.run = run
        self.call = plan.call
        self.agents = agents
        self.deadline = deadline
        self.outcomes = outcomes
        self.caller = agents[self.call.caller]
        self.call_id: int | None = None
        self.since = 0
        self.callee = agents.get(self.call.callee) if self.call.callee else None
        self.callee_since = 0
        self.media_connected = False
        self.transferred = False
        self.followed = False  #: after an attended transfer the steps act on the caller's new call (``call_id``)
        self._answerer: threading.Thread | None = None

    def _model(self, name: str) -> Agent:
        return self.run.agent(name).agent

    def _ended(self, ev: AgentEvent) -> bool:
        """This call's DISCONNECTED line at the caller."""
        return ev.kind is EventKind.DISCONNECTED and ev.call == self.call_id

    def _record(self, kind: StepKind, step: int | None, action: str, ok: bool, detail: str, agent: str | None = None) -> None:
        if agent is None and kind is StepKind.STEP and step is not None:
            agent = getattr(self.call.steps[step], "by", None)  # hangup, dtmf and hold name who acts
        self.outcomes.append(StepOutcome(kind, action, ok, detail, time.time(), self.call.index, step,
                                         agent or self.call.caller))

    def disconnected(self) -> AgentEvent | None:
        return next((ev for ev in self.caller.events()[self.since :] if self._ended(ev)), None)

    def execute(self) -> None:
        self.since = self.caller.mark()
        if self.callee is not None:
            self.callee_since = self.callee.mark()
            self._start_delayed_answer()
        t0 = time.monotonic()
        self.call_id = self.caller.make_call(self.plan.uri, timeout=self.deadline.bound(5.0, f"dialling {self.plan.uri}"),
                                             headers=self.call.headers)
        self._record(StepKind.DIAL, None, f"dial {self.plan.uri}", True, f"pjsua call {self.call_id} after {time.monotonic() - t0:.3f} s")
        try:
            for i, step in enumerate(self.call.steps):
                if not self._step(i, step):
                    break
        except BaseException:
            # the error already names the step it was in (the scenario timeout during a wait, say):
            # hang up within a fixed bound, and let no second error about that replace it
            self._ensure_ended(after_error=True)
            raise
        else:
            self._ensure_ended()
        finally:
            if self._answerer is not None:
                self._answerer.join(timeout=5.0)

    # -- callee side: ring first, answer later ------------------------------
    def _start_delayed_answer(self) -> None:
        model = self._model(self.call.callee)
        if (model.ring_ms is None and not model.redirect_to) or model.answer < 200:
            return
        self._answerer = threading.Thread(target=self._delayed_answer, args=(model,), daemon=True,
                                          name=f"answer-{self.call.callee}")
        self._answerer.start()

    def _delayed_answer(self, model: Agent) -> None:
        callee = self.callee
        ring_ms = model.ring_ms or 0
        contact = None
        if model.redirect_to:
            contact = model.redirect_to if ":" in model.redirect_to else self.run.agent(model.redirect_to).contact_uri
        action = f"{model.name} rings {ring_ms} ms, answers {model.answer}" + (f" to {contact}" if contact else "")
        try:
            callee.wait_for(lambda e: e.kind is EventKind.INCOMING, "an incoming call", 10.0, since=self.callee_since)
            try:  # the ring time is the scenario's; an early CANCEL ends it
                callee.wait_for(lambda e: e.kind is EventKind.DISCONNECTED, "the ring time", ring_ms / 1000,
                                since=self.callee_since)
                self._record(StepKind.ANSWER, None, action, False, "the call ended while ringing", model.name)
                return
            except AgentTimeout:
                pass
            callee.answer(model.answer, contact)
            self._record(StepKind.ANSWER, None, action, True, f"answered {model.answer} after {ring_ms} ms", model.name)
        except (AgentTimeout, InfrastructureError) as exc:
            self._record(StepKind.ANSWER, None, action, False, str(exc), model.name)

    def _step(self, i: int, step: Step) -> bool:
        """Play one step through its kind's runner (``STEP_RUNNERS``)."""
        return STEP_RUNNERS[type(step)](self, i, step)

    def _wait(self, i: int, step: WaitStep) -> bool:
        action = f"wait {step.state.value}"
        want = state_predicate(step.state, self.call_id)
        t0 = time.monotonic()
        timeout = self.deadline.bound(step.timeout, action)
        try:
            ev = self.caller.wait_for(lambda e: want(e) or self._ended(e),
                                                  f"call {self.call.index} to be {step.state.value}", timeout, since=self.since)
        except AgentTimeout as exc:
            if self.deadline.left() <= 0:
                raise ScenarioTimeout(f"the scenario timeout ({self.deadline.seconds:g} s) ran out during {action}") from None
            self._record(StepKind.STEP, i, action, False, str(exc))
            return False
        took = time.monotonic() - t0
        if want(ev):
            detail = f"{ev.state}" + (f" ({ev.code} {ev.reason})" if ev.code else "") + f" after {took:.3f} s"
            self._record(StepKind.STEP, i, action, True, detail)
            if step.state is CallState.CONFIRMED:
                self._connect_caller_media(i)
            return True
        self._record(StepKind.STEP, i, action, False, f"the call ended with {ev.code} {ev.reason} instead")
        return False

    def _pause(self, i: int, step: PauseStep) -> bool:
        action = f"pause {step.seconds:g}"
        if self.deadline.left() < step.seconds:
            raise ScenarioTimeout(f"the scenario timeout ({self.deadline.seconds:g} s) is shorter than {action}")
        try:  # the pause is the scenario's own duration; an early hang-up ends it
            ev = self.caller.wait_for(self._ended, "the pause", step.seconds, since=self.since)
        except AgentTimeout:
            self._record(StepKind.STEP, i, action, True, "call still up")
            return True
        self._record(StepKind.STEP, i, action, False, f"the call ended during the pause ({ev.code} {ev.reason})")
        return False

    def _hangup(self, i: int, step: HangupStep) -> bool:
        agent = self.agents[step.by]
        action = f"hangup by {step.by}"
        if self.disconnected() is not None:
            self._record(StepKind.STEP, i, action, False, "the call had already ended")
            return False
        if self.followed:  # pjsua's current call may still be the one the transfer ended
            agent.select_call(self.call_id)
        agent.hangup()
        self._record(StepKind.STEP, i, action, True, "hangup sent")
        return True

    def _connect_caller_media(self, i: int) -> None:
        """pjsua connects players/recorders to incoming calls only (--auto-play,
        --auto-rec); for the caller callgen wires the bridge itself with 'cc'."""
        model = self._model(self.call.caller)
        if self.media_connected or (model.audio.play is None and not model.audio.record):
            return
        self.media_connected = True
        ports = self.caller.conference_ports()
        call_port = _find_port(ports, self.plan.uri) if self.plan.uri else None
        if call_port is None:
            call_port = max(ports) if ports else None
        done = []
        if model.audio.play is not None:
            player = _find_port(ports, model.audio.play.name)
            if player is None or call_port is None:
                self._record(StepKind.AUDIO, i, "connect player", False, f"no player or call port in {ports}")
            else:
                self.caller.connect_ports(player, call_port)
                done.append(f"player #{player} -> call #{call_port}")
        if model.audio.record:
            rec = next((slot for slot, name in ports.items() if name.endswith(".rec.wav")), None)
            if rec is None or call_port is None:
                self._record(StepKind.AUDIO, i, "connect recorder", False, f"no recorder or call port in {ports}")
            else:
                self.caller.connect_ports(call_port, rec)
                done.append(f"call #{call_port} -> recorder #{rec}")
        if done:
            self._record(StepKind.AUDIO, i, "connect audio", True, ", ".join(done))

    def _dtmf(self, i: int, step: DtmfStep) -> bool:
        sender = self.agents[step.by]
        receiver_name = self.call.callee if step.by == self.call.caller else self.call.caller
        receiver = self.agents.get(receiver_name) if receiver_name else None
        action = f"dtmf {step.digits} by {step.by} ({step.method.value})"
        if self.disconnected() is not None:
            self._record(StepKind.STEP, i, action, False, "the call had already ended")
            return False
        chunks = step.digits.split(",")
        got: list[str] = []
        for n, chunk in enumerate(chunks):
            for k in range(0, len(chunk), MAX_DTMF_BURST):
                problem = self._send_digits(sender, receiver, chunk[k:k + MAX_DTMF_BURST], step, got)
                if problem:
                    self._record(StepKind.STEP, i, action, False, problem)
                    return False
            if n < len(chunks) - 1 and step.pause_ms:
                try:
                    ev = self.caller.wait_for(self._ended, "a DTMF pause",
                                              self.deadline.bound(step.pause_ms / 1000, action), since=self.since)
                    self._record(StepKind.STEP, i, action, False, f"the call ended during the DTMF pause ({ev.code} {ev.reason})")
                    return False
                except AgentTimeout:
                    pass
        how = "every INFO answered 2xx" if step.method is DtmfMethod.INFO else "every digit went out"
        detail = f"sent, {how}" + (f"; {receiver_name} logged {''.join(got) or 'nothing'}" if receiver else "")
        self._record(StepKind.STEP, i, action, True, detail)
        return True

    def _send_digits(self, sender: PjsuaAgent, receiver: PjsuaAgent | None, digits: str, step: DtmfStep,
                     got: list[str]) -> str:
        """Send one burst and wait until it really went out (each RFC 2833 digit started
        and the last one ended; each INFO got its final response).  Return what went
        wrong, "" when all went out."""
        since_tx = sender.mark()
        since_rx = receiver.mark() if receiver else 0
        refused = sender.send_dtmf(digits, info=step.method is DtmfMethod.INFO)
        if refused:
            return f"pjsua refused to send {digits}: {refused}"
        try:
            if step.method is DtmfMethod.INFO:  # a silent peer: pjsua gives up after timer F (32 s) with 408
                results = sender.wait_for_all(lambda e: e.kind is EventKind.INFO_DTMF_RESULT, len(digits),
                                              f"final responses to {len(digits)} DTMF INFO",
                                              self.deadline.bound(INFO_TIMEOUT_S, "DTMF INFO responses"), since=since_tx)
                bad = [f"{e.code} {e.reason}" for e in results if not 200 <= (e.code or 0) < 300]
                if bad:
                    return f"INFO for {digits} answered {', '.join(bad)}"
            else:
                sender.wait_for_all(lambda e: e.kind is EventKind.DTMF_SENDING, len(digits), f"{len(digits)} RFC 2833 digits to go out",
                                    self.deadline.bound(1.0 + 0.5 * len(digits), "sending DTMF"), since=since_tx)
                self._digit_tail()
        except AgentTimeout as exc:
            if self.deadline.left() <= 0:
                raise ScenarioTimeout(f"the scenario timeout ({self.deadline.seconds:g} s) ran out while sending DTMF") from None
            return str(exc)
        if receiver is not None:
            got += self._await_digits(receiver, since_rx, len(digits))
        return ""

    def _digit_tail(self) -> None:
        """The last digit is still playing when it started: its duration and end packets."""
        try:
            self.caller.wait_for(self._ended, "the last DTMF digit", self.deadline.bound(DIGIT_TAIL_S, "sending DTMF"),
                                 since=self.since)
        except AgentTimeout:
            pass

    def _await_digits(self, receiver: PjsuaAgent, since: int, count: int) -> list[str]:
        """Wait (bounded) until the receiving pjsua logged ``count`` more digits."""
        timeout = self.deadline.bound(2.0 + 0.5 * count, "waiting for DTMF at the receiver")
        seen: list[str] = []

        def enough(ev: AgentEvent) -> bool:
            if ev.kind is EventKind.DTMF:
                seen.append(ev.digit)
            return len(seen) >= count

        try:
            receiver.wait_for(enough, f"{count} DTMF digits at {receiver.name}", timeout, since=since)
        except AgentTimeout:
            pass  # the checks report what did (not) arrive, from the capture and the log
        return seen

    def _hold(self, i: int, step: HoldStep) -> bool:
        agent = self.agents[step.by]
        action = f"{'unhold' if step.release else 'hold'} by {step.by}"
        if self.disconnected() is not None:
            self._record(StepKind.STEP, i, action, False, "the call had already ended")
            return False
        since = agent.mark()
        agent.unhold() if step.release else agent.hold()
        try:  # the re-INVITE's transaction ends with the call CONFIRMED again, or a media update
            agent.wait_for(lambda e: e.kind is EventKind.MEDIA, "the re-INVITE to complete",
                           self.deadline.bound(5.0, action), since=since)
            self._record(StepKind.STEP, i, action, True, "re-INVITE sent and media updated")
            return True
        except AgentTimeout as exc:
            self._record(StepKind.STEP, i, action, False, str(exc))
            return False

    def _transfer(self, i: int, step: TransferStep) -> bool:
        """REFER (menu 'x') and wait for pjsua's final 'transfer status' line (the last NOTIFY);
        an attended transfer first places the consultation call (``_attended``)."""
        agent = self.agents[step.by]
        action = f"{'attended ' if step.attended else ''}transfer by {step.by} to {step.to}"
        if self.disconnected() is not None:
            self._record(StepKind.STEP, i, action, False, "the call had already ended")
            return False
        self.transferred = True  # the transferee places a call of its own: it is ended with this one
        if step.attended:
            return self._attended(i, step, agent, action)
        since = agent.mark()
        agent.transfer(step.uri or self.run.agent(step.to).contact_uri)
        ev = self._final_transfer_status(i, agent, action, since)
        if ev is None:
            return False
        ok = ev.code is not None and 200 <= ev.code < 300
        self._record(StepKind.STEP, i, action, ok, f"final transfer status {ev.code} ({ev.reason})")
        return ok

    def _final_transfer_status(self, i: int, agent: PjsuaAgent, action: str, since: int) -> AgentEvent | None:
        """pjsua's last 'transfer status' line (the final NOTIFY) at the transferor; None: recorded as failed."""
        try:
            return agent.wait_for(lambda e: e.kind is EventKind.TRANSFER_STATUS and e.state == "final",
                                  "the transfer's final NOTIFY", self.deadline.bound(TRANSFER_TIMEOUT_S, action), since=since)
        except AgentTimeout as exc:
            if self.deadline.left() <= 0:
                raise ScenarioTimeout(f"the scenario timeout ({self.deadline.seconds:g} s) ran out during {action}") from None
            self._record(StepKind.STEP, i, action, False, str(exc))
            return None

    def _attended(self, i: int, step: TransferStep, agent: PjsuaAgent, action: str) -> bool:
        """The transferor (the callee) calls the target and waits for the answer (the consultation
        call), makes the caller's call current again ('g'), then 'X' with the consultation call's
        id: a REFER whose Refer-To carries Replaces.  Once the final NOTIFY says 2xx, this call
        follows the caller's new call to the target (later waits, pauses and hang-ups act on it)."""
        held = agent.live_calls()
        if len(held) != 1:
            self._record(StepKind.STEP, i, action, False, f"{step.by} has {len(held)} calls up; it must hold only this one")
            return False
        (transferred,) = held
        uri = step.uri or self.run.agent(step.to).contact_uri
        since = agent.mark()
        consult = agent.make_call(uri, timeout=self.deadline.bound(5.0, f"the consultation call to {uri}"))
        try:
            ev = agent.wait_call_outcome(f"the consultation call to {step.to} to be answered",
                                         self.deadline.bound(TRANSFER_TIMEOUT_S, action), call=consult, since=since)
        except AgentTimeout as exc:
            if self.deadline.left() <= 0:
                raise ScenarioTimeout(f"the scenario timeout ({self.deadline.seconds:g} s) ran out during {action}") from None
            self._record(StepKind.STEP, i, action, False, str(exc))
            return False
        if ev.kind is EventKind.DISCONNECTED:
            self._record(StepKind.STEP, i, action, False, f"the consultation call to {step.to} ended with {ev.code} {ev.reason}")
            return False
        if self.disconnected() is not None:
            self._record(StepKind.STEP, i, action, False, f"the call ended during the consultation call to {step.to}")
            return False
        caller_since = self.caller.mark()
        since = agent.mark()
        agent.select_call(transferred)
        refused = agent.transfer_replaces(consult)
        if refused:
            self._record(StepKind.STEP, i, action, False, f"pjsua sent no REFER: {refused}")
            return False
        ev = self._final_transfer_status(i, agent, action, since)
        if ev is None:
            return False
        detail = f"consultation call {consult} answered; final transfer status {ev.code} ({ev.reason})"
        if ev.code is None or not 200 <= ev.code < 300:
            self._record(StepKind.STEP, i, action, False, detail)
            return False
        return self._follow_new_call(i, action, detail, caller_since)

    def _follow_new_call(self, i: int, action: str, detail: str, since: int) -> bool:
        """The caller's call that the REFER made (CONFIRMED) becomes the call the next steps act on."""
        old = self.call_id
        try:
            ev = self.caller.wait_for(lambda e: e.kind is EventKind.CALL_STATE and e.call != old and e.state == pp.STATE_CONFIRMED,
                                      f"{self.call.caller}'s new call to be confirmed",
                                      self.deadline.bound(5.0, action), since=since)
        except AgentTimeout as exc:
            self._record(StepKind.STEP, i, action, False, f"{detail}; {exc}")
            return False
        self.call_id, self.since, self.followed = ev.call, since, True
        self._record(StepKind.STEP, i, action, True, f"{detail}; {self.call.caller}'s new call {ev.call} confirmed")
        return True

    def _end_transferred(self) -> None:
        """After a transfer the caller's other calls (the one to the transfer target) end with this call."""
        for name in {self.call.caller, self.call.callee} - {None}:
            agent = self.agents.get(name)
            live = agent.live_calls() if agent is not None else set()
            if not live:
                continue
            since = agent.mark()
            agent.hangup_all()
            try:
                agent.wait_for_all(lambda e, live=live: e.kind is EventKind.DISCONNECTED and e.call in live, len(live),
                                   "the transferred calls to end", self.deadline.bound(5.0, "ending the calls"), since=since)
            except AgentTimeout:
                self._record(StepKind.END, len(self.call.steps), "end of the transferred calls", False,
                             f"{name}'s calls did not end within 5 s of hanging up")

    def _ensure_ended(self, *, after_error: bool = False) -> None:
        """Leave no call up between calls: hang up what is left, wait for the end.
        ``after_error``: a step raised (the run ends with that error); hang up and wait
        at most END_GRACE_S, whatever the scenario timeout has left, and raise nothing new."""
        if after_error:
            try:
                if self.disconnected() is None:
                    self.caller.hangup_all()
                    self.caller.wait_for(self._ended, "the call to end", END_GRACE_S, since=self.since)
            except CallgenError:
                pass  # the agents are stopped next; the original error says what went wrong
            return
        if self.transferred:
            self._end_transferred()
        if self.disconnected() is not None:
            return
        self.caller.hangup_all()
        try:
            self.caller.wait_for(self._ended, "the call to end", self.deadline.bound(5.0, "ending the call"), since=self.since)
        except AgentTimeout:
            self._record(StepKind.END, len(self.call.steps), "end of call", False, "the call did not end within 5 s of hanging up")


#: step model class (``callgen.scenario.steps``) -> how it is played on the agents; True: the
#: call's steps go on.  tests/core/test_step_seam.py keeps it complete.
STEP_RUNNERS: dict[type, Callable[[CallRun, int, Any], bool]] = {
    WaitStep: CallRun._wait,
    PauseStep: CallRun._pause,
    HangupStep: CallRun._hangup,
    DtmfStep: CallRun._dtmf,
    HoldStep: CallRun._hold,
    TransferStep: CallRun._transfer,
}
