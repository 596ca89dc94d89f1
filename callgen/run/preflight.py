"""What a run would refuse, judged before anything runs: ``validate``, ``run`` and the
pytest plugin all load scenarios through ``load_checked``, so what ``run`` refuses,
``validate`` refuses first (file, line, key; exit 2).

The scenario stage (``callgen.scenario``) knows the language; this stage knows the
run: the pjsua config every agent gets, the ports each agent has, what SIPp can
dial, and the codecs of the pjsua in use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from callgen.errors import ScenarioError, ScenarioErrors
from callgen.pjsua.codecs import codec_known, supported_codecs
from callgen.pjsua.features import Feature, supported_features
from callgen.pjsua.render import RenderError, render_config
from callgen.run.plan import MAX_CALLS_PER_AGENT, agent_options, load_rtp_span
from callgen.run.ports import LOAD_REGION
from callgen.scenario.loader import load_scenario
from callgen.scenario.model import Scenario, TransferStep
from callgen.sut.sipp import HOSTPORT


def load_checked(path: Path, pjsua: str | None, **load_options: Any) -> Scenario:
    """``load_scenario``, what the run itself would refuse, and the codec check
    against ``pjsua`` (skipped without one)."""
    scenario = check_runnable(load_scenario(path, **load_options))
    if not pjsua:
        return scenario
    return check_features(check_codecs(scenario, supported_codecs(pjsua)), supported_features(pjsua), pjsua)


def needed_features(scenario: Scenario) -> list[tuple[tuple, Feature, str]]:
    """(key path, feature, what needs it) for every use of a patched pjsua feature."""
    needs = []
    for a in scenario.agents:
        if a.is_pjsua and ":" in a.address:
            needs.append((("agents", a.name, "address"), Feature.IPV6_ONLY, "IPv6 agents"))
        if a.answer_headers:
            needs.append((("agents", a.name, "answer_headers"), Feature.HEADERS, "answer headers"))
        if a.register is not None and a.register.headers:
            needs.append((("agents", a.name, "register", "headers"), Feature.HEADERS, "REGISTER headers"))
    for c in scenario.calls:
        if c.headers:
            needs.append((("calls", c.index, "headers"), Feature.HEADERS, "call headers"))
        for j, st in enumerate(c.steps):  # the transferor makes the transferred call current again ('g')
            if isinstance(st, TransferStep) and st.attended:
                needs.append((("calls", c.index, "steps", j, "transfer", "attended"), Feature.SELECT_CALL,
                              "attended transfers"))
    if scenario.load is not None:  # callgen hangs up and sends digits on a chosen call; RTP ports wrap
        needs.append((("load",), Feature.SELECT_CALL, "load calls (each hung up and given its digits on its own)"))
        needs.append((("load",), Feature.RTP_PORT_RANGE, "load calls (RTP ports that wrap)"))
        if scenario.load.headers:
            needs.append((("load", "headers"), Feature.HEADERS, "load headers"))
    return needs


def check_features(scenario: Scenario, features: frozenset[Feature], pjsua: str) -> Scenario:
    """Return ``scenario`` or raise with file:line for each use of a feature this pjsua lacks
    (a stock pjsua has none of callgen's patches: docs/pjsua-patches.md)."""
    problems = [scenario.source_map.error(key, f"{what} need a pjsua with {feature.meaning}; {pjsua} has not got it "
                                               f"(a stock pjsua): use the one 'make setup' builds (docs/pjsua-patches.md)")
                for key, feature, what in needed_features(scenario) if feature not in features]
    if problems:
        raise problems[0] if len(problems) == 1 else ScenarioErrors(problems)
    return scenario


def check_runnable(scenario: Scenario) -> Scenario:
    """Return ``scenario`` or raise with file:line for everything the run would refuse."""
    problems = _calls_per_agent(scenario) + _sipp_remotes(scenario) + _unrenderable(scenario) + _load_ports(scenario)
    if problems:
        raise problems[0] if len(problems) == 1 else ScenarioErrors(problems)
    return scenario


def _unrenderable(scenario: Scenario) -> list[ScenarioError]:
    """Render every pjsua agent's options as a run would, so a value pjsua's
    config reader cannot take is refused now and not when the run starts."""
    run_dir = Path("callgen-runs") / "00000000-000000" / scenario.name
    problems = []
    for a in scenario.agents:
        if not a.is_pjsua:
            continue
        opts = agent_options(a, 65534, 65534, run_dir / f"{a.name}.pjsua.log", tls=a.tls,
                             rec_path=run_dir / f"{a.name}.rec.wav", load=scenario.load)
        try:
            render_config(opts)
        except RenderError as exc:
            problems.append(scenario.source_map.error(exc.option.key, f"cannot pass to pjsua: {exc}"))
    return problems


def _load_ports(scenario: Scenario) -> list[ScenarioError]:
    """A load's agents take two RTP ports per call they hold, wrapping within their span (``--rtp-port-range``):
    the spans must fit the load region (bounded by max_concurrent, never by the number of calls)."""
    need = sum(load_rtp_span(a, scenario.load) for a in scenario.agents)
    have = LOAD_REGION[1] - LOAD_REGION[0]
    if need <= have:
        return []
    return [scenario.source_map.error(("load", "max_concurrent"),
                                      f"{scenario.load.max_concurrent} calls at once need {need} RTP ports, more than "
                                      f"the {have} of the load region")]


def _calls_per_agent(scenario: Scenario) -> list[ScenarioError]:
    """Each agent has RTP ports for MAX_CALLS_PER_AGENT calls (the run plan refuses more)."""
    counts: dict[str, list[int]] = {}
    for c in scenario.calls:
        for name in (c.caller, c.callee):
            if name:
                counts.setdefault(name, []).append(c.index)
    return [scenario.source_map.error(("calls", indices[MAX_CALLS_PER_AGENT]),
                                      f"agent '{name}' takes part in {len(indices)} calls; at most {MAX_CALLS_PER_AGENT} "
                                      f"(each agent has RTP ports for {MAX_CALLS_PER_AGENT} calls)")
            for name, indices in counts.items() if len(indices) > MAX_CALLS_PER_AGENT]


def _sipp_remotes(scenario: Scenario) -> list[ScenarioError]:
    """SIPp dials host:port (``sipp HOST:PORT -s USER``); it resolves no SIP URI."""
    problems = []
    for c in scenario.calls:
        if c.uri is None or scenario.agent(c.caller).sipp is None:
            continue
        remote = c.uri.split("@")[-1].split(";")[0]
        if not HOSTPORT.match(remote):
            problems.append(scenario.source_map.error(
                ("calls", c.index, "to"), f"'{c.caller}' is a SIPp uac, which dials host:port: give the port in the URI "
                                          f"(e.g. sip:user@127.0.0.1:5060), not {remote!r}"))
    return problems


def check_codecs(scenario: Scenario, supported: tuple[str, ...]) -> Scenario:
    """Return ``scenario`` or raise with file:line for each codec name this pjsua lacks."""
    if not supported:  # pjsua could not list them: let pjsua itself decide
        return scenario
    problems: list[ScenarioError] = []
    listed = ", ".join(sorted({c.split("/")[0] for c in supported}))
    for agent in scenario.agents:
        for i, name in enumerate(agent.codecs):
            if not codec_known(name, supported):
                problems.append(scenario.source_map.error(
                    ("agents", agent.name, "codecs", i), f"codec '{name}' is not in this pjsua (it has {listed})"))
    for call in scenario.calls:  # the loader already checked it against listed codecs
        want = call.expect.codec
        if want and not codec_known(want.split("/")[0], supported):
            problems.append(scenario.source_map.error(
                ("calls", call.index, "expect", "codec"),
                f"'{want}' can never be selected: this pjsua has no such codec (it has {listed})"))
    if problems:
        raise problems[0] if len(problems) == 1 else ScenarioErrors(problems)
    return scenario
