"""Scenario file -> validated, frozen ``Scenario``.

Validation happens before any process starts: YAML syntax and the JSON Schema
first (``callgen.schema``), then rules a schema cannot express (a call's
'from' must be a caller, fixed ports must not clash...).  Every error names
file, line and key path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from callgen.errors import ScenarioError, ScenarioErrors
from callgen.model import (
    Agent,
    Call,
    CallExpect,
    CallState,
    HangupStep,
    PauseStep,
    Role,
    Scenario,
    Step,
    WaitStep,
)
from callgen.schema import schema_errors
from callgen.yamlsrc import SourceMap, load_yaml

DEFAULT_TIMEOUT = 60.0
DEFAULT_WAIT_TIMEOUT = 10.0
DEFAULT_HANGUP_AFTER = 1.0


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_scenario(path: Path | str, *, variables: Mapping[str, str] | None = None) -> Scenario:
    """Load, validate and model one scenario file; raise ScenarioError(s) on any problem."""
    path = Path(path)
    data, smap = load_yaml(path, _display_path(path))
    if not isinstance(data, dict):
        raise smap.error((), "a scenario is a mapping with 'name', 'agents' and 'calls'")
    errors = schema_errors(data, smap)
    if errors:
        raise errors[0] if len(errors) == 1 else ScenarioErrors(errors)
    return _build(data, smap, path)


def _build(data: dict[str, Any], smap: SourceMap, path: Path) -> Scenario:
    agents = tuple(_agent(name, spec) for name, spec in data["agents"].items())
    by_name = {a.name: a for a in agents}
    problems: list[ScenarioError] = []
    _check_ports(agents, smap, problems)
    calls = []
    for i, spec in enumerate(data["calls"]):
        try:
            calls.append(_call(i, spec, by_name, smap))
        except ScenarioError as exc:
            problems.append(exc)
    if problems:
        raise problems[0] if len(problems) == 1 else ScenarioErrors(problems)
    return Scenario(
        name=data["name"],
        description=data.get("description", "").strip(),
        tags=tuple(data.get("tags", ())),
        timeout=float(data.get("timeout", DEFAULT_TIMEOUT)),
        agents=agents,
        calls=tuple(calls),
        source=path,
        source_map=smap,
    )


def _agent(name: str, spec: dict[str, Any]) -> Agent:
    address = spec.get("address", "127.0.0.1")
    port = spec.get("port", "auto")
    return Agent(
        name=name,
        role=Role(spec["role"]),
        user=spec.get("user", name),
        domain=spec.get("domain", address),
        address=address,
        port=None if port == "auto" else int(port),
        answer=int(spec.get("answer", 200)),
        display_name=spec.get("display_name", ""),
        codecs=tuple(spec.get("codecs", ())),
    )


def _check_ports(agents: tuple[Agent, ...], smap: SourceMap, problems: list[ScenarioError]) -> None:
    used: dict[tuple[str, int], str] = {}
    for a in agents:
        if a.port is None:
            continue
        for p in (a.port, a.port + 1):  # SIP and the TLS port next to it
            other = used.get((a.address, p))
            if other:
                problems.append(
                    smap.error(("agents", a.name, "port"), f"port {a.port} clashes with agent '{other}' (each agent takes PORT and PORT+1)")
                )
                break
            used[(a.address, p)] = a.name


def _call(index: int, spec: dict[str, Any], agents: dict[str, Agent], smap: SourceMap) -> Call:
    base = ("calls", index)
    caller = spec["from"]
    if caller not in agents:
        raise smap.error(base + ("from",), f"no agent named '{caller}' (agents: {', '.join(agents)})")
    if agents[caller].role is not Role.CALLER:
        raise smap.error(base + ("from",), f"agent '{caller}' has role '{agents[caller].role.value}', a call needs a caller")
    to = spec["to"]
    callee, uri = None, None
    if to.startswith(("sip:", "sips:")):
        uri = to
    elif to not in agents:
        raise smap.error(base + ("to",), f"no agent named '{to}' (agents: {', '.join(agents)})")
    elif agents[to].role is not Role.CALLEE:
        raise smap.error(base + ("to",), f"agent '{to}' has role '{agents[to].role.value}', a call goes to a callee")
    else:
        callee = to
    parties = {caller} | ({callee} if callee else set())
    steps = tuple(_step(base + ("steps", j), s, caller, parties, smap) for j, s in enumerate(spec.get("steps", ())))
    if "steps" not in spec:
        steps = _default_steps(agents[callee] if callee else None, caller)
    exp = spec.get("expect", {})
    return Call(
        index=index,
        caller=caller,
        callee=callee,
        uri=uri,
        steps=steps,
        expect=CallExpect(final_code=exp.get("final_code"), codec=exp.get("codec")),
    )


def _default_steps(callee: Agent | None, caller: str) -> tuple[Step, ...]:
    if callee is not None and callee.answer >= 300:
        return (WaitStep(CallState.DISCONNECTED, DEFAULT_WAIT_TIMEOUT),)
    return (
        WaitStep(CallState.CONFIRMED, DEFAULT_WAIT_TIMEOUT),
        PauseStep(DEFAULT_HANGUP_AFTER),
        HangupStep(caller),
        WaitStep(CallState.DISCONNECTED, DEFAULT_WAIT_TIMEOUT),
    )


def _step(path: tuple, spec: dict[str, Any], caller: str, parties: set[str], smap: SourceMap) -> Step:
    if "wait" in spec:
        return WaitStep(CallState(spec["wait"]), float(spec.get("timeout", DEFAULT_WAIT_TIMEOUT)))
    if "pause" in spec:
        return PauseStep(float(spec["pause"]))
    by = caller if spec["hangup"] is True else spec["hangup"]
    if by not in parties:
        raise smap.error(path + ("hangup",), f"'{by}' is not a party of this call ({', '.join(sorted(parties))})")
    return HangupStep(by)
