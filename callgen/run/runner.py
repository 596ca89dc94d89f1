"""Run one scenario: plan -> processes and capture -> evidence.

Whatever happens (a failed wait, a timeout, Ctrl-C, SIGTERM), every pjsua and
the capture (tcpdump or dumpcap) are stopped before ``execute`` returns or
raises, and what was written to the run folder stays there.  Judging the
evidence is the next stage's work (``callgen.verdict``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from callgen.analysis.ipaddr import endpoint
from callgen.cancel import CancelToken
from callgen.errors import AgentTimeout, CallgenError, InfrastructureError, Interrupted
from callgen.fileio import write_atomic
from callgen.pjsua.driver import EventKind, PjsuaAgent, stop_all
from callgen.pjsua.features import Feature, supported_features
from callgen.pjsua.toolpaths import find_pjsua
from callgen.run.callflow import CallRun, Deadline
from callgen.run.capture import CaptureStats, port_filter, start_capture
from callgen.run.evidence import AgentEvidence, Evidence, StepKind, StepOutcome
from callgen.run.load import LoadRun
from callgen.run.localsut import local_systems
from callgen.run.plan import RunPlan, plan_run, sip_offsets
from callgen.run.ports import acquire_block, acquire_load_region
from callgen.run.ring import CaptureFiles, CaptureProver
from callgen.run.signals import shielded
from callgen.run.sippflow import finish_uas, run_uac_call, start_uas
from callgen.scenario.loader import bind_scenario
from callgen.scenario.model import Scenario, TlsFiles, Transport
from callgen.sut.sipp import SippProcess

#: how long the prover may take for the last files once the capture stopped
PROVER_FINISH_S = 600.0


@dataclass(frozen=True)
class RunOptions:
    out_dir: Path  #: this run's own folder (created; suites give each run its own)
    pjsua: str | None = None  #: pjsua binary; default: PJSUA, .build/bin/pjsua, PATH
    keep: str = "all"  #: what a suite keeps after its reports; the suite applies it, a run keeps its folder
    interface: str = "lo"
    capture_tool: str | None = None  #: tcpdump | dumpcap | auto (default: $CALLGEN_CAPTURE, else auto)
    cancel: CancelToken | None = None  #: set by a suite on Ctrl-C: every wait raises Interrupted
    progress: Callable[[str], None] | None = None  #: a load run's live progress line (a terminal's), or None
    start_at: float | None = None  #: a load run places its first call at this wall-clock time (shares start together)
    #: a load run's prover (the verdict stage's, given by the suite): its capture is then rotated into bounded
    #: files (load.capture), each proven while the run goes on (callgen.run.ring)
    load_prover: Callable[[RunPlan], CaptureProver] | None = None


#: a load's agents keep between half and all of this many of their latest console lines and events, after
#: their first 2,000 (memory flat in a soak; the load folds each event as it comes, the transcript file keeps
#: every line).  8,000 events are 20-30 s of a caller process at 50 cps; with 20,000 the window was still
#: filling 75 s into a soak (~11 MB per agent), which read as growth
LOAD_KEEP_LAST = 8_000


def execute(scenario: Scenario, run_dir: Path, options: RunOptions) -> Evidence:
    """Start capture and agents, run the calls, stop everything; return the evidence."""
    pjsua = find_pjsua(options.pjsua)
    # test-bound on each agent's own address (an agent may bind 127.0.0.9, not 127.0.0.1); a load's agent
    # may run as several pjsua processes, each its own SIP port
    offsets = sip_offsets(scenario)
    started = time.time()
    tls = _run_tls(scenario, run_dir)
    with local_systems(scenario, run_dir) as systems, acquire_block(offsets) as block, _load_region(scenario):
        if systems:  # bind the parsed file again, with the addresses of what was just started
            scenario = _bind_systems(scenario, systems)
        plan = plan_run(scenario, run_dir, block.base, block.size, tls=tls,  # a load run holds the load region
                        quick_exit=Feature.QUICK_EXIT in supported_features(pjsua))
        plan = dataclasses.replace(plan, extra_ports=plan.extra_ports + tuple(p for _, p in systems.values()))
        for ap in plan.agents:
            if ap.agent.is_pjsua:
                _write_private(ap.config_path, ap.config_text(scenario))
        _check_fixed_ports(plan)
        evidence = _execute_plan(plan, pjsua, options, started, sut_health=systems.problem)
        return _name_dead_systems(evidence, systems.problem())  # checked before they are stopped


@contextlib.contextmanager
def _load_region(scenario: Scenario):
    """A load run holds the machine's load port region for its duration (None without a load)."""
    if scenario.load is None:
        yield None
        return
    with acquire_load_region(scenario.agent(scenario.load.caller).address) as region:
        yield region


