"""Scenario -> run plan: ports, the pjsua options of every agent, file paths.

The plan is pure data; ``callgen.run.runner`` executes it.  ``plan_run`` takes the
ports block as an argument so the same scenario renders the same way in tests.
"""

from __future__ import annotations

import math
import re
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


@dataclass(frozen=True)
class AgentPlan:
    agent: Agent
    sip_port: int
    rtp_port: int
    config_path: Path
    log_path: Path
    transcript_path: Path
    options: tuple[PjsuaOption, ...]

    @property
    def name(self) -> str:
        return self.agent.name

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

    def agent(self, name: str) -> AgentPlan:
        return next(a for a in self.agents if a.name == name)

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


def load_max_calls(agent: Agent, load: Load | None) -> int:
    """How many calls an agent of the load must hold at once (0: not in the load).  One
    pjsua process per side holds them all: pjsua is built with PJSUA_MAX_CALLS 512."""
    if load is None or (agent.name != load.caller and agent.name not in load.callees):
        return 0
    share = load.max_concurrent if agent.name == load.caller else -(-load.max_concurrent * load.callees.count(agent.name)
                                                                     // len(load.callees))
    return min(PJSUA_MAX_CALLS, share + LOAD_SPARE_CALLS)


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
    for i, agent in enumerate(scenario.agents):
        sip_port = agent.port if agent.port is not None else port_base + SIP_STRIDE * i
        if agent.port is not None:
            extra_ports.append(agent.port)
        rtp_port = port_base + RTP_OFFSET + RTP_PER_AGENT * i
        span = load_rtp_span(agent, scenario.load)
        if span:  # the load's agents take their RTP ports from the run's load region, one span each
            rtp_port, next_load_rtp = next_load_rtp, next_load_rtp + span
            if next_load_rtp > load_region[1]:
                raise ScenarioError(f"the load needs {next_load_rtp - load_region[0]} RTP ports; the load region has "
                                    f"{load_region[1] - load_region[0]}", location=str(scenario.source))
        if rtp_port + RTP_PER_AGENT > port_base + block_size:
            raise ScenarioError(f"too many agents for one port block ({len(scenario.agents)})", location=str(scenario.source))
        log = run_dir / (f"{agent.name}.pjsua.log" if agent.is_pjsua else f"{agent.name}.sipp.out")
        agent_tls = None
        if scenario.uses_tls and agent.is_pjsua:
            agent_tls = agent.tls or tls
            if agent_tls is None:
                raise ValueError("plan_run: the scenario uses TLS but no certificates were given")
        rec = run_dir / f"{agent.name}.rec.wav" if agent.audio.record else None
        agents.append(
            AgentPlan(
                agent=agent,
                sip_port=sip_port,
                rtp_port=rtp_port,
                config_path=run_dir / f"{agent.name}.cfg",
                log_path=log,
                transcript_path=run_dir / f"{agent.name}.transcript.txt",
                options=agent_options(agent, sip_port, rtp_port, log, tls=agent_tls, rec_path=rec,
                                      needs_tcp=agent.name in tcp_callers, load=scenario.load,
                                      quick_exit=quick_exit) if agent.is_pjsua else (),
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
    )


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
