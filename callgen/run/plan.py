"""Scenario -> run plan: ports, the pjsua options of every agent, file paths.

The plan is pure data; ``callgen.run.runner`` executes it.  ``plan_run`` takes the
ports block as an argument so the same scenario renders the same way in tests.
"""

from __future__ import annotations

import math
import re
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path

from callgen.errors import ScenarioError
from callgen.pjsua.render import PjsuaOption, RenderError, render_config
from callgen.run.ports import LOAD_REGION
from callgen.scenario.model import Agent, Call, Load, Role, Scenario, TlsFiles, Transport

SIP_STRIDE = 2  #: agent i: SIP port base + 2i, its TLS port the next one
RTP_OFFSET = 40
RTP_PER_AGENT = 20  #: RTP+RTCP for 10 calls per agent
MAX_CALLS_PER_AGENT = RTP_PER_AGENT // 2
PJSUA_MAX_CALLS = 512  #: scripts/pjsua-config_site.h
LOAD_SPARE_CALLS = 8  #: calls still ending while the next ones start
LOAD_RTP_HELD_FACTOR = 2  #: a load agent's RTP span has ports for twice the calls it holds at once
LOAD_RTP_MARGIN = 64  #: and this many more
LOAD_DURATION_NET_S = 30  #: the load caller's --duration: its longest hold plus this (callgen hangs up first)
#: calls one pjsua process of a load holds at most: above it an agent of the load runs as several processes
LOAD_CALLS_PER_PJSUA = PJSUA_MAX_CALLS - LOAD_SPARE_CALLS


@dataclass(frozen=True)
class AgentPlan:
    agent: Agent
    sip_port: int
    rtp_port: int
    config_path: Path
    log_path: Path
    transcript_path: Path
    options: tuple[PjsuaOption, ...]
    process: int = 0  #: which pjsua process of the agent (a load's agent may run as several: ``load_processes``)

    @property
    def name(self) -> str:
        """The agent's name for its first process, ``<name>-p2``, ``-p3``... for the others."""
        return process_name(self.agent.name, self.process)

    @property
    def contact_uri(self) -> str:
        return contact_uri(self.agent, self.sip_port)

    @property
    def rec_path(self) -> Path | None:
        return self.config_path.parent / f"{self.name}.rec.wav" if self.agent.audio.record else None

    def config_text(self, scenario: Scenario) -> str:
        header = (
            f"pjsua configuration for agent '{self.name}' of scenario '{scenario.name}'",
            f"rendered by callgen from {scenario.source}; run: pjsua --config-file=<this file>",
        )
        try:
            return render_config(self.options, header)
        except RenderError as exc:
            raise scenario.source_map.error(exc.option.key, f"cannot pass to pjsua: {exc}") from None


@dataclass(frozen=True)
class CallPlan:
    call: Call
    uri: str  #: what the caller dials


@dataclass(frozen=True)
class RunPlan:
    scenario: Scenario
    run_dir: Path
    agents: tuple[AgentPlan, ...]
    calls: tuple[CallPlan, ...]
    port_ranges: tuple[tuple[int, int], ...]
    extra_ports: tuple[int, ...]
    notes: tuple[str, ...] = ()  #: how callgen sized the run (e.g. a load agent's pjsua processes), for `render`

    def agent(self, name: str) -> AgentPlan:
        return next(a for a in self.agents if a.name == name)

    def processes(self, name: str) -> tuple[AgentPlan, ...]:
        """Agent ``name``'s pjsua processes, the first first (one, unless the load needs more)."""
        return tuple(a for a in self.agents if a.agent.name == name)

    @property
    def start_order(self) -> tuple[AgentPlan, ...]:
        """Callees first, so they listen before any caller dials."""
        return tuple(sorted(self.agents, key=lambda a: a.agent.role is Role.CALLER))