def _name_dead_systems(evidence: Evidence, problem: str) -> Evidence:
    """A local system under test that ended before callgen stopped it makes the run an infrastructure
    error naming it (as a pjsua or a capture that died): the calls after it only measured its absence."""
    if not problem or problem in evidence.error:
        return evidence
    return dataclasses.replace(evidence, error="; ".join(e for e in (evidence.error, problem) if e))


def _first_problem(*checks: Callable[[], str | None] | None) -> Callable[[], str | None] | None:
    """One health check for the load from several (None when there is none)."""
    present = [c for c in checks if c is not None]
    if not present:
        return None
    return lambda: next((why for c in present if (why := c())), None)


def _bind_systems(scenario: Scenario, systems: Mapping[str, tuple[str, int]]) -> Scenario:
    """The scenario with each local target's placeholder replaced by the started system's
    address; the file is not read again, and other targets are not looked up again."""
    if scenario.parsed is None:
        raise InfrastructureError(f"{scenario.source}: the scenario was not loaded from a file; cannot bind "
                                  f"the address of {', '.join(systems)}")
    started = {n: endpoint(a, p) for n, (a, p) in systems.items()}
    bound = bind_scenario(scenario.parsed, variables=dict(scenario.variables),
                          targets={**dict(scenario.resolved_targets), **started})
    # what the caller made of the file stays: a load's share (--load-share) is not in the file
    return dataclasses.replace(bound, load=scenario.load) if scenario.load is not None else bound


def _hostport(address: str, port: int) -> str:
    return endpoint(address, port)


def _check_fixed_ports(plan: RunPlan) -> None:
    """A port the scenario fixes must be free: a second run with the same ports would
    otherwise fail with pjsua's bare exit, or capture the first run's traffic."""
    for ap in plan.agents:
        if not ap.agent.is_pjsua or ap.agent.port is None:
            continue
        kinds = [("udp", socket.SOCK_DGRAM, ap.sip_port)]
        if ap.agent.transport is not Transport.UDP:
            kinds.append(("tcp", socket.SOCK_STREAM, ap.sip_port))
        if ap.agent.transport is Transport.TLS:
            kinds.append(("tls", socket.SOCK_STREAM, ap.sip_port + 1))
        for proto, kind, port in kinds:
            family = socket.AF_INET6 if ":" in ap.agent.address else socket.AF_INET
            with socket.socket(family, kind) as sock:
                if kind == socket.SOCK_STREAM:  # as pjsua does: a closed connection's TIME_WAIT is no conflict
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((ap.agent.address, port))
                except OSError as exc:
                    raise InfrastructureError(
                        f"agent {ap.name}: its fixed port {endpoint(ap.agent.address, port)} ({proto}) is in use "
                        f"({exc.strerror}): another run or program holds it") from None


def _write_private(path: Path, text: str) -> None:
    """Configs may hold a digest password: readable by the owner only."""
    write_atomic(path, text, mode=0o600)


def _run_tls(scenario: Scenario, run_dir: Path) -> TlsFiles | None:
    """Throwaway CA and certificate for this run; private keys stay in the run folder."""
    if not scenario.uses_tls:
        return None
    from callgen.run.tlsgen import make_tls_material

    hosts = sorted({a.address for a in scenario.agents} | {"127.0.0.1", "localhost"})
    m = make_tls_material(run_dir / "tls", hosts=hosts)
    return TlsFiles(m.ca_file, m.cert_file, m.key_file)


