"""SIPp agents in a run: a uas callee started with the other callees, a uac
caller that places its call when its turn comes.  SIPp's own verdict (exit
status, successful/failed calls) is recorded next to the capture's."""

from __future__ import annotations

import time

from callgen.analysis.ipaddr import endpoint
from callgen.errors import AgentTimeout
from callgen.run.callflow import Deadline
from callgen.run.evidence import StepKind, StepOutcome
from callgen.run.plan import AgentPlan, CallPlan, RunPlan
from callgen.sut.sipp import SippConfig, SippProcess


def _config(ap: AgentPlan, scenario: str, *, calls: int, timeout: float, remote: str | None = None,
            service: str | None = None) -> SippConfig:
    spec = ap.agent.sipp
    return SippConfig(
        workdir=ap.log_path.parent / f"sipp-{ap.name}",
        scenario=scenario,
        remote=remote,
        service=service,
        calls=calls,
        call_duration_ms=spec.call_duration_ms if spec else None,
        address=ap.agent.address,
        port=ap.sip_port,
        timeout_s=max(timeout, 1.0),
    )


def start_uas(plan: RunPlan, ap: AgentPlan, deadline: Deadline) -> SippProcess:
    calls = sum(1 for c in plan.scenario.calls if c.callee == ap.name) or 1
    proc = SippProcess(_config(ap, "uas", calls=calls, timeout=deadline.left()))
    return proc.start()


def run_uac_call(plan: RunPlan, cp: CallPlan, deadline: Deadline, outcomes: list[StepOutcome]) -> SippProcess:
    caller = plan.agent(cp.call.caller)
    callee = plan.agent(cp.call.callee) if cp.call.callee and not cp.call.uri else None  # a URI is dialled as given
    remote = endpoint(callee.agent.address, callee.sip_port) if callee else cp.uri.split("@")[-1].split(";")[0]
    service = callee.agent.user if callee else cp.uri.split(":", 1)[1].split("@")[0]
    proc = SippProcess(_config(caller, "uac", calls=1, timeout=deadline.left(), remote=remote, service=service))
    t0 = time.monotonic()
    proc.start()
    action = f"sipp uac {caller.name} calls {service}@{remote}"
    try:
        res = proc.wait(deadline.bound(60.0, action))
    except AgentTimeout as exc:
        outcomes.append(StepOutcome(StepKind.SIPP_CALL, action, False, str(exc), time.time(), cp.call.index, agent=caller.name))
        return proc
    outcomes.append(StepOutcome(StepKind.SIPP_CALL, action, res.ok, f"{res.describe()} after {time.monotonic() - t0:.2f} s",
                                time.time(), cp.call.index, agent=caller.name))
    return proc


def finish_uas(name: str, proc: SippProcess, outcomes: list[StepOutcome], wait: float) -> None:
    """SIPp's uas counts a call some seconds after its BYE; give it that, then stop it."""
    action = f"sipp uas {name} answers"
    try:
        res = proc.wait(wait)
    except AgentTimeout:
        res = proc.stop()
    if res is not None:
        outcomes.append(StepOutcome(StepKind.SIPP_UAS, action, res.ok, res.describe(), time.time(), agent=name))