def agent_options(agent: Agent, sip_port: int, rtp_port: int, log_path: Path, *,
                  tls: TlsFiles | None = None, rec_path: Path | None = None,
                  needs_tcp: bool = False, load: Load | None = None, quick_exit: bool = False) -> tuple[PjsuaOption, ...]:
    """``needs_tcp``: the agent dials a TCP party, so it needs a TCP transport too.
    ``load``: the scenario's load section, which sizes the agents that take part in it.
    ``quick_exit``: the pjsua has callgen's patch 0004 (``--quick-exit``)."""
    k = ("agents", agent.name)
    domain = agent.domain.strip("[]")
    host = f"[{domain}]" if ":" in domain else domain
    ident = f"sip:{agent.user}@{host}"
    if agent.display_name:
        ident = f'"{agent.display_name}" <{ident}>'
    o = [
        PjsuaOption("--id", ident, k + (("display_name",) if agent.display_name else ("user",))),
        PjsuaOption("--ip-addr", agent.address, k + ("address",)),
        PjsuaOption("--bound-addr", agent.address, k + ("address",)),
        PjsuaOption("--local-port", str(sip_port), k + ("port",)),
        PjsuaOption("--rtp-port", str(rtp_port), k),
        PjsuaOption("--null-audio", None, k),
        PjsuaOption("--no-vad", None, k),
        PjsuaOption("--max-calls", str(load_max_calls(agent, load) or MAX_CALLS_PER_AGENT), k),
        PjsuaOption("--log-file", str(log_path), k),
        PjsuaOption("--log-level", "5", k),
        # level 4 has the media state lines; a load's agents print at 3 (state lines only): at tens of
        # calls per second level 4 prints every SIP message to the console, which callgen would have to read
        PjsuaOption("--app-log-level", "3" if load_max_calls(agent, load) else "4", k),
        PjsuaOption("--no-color", None, k),
    ]
    if agent.transport is not Transport.TCP and not needs_tcp:
        o.append(PjsuaOption("--no-tcp", None, k + ("transport",)))
    if ":" in agent.address:  # patch 0007: IPv6 transports only, on --local-port (TLS +1), and IPv6 media
        o.append(PjsuaOption("--ipv6-only", None, k + ("address",)))
    if tls is not None:
        o += [
            PjsuaOption("--use-tls", None, k + ("transport",)),
            PjsuaOption("--tls-ca-file", str(tls.ca_file), k + ("tls", "ca_file")),
            PjsuaOption("--tls-cert-file", str(tls.cert_file), k + ("tls", "cert_file")),
            PjsuaOption("--tls-privkey-file", str(tls.key_file), k + ("tls", "key_file")),
        ]
        if tls.verify:
            o += [PjsuaOption("--tls-verify-server", None, k + ("tls",)), PjsuaOption("--tls-verify-client", None, k + ("tls",))]
    if agent.max_call_s is not None:
        o.append(PjsuaOption("--duration", str(agent.max_call_s), k + ("max_call_s",)))
    if load_max_calls(agent, load):
        # The bridge at 8 kHz: no resampling of 8 kHz codecs, a quarter of the media cost per call
        o.append(PjsuaOption("--clock-rate", "8000", ("load",)))
        # the RTP ports wrap within the agent's span (patch 0003): a run is not bounded by the ports
        o.append(PjsuaOption("--rtp-port-range", str(load_rtp_span(agent, load) - 2), ("load",)))
        if agent.name == load.caller:  # callgen hangs each call up after its hold; pjsua's --duration is a net
            o.append(PjsuaOption("--duration", str(math.ceil(load.hold_s) + LOAD_DURATION_NET_S), ("load", "hold_s")))
    o += _callee_options(agent, k)
    o += _media_options(agent, k, rec_path)
    o += _account_options(agent, k)
    if quick_exit and not load_max_calls(agent, load):
        # callgen ends every call (CallRun._ensure_ended) and un-REGISTERs (runner) before it
        # quits, so pjsua's wait of up to 1 s for answers at exit proves nothing
        o.append(PjsuaOption("--quick-exit", None, k))
    return tuple(o)


def process_name(agent: str, process: int) -> str:
    """The name of an agent's pjsua process ``process`` (0-based): the agent's own name for the first."""
    return agent if process == 0 else f"{agent}-p{process + 1}"


def process_names(agent: str, present: Container[str]) -> list[str]:
    """The names of ``agent``'s pjsua processes found in ``present``, the first first (``process_name``'s order)."""
    names: list[str] = []
    while (name := process_name(agent, len(names))) in present:
        names.append(name)
    return names