def _execute_plan(plan: RunPlan, pjsua: str, options: RunOptions, started: float,
                  sut_health: Callable[[], str] | None = None) -> Evidence:
    scenario = plan.scenario
    deadline = Deadline(scenario.timeout)
    pcap = plan.run_dir / "capture.pcap"
    bpf = port_filter(plan.port_ranges, plan.extra_ports)
    capture = None
    agents: dict[str, PjsuaAgent] = {}
    sipps: dict[str, SippProcess] = {}
    outcomes: list[StepOutcome] = []
    load_run: LoadRun | None = None  #: its per-call records are kept, also when the run fails midway
    prover = options.load_prover(plan) if scenario.load is not None and options.load_prover is not None else None
    files = None
    error = ""
    stats = CaptureStats(None, None, "")
    statuses: dict[str, int | None] = {}
    try:
        if prover is not None:
            files = CaptureFiles(pcap, scenario.load.capture.file_size_mb(), scenario.load.capture.max_mb)
        capture = start_capture(pcap, bpf, interface=options.interface, tool=options.capture_tool,
                                timeout=deadline.bound(10.0, "starting the capture"),
                                rotate_mb=files.file_mb if files is not None else None)
        for ap in plan.start_order:
            if options.cancel is not None and options.cancel.is_set():
                raise Interrupted("cancelled before all agents started")
            if ap.agent.sipp is not None:
                if ap.agent.sipp.scenario == "uas":
                    sipps[ap.name] = start_uas(plan, ap, deadline)
                continue
            agents[ap.name] = PjsuaAgent(ap.name, [pjsua, f"--config-file={ap.config_path}"], ap.transcript_path,
                                         cwd=plan.run_dir, cancel=options.cancel, log_file=ap.log_path,
                                         sip_bind=_hostport(ap.agent.address, ap.sip_port),
                                         keep_last=LOAD_KEEP_LAST if scenario.load is not None else None)
        _start_agents(agents, deadline)
        _await_registrations(plan, agents, deadline, outcomes)
        if scenario.load is not None:
            load_run = LoadRun(scenario.load, plan, agents, deadline, options.progress, options.start_at,
                               journal=plan.run_dir / "calls.jsonl",
                               health=_first_problem(prover.problem if prover is not None else None, sut_health))
            if prover is not None:
                prover.start(files, load_run.changes)
            load_run.execute()
        for group in scenario.call_groups():
            _run_group([plan.calls[c.index] for c in group], plan, agents, sipps, deadline, outcomes)
        for name, proc in sipps.items():
            if proc.config.scenario == "uas":
                finish_uas(name, proc, outcomes, max(0.0, min(8.0, deadline.left())))
    except Interrupted:
        raise
    except CallgenError as exc:
        error = str(exc)
    finally:
        # Each part is stopped whatever happened to the one before (a full disk makes
        # closing a transcript fail): clean-up never depends on a write succeeding.
        with shielded():
            faults = []
            quiet_since = time.monotonic() if _quiet_shutdown(plan, agents, sipps) else None
            _guarded(faults, "un-registering", lambda: _unregister(plan, agents))
            statuses = _guarded(faults, "stopping the agents", lambda: _stop_agents(agents)) or {}
            for name, proc in sipps.items():
                _guarded(faults, f"stopping sipp {name}", proc.stop)
            if capture is not None:
                stats = _guarded(faults, "stopping the capture", lambda: capture.stop(quiet_since=quiet_since)) or stats
            if prover is not None and load_run is not None:
                _guarded(faults, "proving the load's calls", lambda: prover.finish(load_run.records(), PROVER_FINISH_S))
                if prover.problem() and prover.problem() not in error:
                    faults.append(prover.problem())
            faults += [f"agent {n}: {a.write_error}" for n, a in agents.items() if a.write_error]
            error = "; ".join(e for e in (error, *faults) if e)
    return Evidence(
        run_dir=plan.run_dir,
        pcap_path=pcap,
        capture=stats,
        agents=tuple(
            AgentEvidence(
                name=ap.name, sip_port=ap.sip_port, address=ap.agent.address, log_path=ap.log_path,
                transcript_path=ap.transcript_path, config_path=ap.config_path,
                events=tuple(agents[ap.name].events()) if ap.name in agents else (),
                exit_status=statuses.get(ap.name),
                kind="pjsua" if ap.agent.is_pjsua else "sipp",
                died=agents[ap.name].died if ap.name in agents else False,
                death=agents[ap.name].death() if ap.name in agents else "",
            )
            for ap in plan.agents
        ),
        steps=tuple(outcomes),
        load_calls=load_run.records() if load_run is not None else (),
        load_prover=prover if load_run is not None else None,
        started=started,
        finished=time.time(),
        error=error,
        scenario=scenario,
    )


def _run_group(group: list, plan: RunPlan, agents: dict[str, PjsuaAgent], sipps: dict[str, SippProcess],
               deadline: Deadline, outcomes: list[StepOutcome]) -> None:
    """Run calls that start together; each in its own thread when there are several
    (they share no agent, so no pjsua gets commands from two threads)."""
    def one(cp) -> None:
        if cp.call.caller in agents:
            CallRun(cp, agents, deadline, outcomes, plan).execute()
        else:
            sipps[f"{cp.call.caller}#{cp.call.index}"] = run_uac_call(plan, cp, deadline, outcomes)

    if len(group) == 1:
        one(group[0])
        return
    with ThreadPoolExecutor(max_workers=len(group), thread_name_prefix="call") as pool:
        futures = [pool.submit(one, cp) for cp in group]
        errors = [f.exception() for f in futures]
    # an interrupt wins over any other error; then the first error in call order
    for exc in sorted((e for e in errors if e is not None), key=lambda e: not isinstance(e, Interrupted)):
        raise exc