def load_share(agent: Agent, load: Load | None) -> int:
    """How many calls an agent of the load must hold at once, all its processes together (0: not in the load)."""
    if load is None or (agent.name != load.caller and agent.name not in load.callees):
        return 0
    if agent.name == load.caller:
        return load.max_concurrent
    return -(-load.max_concurrent * load.callees.count(agent.name) // len(load.callees))


def load_processes(agent: Agent, load: Load | None) -> int:
    """How many pjsua processes an agent runs (1 outside a load): one pjsua holds at most
    LOAD_CALLS_PER_PJSUA calls (pjsua is built with PJSUA_MAX_CALLS 512, less a few still ending),
    so an agent of a load that must hold more runs as that many more processes, each its own SIP
    port and RTP span, the calls given to them in turn."""
    return max(1, -(-load_share(agent, load) // LOAD_CALLS_PER_PJSUA))


def load_max_calls(agent: Agent, load: Load | None) -> int:
    """How many calls each pjsua process of a load's agent holds at once (its ``--max-calls``; 0: not in the
    load): its part of the agent's share (``load_process_cap``) plus a few still ending."""
    if not load_share(agent, load):
        return 0
    return min(PJSUA_MAX_CALLS, load_process_cap(agent, load) + LOAD_SPARE_CALLS)


def load_process_cap(agent: Agent, load: Load | None) -> int:
    """The calls one process of the agent may hold at once: its part of the agent's share (the load
    places a call on a process only below it, as on the whole load below ``max_concurrent``)."""
    return -(-load_share(agent, load) // load_processes(agent, load))


def load_callee_process(load: Load, n: int, processes: int) -> int:
    """Which process of its callee takes the load's call number ``n``: the callee's own calls in turn
    (its m-th call goes to process m mod ``processes``), also when ``to:`` lists it more than once."""
    slots = [i for i, c in enumerate(load.callees) if c == load.callees[n % len(load.callees)]]
    return ((n // len(load.callees)) * len(slots) + slots.index(n % len(load.callees))) % processes


def load_rtp_span(agent: Agent, load: Load | None) -> int:
    """RTP/RTCP ports an agent of the load walks through: pjsua takes the next two ports for
    every call and wraps back to its first after the span (``--rtp-port-range``, patch 0003), so
    the span is twice two per call it holds at once, plus a margin, or two per call it places when
    fewer.  Twice: pjsua skips a port in use only a few times before it refuses the call ("Address
    already in use": seen at 50 cps with holds of 8-12 s through a span of just two per call held),
    so the ports ahead of the wrap must be those of calls long ended."""
    held = load_max_calls(agent, load)
    if not held:
        return 0
    planned = load.planned()
    placed = planned if agent.name == load.caller else -(-planned * load.callees.count(agent.name) // len(load.callees))
    placed = -(-placed // load_processes(agent, load))  # each process places (or takes) its part
    return 2 * min(placed, LOAD_RTP_HELD_FACTOR * held) + LOAD_RTP_MARGIN


def _callee_options(agent: Agent, k: tuple) -> list[PjsuaOption]:
    if agent.role is not Role.CALLEE:
        return []
    extra = [PjsuaOption("--answer-header", f"{name}: {value}", k + ("answer_headers", name))
             for name, value in agent.answer_headers]
    if (agent.ring_ms is not None and agent.answer >= 200) or agent.redirect_to:
        # pjsua rings (180) by itself; the driver answers after ring_ms (a redirect with its Contact)
        return [PjsuaOption("--auto-answer", "180", k + ("ring_ms",))] + extra
    return [PjsuaOption("--auto-answer", str(agent.answer), k + ("answer",))] + extra


def _media_options(agent: Agent, k: tuple, rec_path: Path | None) -> list[PjsuaOption]:
    o = []
    if agent.codecs:
        # pjsua applies every --dis-codec, then each --add-codec with a higher
        # priority than the one before: the LAST one listed ranks highest.
        o.append(PjsuaOption("--dis-codec", "*", k + ("codecs",)))
        for i, codec in reversed(list(enumerate(agent.codecs))):
            o.append(PjsuaOption("--add-codec", codec, k + ("codecs", i)))
    if agent.ptime is not None:
        o.append(PjsuaOption("--ptime", str(agent.ptime), k + ("ptime",)))
    # pjmedia drops a packet when pj_rand() % 100 <= PCT (transport_udp.c), i.e. PCT+1
    # percent of them: pass one less to get the rate the scenario asked for.
    for opt, pct, key in (("--tx-drop-pct", agent.impair.tx_loss_pct, "tx_loss_pct"),
                          ("--rx-drop-pct", agent.impair.rx_loss_pct, "rx_loss_pct")):
        if pct:
            o.append(PjsuaOption(opt, str(pct - 1), k + ("impair", key)))
    if agent.srtp.enabled:
        ks = k + ("srtp",)
        o += [
            PjsuaOption("--use-srtp", str(agent.srtp.use.pjsua_value), ks + ("use",)),
            PjsuaOption("--srtp-secure", str(agent.srtp.secure), ks + ("secure",)),
            PjsuaOption("--srtp-keying", "1" if agent.srtp.keying == "dtls" else "0", ks + ("keying",)),
        ]
    else:
        o.append(PjsuaOption("--use-srtp", "0", k))
    if agent.audio.play is not None:
        ka = k + ("audio", "play")
        o.append(PjsuaOption("--play-file", str(agent.audio.play), ka))
        if agent.role is Role.CALLEE:
            o.append(PjsuaOption("--auto-play", None, ka))
        if not agent.audio.loop:
            o.append(PjsuaOption("--auto-play-hangup", None, k + ("audio", "loop")))
    if agent.audio.record and rec_path is not None:
        o.append(PjsuaOption("--rec-file", str(rec_path), k + ("audio", "record")))
        if agent.role is Role.CALLEE:
            o.append(PjsuaOption("--auto-rec", None, k + ("audio", "record")))
    return o


def _account_options(agent: Agent, k: tuple) -> list[PjsuaOption]:
    o = []
    if agent.proxy:
        o.append(PjsuaOption("--outbound", agent.proxy, k + ("proxy",)))
    reg = agent.register
    if reg is not None:
        kr = k + ("register",)
        o += [
            PjsuaOption("--registrar", reg.registrar, kr + ("registrar",)),
            PjsuaOption("--realm", reg.realm, kr + ("realm",)),
            PjsuaOption("--username", reg.username, kr + ("username",)),
            PjsuaOption("--password", reg.password.reveal(), kr + ("password",)),
        ]
        o += [PjsuaOption("--reg-header", f"{name}: {value}", kr + ("headers", name)) for name, value in reg.headers]
    return o


def contact_uri(agent: Agent, sip_port: int) -> str:
    """How other agents dial ``agent``: by its transport (TLS on SIP port + 1); ``[::1]`` for IPv6."""
    host = f"[{agent.address}]" if ":" in agent.address else agent.address
    if agent.transport is Transport.TLS:
        scheme = "sips" if agent.srtp.secure == 2 else "sip"
        suffix = "" if scheme == "sips" else ";transport=tls"
        return f"{scheme}:{agent.user}@{host}:{sip_port + 1}{suffix}"
    if agent.transport is Transport.TCP:
        return f"sip:{agent.user}@{host}:{sip_port};transport=tcp"
    return f"sip:{agent.user}@{host}:{sip_port}"


def plan_run(scenario: Scenario, run_dir: Path, port_base: int, block_size: int, *,
             tls: TlsFiles | None = None, load_region: tuple[int, int] = LOAD_REGION,
             quick_exit: bool = False) -> RunPlan:
    """``tls``: the run's generated certificates, used by agents that bring none
    (every agent gets TLS when any agent of the scenario uses it).
    ``quick_exit``: the pjsua in use has ``--quick-exit`` (callgen's patch 0004)."""
    agents = []
    extra_ports = []
    tcp_callers = {c.caller for c in scenario.calls
                   if (c.callee and scenario.agent(c.callee).transport is Transport.TCP)
                   or (c.uri and "transport=tcp" in c.uri.lower())}
    next_load_rtp = load_region[0]
    slots = sip_slots(scenario)
    for slot, (agent, process) in enumerate(slots):
        i = scenario.agents.index(agent)
        sip_port = agent.port if agent.port is not None else port_base + SIP_STRIDE * slot
        if agent.port is not None:
            extra_ports.append(agent.port)
        rtp_port = port_base + RTP_OFFSET + RTP_PER_AGENT * i
        span = load_rtp_span(agent, scenario.load)
        if span:  # the load's agents take their RTP ports from the run's load region, one span each process
            rtp_port, next_load_rtp = next_load_rtp, next_load_rtp + span
            if next_load_rtp > load_region[1]:
                raise ScenarioError(f"the load needs {next_load_rtp - load_region[0]} RTP ports; the load region has "
                                    f"{load_region[1] - load_region[0]}", location=str(scenario.source))
        if rtp_port + RTP_PER_AGENT > port_base + block_size or SIP_STRIDE * len(slots) > RTP_OFFSET:
            raise ScenarioError(f"too many agents for one port block ({len(slots)} pjsua processes)",
                                location=str(scenario.source))
        name = process_name(agent.name, process)
        log = run_dir / (f"{name}.pjsua.log" if agent.is_pjsua else f"{name}.sipp.out")
        agent_tls = None
        if scenario.uses_tls and agent.is_pjsua:
            agent_tls = agent.tls or tls
            if agent_tls is None:
                raise ValueError("plan_run: the scenario uses TLS but no certificates were given")
        rec = run_dir / f"{name}.rec.wav" if agent.audio.record else None
        agents.append(
            AgentPlan(
                agent=agent,
                sip_port=sip_port,
                rtp_port=rtp_port,
                config_path=run_dir / f"{name}.cfg",
                log_path=log,
                transcript_path=run_dir / f"{name}.transcript.txt",
                options=agent_options(agent, sip_port, rtp_port, log, tls=agent_tls, rec_path=rec,
                                      needs_tcp=agent.name in tcp_callers, load=scenario.load,
                                      quick_exit=quick_exit) if agent.is_pjsua else (),
                process=process,
            )
        )
    extra_ports += outside_ports(scenario)
    # a load's agents walk through RTP ports past the block: capture those ranges too
    spans = tuple((ap.rtp_port, ap.rtp_port + load_rtp_span(ap.agent, scenario.load)) for ap in agents
                  if load_rtp_span(ap.agent, scenario.load))
    by_name = {a.name: a for a in agents}
    calls = tuple(CallPlan(c, c.uri or by_name[c.callee].contact_uri) for c in scenario.calls)
    _check_calls_per_agent(scenario)
    return RunPlan(
        scenario=scenario,
        run_dir=run_dir,
        agents=tuple(agents),
        calls=calls,
        port_ranges=((port_base, port_base + block_size - 1),) + spans,
        extra_ports=tuple(extra_ports),
        notes=load_notes(scenario),
    )


def sip_slots(scenario: Scenario) -> list[tuple[Agent, int]]:
    """(agent, process) of every process of the run, in the order of their SIP port slots: the scenario's
    agents first (slot i: agent i's first process), then the further processes of a load's agents.
    A load agent that must run as several processes is refused where their calls could not be told
    apart: a callee that registers (a registrar has one user's contacts ring together, or only the
    last: each process needs its own user, i.e. another callee in ``to:``) or one over TCP/TLS (the
    verdict tells a caller's processes apart by their SIP source port)."""
    slots = [(a, 0) for a in scenario.agents]
    for agent in scenario.agents:
        n = load_processes(agent, scenario.load)
        if n == 1:
            continue
        key = ("load", "max_concurrent")
        share = load_share(agent, scenario.load)
        if agent.name != scenario.load.caller and agent.register is not None:
            raise scenario.source_map.error(key, f"callee '{agent.name}' would hold {share} calls at once, more than one "
                                                 f"pjsua holds ({LOAD_CALLS_PER_PJSUA}), and it registers: list more "
                                                 f"callees in load.to (each its own user), e.g. [{agent.name}, another]")
        if agent.port is not None:
            raise scenario.source_map.error(key, f"agent '{agent.name}' would hold {share} calls at once, more than one "
                                                 f"pjsua holds ({LOAD_CALLS_PER_PJSUA}), and its port is fixed: "
                                                 f"several processes need a SIP port each")
        if agent.transport is not Transport.UDP:
            raise scenario.source_map.error(key, f"agent '{agent.name}' would hold {share} calls at once, more than one "
                                                 f"pjsua holds ({LOAD_CALLS_PER_PJSUA}); several pjsua processes of "
                                                 f"one agent are told apart over UDP only")
        taken = {a.name for a in scenario.agents}
        for process in range(1, n):
            if process_name(agent.name, process) in taken:
                raise scenario.source_map.error(key, f"agent '{agent.name}' runs as {n} pjsua processes, named "
                                                     f"{agent.name}-p2...; an agent is already named "
                                                     f"'{process_name(agent.name, process)}'")
            slots.append((agent, process))
    return slots


def sip_offsets(scenario: Scenario) -> list[tuple[int, str]]:
    """(offset in the port block, address) of every SIP port the run's processes bind (and the TLS
    port next to each): what a port block must have free (``acquire_block``)."""
    return [(SIP_STRIDE * slot + k, agent.address) for slot, (agent, _) in enumerate(sip_slots(scenario))
            for k in (0, 1)]


def load_notes(scenario: Scenario) -> tuple[str, ...]:
    """How callgen sized a load's agents: the pjsua processes of each and the calls each holds."""
    load = scenario.load
    if load is None:
        return ()
    notes = []
    for agent in scenario.agents:
        n = load_processes(agent, load)
        if not load_share(agent, load):
            continue
        names = ", ".join(process_name(agent.name, p) for p in range(n))
        how = ("the calls placed by each in turn" if agent.name == load.caller else "its calls given to each in turn")
        why = (f": {load_share(agent, load)} calls at once, one pjsua holds at most {LOAD_CALLS_PER_PJSUA}"
               if n > 1 else "")
        notes.append(f"load: {agent.name} runs as {n} pjsua process{'es' if n > 1 else ''} ({names}), "
                     f"each --max-calls {load_max_calls(agent, load)}{', ' + how if n > 1 else ''}{why}")
    return tuple(notes)


_SIP_URI = re.compile(r"^(sips?):(?:[^@;>]*@)?(\[[^\]]+\]|[^:;>?]+)(?::(\d{1,5}))?([^>]*)", re.I)


def uri_port(uri: str) -> int | None:
    """The port a SIP URI is reached on (RFC 3263 defaults: 5060, 5061 for sips: or TLS)."""
    m = _SIP_URI.match(uri.strip().strip("<>"))
    if m is None:
        return None
    if m[3]:
        return int(m[3])
    return 5061 if m[1].lower() == "sips" or "transport=tls" in m[4].lower() else 5060


def outside_ports(scenario: Scenario) -> list[int]:
    """Ports of the parties outside the run (dialled URIs, registrars, outbound
    proxies): the capture must hold their traffic too, e.g. SIP over TCP that
    pjsua sends from an ephemeral port of its own."""
    uris = [c.uri for c in scenario.calls if c.uri]
    uris += [s.uri for c in scenario.calls for s in c.steps if getattr(s, "uri", None)]  # transfer targets
    uris += [a.redirect_to for a in scenario.agents if a.redirect_to and a.redirect_to.startswith(("sip:", "sips:"))]
    for a in scenario.agents:
        uris += [u for u in (a.proxy, a.register.registrar if a.register else None) if u]
    return sorted({p for p in map(uri_port, uris) if p is not None})


def _check_calls_per_agent(scenario: Scenario) -> None:
    counts: dict[str, int] = {}
    for c in scenario.calls:
        for name in (c.caller, c.callee):
            if name:
                counts[name] = counts.get(name, 0) + 1
    for name, n in counts.items():
        if n > MAX_CALLS_PER_AGENT:
            raise scenario.source_map.error(("calls",), f"agent '{name}' takes part in {n} calls; at most {MAX_CALLS_PER_AGENT}")