def _await_registrations(plan: RunPlan, agents: dict[str, PjsuaAgent], deadline: Deadline,
                         outcomes: list[StepOutcome]) -> None:
    """Every registering agent must see its REGISTER answered before calls start."""
    for ap in plan.agents:
        reg = ap.agent.register
        if reg is None:
            continue
        action = f"register {ap.name} at {reg.registrar}"
        try:
            ev = agents[ap.name].wait_for(
                lambda e: e.kind in (EventKind.REG_OK, EventKind.REG_FAILED),
                f"the registration of {ap.name}", deadline.bound(reg.timeout, action), since=0)
        except AgentTimeout as exc:
            outcomes.append(StepOutcome(StepKind.REGISTER, action, False, str(exc), time.time(), agent=ap.name))
            raise InfrastructureError(f"registration of {ap.name} at {reg.registrar} got no answer") from None
        ok = (ev.kind is EventKind.REG_OK) == reg.expect_success
        want = "success" if reg.expect_success else "failure"
        outcomes.append(StepOutcome(StepKind.REGISTER, f"{action} (expect {want})", ok, f"{ev.code} {ev.reason}", time.time(),
                                    agent=ap.name))


def _guarded(faults: list[str], what: str, stop):
    """Run one clean-up step; an OSError or a callgen error is noted, not raised."""
    try:
        return stop()
    except (OSError, CallgenError) as exc:
        faults.append(f"{what}: {exc}")
        return None


def _start_agents(agents: dict[str, PjsuaAgent], deadline: Deadline) -> None:
    """Start every pjsua at once (each takes about 0.3 s to be ready; no call is placed
    before all are, so the order callees-first needs no waiting); the first failure
    is raised (an interrupt first) once all have tried, and ``agents`` keeps them all
    for stopping."""
    items = list(agents.items())
    if len(items) == 1:
        items[0][1].start(timeout=deadline.bound(10.0, f"starting agent {items[0][0]}"))
        return
    with ThreadPoolExecutor(max_workers=max(1, len(items)), thread_name_prefix="agent-start") as pool:
        futures = [pool.submit(a.start, deadline.bound(10.0, f"starting agent {n}")) for n, a in items]
        errors = [f.exception() for f in futures]
    for exc in sorted((e for e in errors if e is not None), key=lambda e: not isinstance(e, Interrupted)):
        raise exc


def _quiet_shutdown(plan: RunPlan, agents: dict[str, PjsuaAgent], sipps: dict[str, SippProcess]) -> bool:
    """Will stopping the agents send no packet?  Then the capture's settle may count from
    the quit instead of from the last agent's exit (pjsua's quit alone takes 1 s).

    True only when every agent is a pjsua on UDP (closing a TCP or TLS transport sends
    FIN/ACK), none registers (pjsua unregisters as it quits) or calls through a proxy,
    no SIPp or local system takes part, and no call is still up anywhere (pjsua hangs up
    what is up: BYE, CANCEL)."""
    if sipps or len(agents) != len(plan.agents) or plan.extra_ports:
        return False
    for ap in plan.agents:
        a = ap.agent
        if a.transport is not Transport.UDP or a.register is not None or a.proxy or not a.is_pjsua:
            return False
    return all(agent.pid is not None and not agent.live_calls() for agent in agents.values())


def _unregister(plan: RunPlan, agents: dict[str, PjsuaAgent]) -> None:
    """An agent that quits with --quick-exit does not wait for its un-REGISTER's answer:
    un-REGISTER first (registered agents still running), so the capture keeps the answer."""
    for ap in plan.agents:
        agent = agents.get(ap.name)
        quick = any(o.name == "--quick-exit" for o in ap.options)
        if (ap.agent.register is None or agent is None or not quick or agent.died or agent.pid is None
                or not agent.events(EventKind.REG_OK) or (agent.cancel is not None and agent.cancel.is_set())):
            continue
        agent.unregister()


def _stop_agents(agents: dict[str, PjsuaAgent]) -> dict[str, int | None]:
    return dict(zip(agents, stop_all(list(agents.values())), strict=True))
