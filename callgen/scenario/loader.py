"""Scenario file -> validated, frozen ``Scenario``.

Validation happens before any process starts: YAML syntax and the JSON Schema
first (``callgen.scenario.schema``), then rules a schema cannot express (a call's
'from' must be a caller, fixed ports must not clash...).  Every error names
file, line and key path.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from callgen.errors import ScenarioError, ScenarioErrors
from callgen.scenario.headers import parse_header_expects, parse_headers
from callgen.scenario.model import (
    Agent,
    AudioConfig,
    AudioExpect,
    Call,
    CallExpect,
    CallState,
    DtmfExpect,
    DtmfMethod,
    DtmfStep,
    HangupStep,
    Impairment,
    Load,
    LoadCapture,
    LoadExpect,
    ParsedScenario,
    PauseStep,
    Registration,
    Role,
    RtpExpect,
    Scenario,
    Secret,
    SetupMsExpect,
    SippSpec,
    SrtpConfig,
    SrtpUse,
    Step,
    TlsFiles,
    TransferStep,
    Transport,
    WaitStep,
    leg_roles,
)
from callgen.scenario.schema import schema_errors
from callgen.scenario.steps import DEFAULT_WAIT_TIMEOUT, StepSource, parse_step
from callgen.scenario.targets import SBC_KEYS, Resolver, local_targets, resolve_target, target_variables
from callgen.scenario.yamlsrc import SourceMap, load_yaml

DEFAULT_TIMEOUT = 60.0
DEFAULT_HANGUP_AFTER = 1.0
#: Reference rates ``callgen.analysis.pesqscore`` resamples to 8/16 kHz with small ratios.
PESQ_REFERENCE_RATES = (8000, 16000, 32000, 48000)


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_scenario(path: Path | str, *, variables: Mapping[str, str] | None = None,
                  environ: Mapping[str, str] | None = None, resolver: Resolver = resolve_target) -> Scenario:
    """Load, validate and model one scenario file; raise ScenarioError(s) on any problem.

    ``${NAME}`` (or ``${NAME:-default}``) in any string takes ``variables``
    (--var) first, then the environment, then the scenario's resolved ``targets``
    (a target given by --var or the environment is not looked up).
    """
    return bind_scenario(parse_scenario(path), variables=variables, environ=environ, resolver=resolver)


def parse_scenario(path: Path | str) -> ParsedScenario:
    """Read the file: YAML (with its limits and line numbers), a mapping at the top.
    The only I/O of loading; everything that depends on variables is ``bind_scenario``'s."""
    path = Path(path)
    data, smap = load_yaml(path, _display_path(path))
    if not isinstance(data, dict):
        raise smap.error((), "a scenario is a mapping with 'name', 'agents' and 'calls'")
    return ParsedScenario(path, data, smap)


def bind_scenario(parsed: ParsedScenario, *, variables: Mapping[str, str] | None = None,
                  environ: Mapping[str, str] | None = None, resolver: Resolver = resolve_target,
                  targets: Mapping[str, str] | None = None) -> Scenario:
    """Variables and targets into a parsed file, then the schema and the model's own rules.

    ``targets``: values for target names that are already known (a run binds the address
    of the local system it started, and what other targets resolved to the first time):
    they are neither looked up nor started again."""
    data, smap = parsed.document, parsed.source_map
    env = os.environ if environ is None else environ
    given = {**env, **(variables or {})}
    known = {**(targets or {}), **given}
    resolved = target_variables(data, known, smap, resolver)
    lookup = {**(targets or {}), **resolved, **given}
    data = _substitute(data, (), lookup, smap)  # a new tree: the parsed document stays as read
    errors = schema_errors(data, smap)
    if errors:
        raise errors[0] if len(errors) == 1 else ScenarioErrors(errors)
    local = local_targets(data, known)  # again, now with substituted passwords
    scenario = _build(data, smap, parsed.path)
    return dataclasses.replace(scenario, local_targets=local, variables=tuple(sorted((variables or {}).items())),
                               parsed=parsed, resolved_targets=tuple(sorted({**(targets or {}), **resolved}.items())))


def _substitute(node: Any, path: tuple, lookup: Mapping[str, str], smap: SourceMap) -> Any:
    if isinstance(node, dict):
        return {k: _substitute(v, path + (k,), lookup, smap) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, path + (i,), lookup, smap) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:
        def repl(m: re.Match) -> str:
            if m[1] in lookup:
                return lookup[m[1]]
            if m[2] is not None:
                return m[2]
            raise smap.error(path, f"variable ${{{m[1]}}} is not set (give --var {m[1]}=VALUE or set it in the environment)")

        return VARIABLE.sub(repl, node)
    return node


def _build(data: dict[str, Any], smap: SourceMap, path: Path) -> Scenario:
    problems: list[ScenarioError] = []
    agents = tuple(_agent(name, spec, path.parent, smap, problems) for name, spec in data["agents"].items())
    by_name = {a.name: a for a in agents}
    _check_ports(agents, smap, problems)
    _check_redirects(agents, smap, problems)
    calls = []
    for i, spec in enumerate(data.get("calls", ())):
        try:
            calls.append(_call(i, spec, by_name, smap))
        except ScenarioError as exc:
            problems.append(exc)
    _check_groups(calls, smap, problems)
    _check_ip_versions(agents, calls, smap, problems)
    _check_pauses(calls, float(data.get("timeout", DEFAULT_TIMEOUT)), smap, problems)
    _check_local_targets(data.get("targets") or {}, smap, problems)
    load = _load(data["load"], by_name, float(data.get("timeout", DEFAULT_TIMEOUT)), smap, problems) if "load" in data else None
    if problems:
        raise problems[0] if len(problems) == 1 else ScenarioErrors(problems)
    scenario = Scenario(
        name=data["name"],
        description=data.get("description", "").strip(),
        tags=tuple(data.get("tags", ())),
        timeout=float(data.get("timeout", DEFAULT_TIMEOUT)),
        agents=agents,
        calls=tuple(calls),
        source=path,
        load=load,
        source_map=smap,
    )
    return scenario


def _check_local_targets(targets: dict[str, Any], smap: SourceMap, problems: list[ScenarioError]) -> None:
    """The SBC's switches mean nothing to a plain Kamailio: say so instead of ignoring them."""
    for name, spec in targets.items():
        local = spec.get("local") if isinstance(spec, dict) else None
        if isinstance(local, dict) and local.get("kind") == "sbc" and local.get("address") == "::1":
            problems.append(smap.error(("targets", name, "local", "address"),
                                       "a local SBC runs on 127.0.0.1 only (its rtpengine is IPv4); ::1 is for kind kamailio"))
        if not isinstance(local, dict) or local.get("kind") == "sbc":
            continue
        for key in SBC_KEYS:
            if key in local:
                problems.append(smap.error(("targets", name, "local", key),
                                           f"'{key}' is a switch of kind sbc (this target is kind {local.get('kind')})"))


def _load(spec: dict[str, Any], agents: dict[str, Agent], timeout: float, smap: SourceMap,
          problems: list[ScenarioError]) -> Load | None:
    """The load section: its agents exist and play their parts, and the run fits the timeout."""
    key = ("load",)
    callees = tuple(spec["to"]) if isinstance(spec["to"], list) else (spec["to"],)
    found = True
    for k, name, role in [(key + ("from",), spec["from"], Role.CALLER)] + [
            (key + (("to", i) if isinstance(spec["to"], list) else ("to",)), n, Role.CALLEE) for i, n in enumerate(callees)]:
        if name not in agents:
            problems.append(smap.error(k, f"no agent named '{name}' (agents: {', '.join(agents)})"))
            found = False
        elif agents[name].role is not role or not agents[name].is_pjsua:
            problems.append(smap.error(k, f"'{name}' must be a pjsua agent with role {role.value}: load calls go "
                                          f"from one pjsua caller to pjsua callees"))
            found = False
        elif ":" in agents[name].address:
            problems.append(smap.error(k, f"'{name}' is an IPv6 agent ({agents[name].address}): load runs are "
                                          f"IPv4 only for now (their port regions and tests are); use 127.0.0.x"))
            found = False
    hold = spec.get("hold_s", 3)
    hold_min, hold_max = (float(hold["min"]), float(hold["max"])) if isinstance(hold, dict) else (None, float(hold))
    if hold_min is not None and hold_min > hold_max:
        problems.append(smap.error(key + ("hold_s", "min"), f"min {hold_min:g} is above max {hold_max:g}"))
        hold_min = hold_max
    e = spec.get("expect", {})
    sm = e.get("setup_ms", {})
    rtp = e.get("rtp", {})
    load = Load(
        caller=spec["from"], callees=callees, rate=float(spec["rate"]), ramp_s=float(spec.get("ramp_s", 0)),
        max_concurrent=int(spec.get("max_concurrent", 100)), calls=spec.get("calls"),
        duration_s=float(spec["duration_s"]) if "duration_s" in spec else None, hold_s=hold_max, hold_min_s=hold_min,
        seed=int(spec.get("seed", 0)), dtmf=spec.get("dtmf", "none") == "per-call",
        headers=_guard(lambda: parse_headers(spec.get("headers"), key + ("headers",), smap), problems, ()),
        expect=LoadExpect(
            answered_pct_min=e.get("answered_pct_min"), proven_pct_min=float(e.get("proven_pct_min", 100)),
            setup_ms=SetupMsExpect(sm.get("p50_max"), sm.get("p95_max"), sm.get("p99_max"), sm.get("max")),
            max_loss_pct=rtp.get("max_loss_pct"), max_jitter_ms=rtp.get("max_jitter_ms"),
            dtmf_ok_pct_min=e.get("dtmf_ok_pct_min")),
        capture=_load_capture(spec.get("capture", {}), key + ("capture",), smap, problems),
    )
    planned = load.planned()
    if planned < 1:
        problems.append(smap.error(key + ("duration_s",), "no call is due within duration_s at this rate and ramp"))
        return None
    needed = load.offset(planned - 1) + load.hold_s + 10
    if needed > timeout:
        problems.append(smap.error(key, f"the load needs about {needed:.0f} s (last of {planned} calls due at "
                                        f"{load.offset(planned - 1):.1f} s, then held up to {load.hold_s:g} s, plus 10 s to end): "
                                        f"raise 'timeout' (now {timeout:g} s)"))
    shortest = load.hold_s if load.hold_min_s is None else load.hold_min_s
    if load.dtmf and shortest < 0.3 * len(load.digits(planned - 1)) + 1:
        problems.append(smap.error(key + ("hold_s",), f"hold_s {shortest:g} is too short for each call's own "
                                                      f"{len(load.digits(planned - 1))} DTMF digits (about 0.3 s each)"))
    return load if found else None


def _load_capture(spec: dict[str, Any], key: tuple, smap: SourceMap, problems: list[ScenarioError]) -> LoadCapture:
    """load.capture: the disk limit holds the file being written, one being analysed and one waiting."""
    cap = LoadCapture(int(spec.get("max_mb", LoadCapture.max_mb)), spec.get("file_mb"))
    if cap.file_size_mb() * 3 > cap.max_mb:
        problems.append(smap.error(key + (("file_mb",) if "file_mb" in spec else ("max_mb",)),
                                   f"file_mb {cap.file_size_mb()} is more than a third of max_mb {cap.max_mb}: the limit"
                                   " must hold the file being written, one being analysed and one waiting"))
        return LoadCapture(cap.max_mb, max(1, cap.max_mb // 3))
    return cap


#: the host of a SIP URI: an IPv6 literal in brackets, else up to the port or parameters
_URI_HOST = re.compile(r"^sips?:(?:[^@]*@)?(\[[^\]]*\]|[^:;?>]+)")


def _uri_family(uri: str) -> tuple[int, str] | None:
    """(4 or 6, the host) when a URI's host is an IP address literal, else None (a name)."""
    m = _URI_HOST.match(uri)
    if not m:
        return None
    host = m[1]
    try:
        ip = ipaddress.ip_address(host[1:-1] if host.startswith("[") else host)
    except ValueError:
        return None
    return ip.version, ip.compressed


def _family(agent: Agent) -> int:
    return 6 if ":" in agent.address else 4


def _reach_problem(agent: Agent, uri: str) -> str | None:
    """Why ``agent`` cannot reach ``uri``'s host, or None.  An IPv4 agent has only IPv4
    transports and an IPv6 agent only IPv6 ones bound to ::1 (pjsua --ipv6-only)."""
    found = _uri_family(uri)
    if found is None:
        return None
    version, host = found
    if version == 6 and host != "::1":
        return (f"{uri[:60]!r}: an IPv6 host other than ::1 cannot be reached (callgen's IPv6 agents bind the "
                f"loopback ::1 and the capture is on the loopback interface)")
    if version != _family(agent):
        want = "::1" if version == 6 else "127.0.0.1"
        return (f"{uri[:60]!r}: '{agent.name}' is an IPv{_family(agent)} agent ({agent.address}) and has no "
                f"IPv{version} transport; give it address {want!r} to reach an IPv{version} host")
    return None


def _check_ip_versions(agents: tuple[Agent, ...], calls: list[Call], smap: SourceMap,
                       problems: list[ScenarioError]) -> None:
    """Every party an agent talks to is of its own IP version: pjsua runs IPv4 or IPv6 (``::1``) transports, not both."""
    by_name = {a.name: a for a in agents}
    for c in calls:
        caller = by_name.get(c.caller)
        if caller is None:
            continue
        why = _reach_problem(caller, c.uri) if c.uri else None
        callee = by_name.get(c.callee) if c.callee and not c.uri else None
        if callee is not None and _family(callee) != _family(caller):
            why = (f"'{caller.name}' ({caller.address}) and '{callee.name}' ({callee.address}) are of different IP "
                   f"versions; an agent has transports of one version only")
        if why:
            problems.append(smap.error(("calls", c.index, "to"), why))
        for j, st in enumerate(c.steps):
            target = by_name.get(st.to) if isinstance(st, TransferStep) else None
            if target is not None and _family(target) != _family(caller):
                problems.append(smap.error(("calls", c.index, "steps", j, "transfer", "to"),
                                           f"'{target.name}' ({target.address}) is not of the IP version of "
                                           f"'{caller.name}' ({caller.address})"))
    for a in agents:
        for key, uri in ((("register", "registrar"), a.register.registrar if a.register else None), (("proxy",), a.proxy)):
            why = _reach_problem(a, uri) if uri else None
            if why:
                problems.append(smap.error(("agents", a.name) + key, why))
        other = by_name.get(a.redirect_to or "")
        if other is not None and _family(other) != _family(a):
            problems.append(smap.error(("agents", a.name, "redirect_to"),
                                       f"'{other.name}' ({other.address}) is not of the IP version of '{a.name}' ({a.address})"))


def _check_pauses(calls: list[Call], timeout: float, smap: SourceMap, problems: list[ScenarioError]) -> None:
    """Pauses are real time: if they alone outlast the scenario timeout, the run cannot pass."""
    total = 0.0
    group: list[float] = []
    for c in calls:
        spent = sum(s.seconds for s in c.steps if isinstance(s, PauseStep))
        for j, st in enumerate(c.steps):
            if isinstance(st, PauseStep) and st.seconds >= timeout:
                problems.append(smap.error(("calls", c.index, "steps", j, "pause"),
                                           f"pause {st.seconds:g} s is not shorter than the scenario timeout ({timeout:g} s)"))
                return
        if not c.parallel:
            total += max(group, default=0.0)
            group = []
        group.append(spent)
    total += max(group, default=0.0)
    if total >= timeout:
        problems.append(smap.error(("timeout",), f"the pauses alone take {total:g} s, not less than the scenario "
                                   f"timeout ({timeout:g} s); raise 'timeout' or shorten the pauses"))


def _check_groups(calls: list[Call], smap: SourceMap, problems: list[ScenarioError]) -> None:
    """An agent drives one call at a time: no agent twice in a group of parallel calls."""
    busy: set[str] = set()
    for c in calls:
        parties = {c.caller} | ({c.callee} if c.callee else set())
        if not c.parallel:
            busy = set()
        elif c.index == 0:
            problems.append(smap.error(("calls", 0, "parallel"), "the first call has no call before it to run with"))
        clash = parties & busy
        if clash:
            problems.append(smap.error(("calls", c.index, "parallel"),
                                       f"'{sorted(clash)[0]}' is already in a call running at the same time"))
        busy |= parties


def _address(spec: dict[str, Any], key: tuple, smap: SourceMap, problems: list[ScenarioError]) -> str:
    """The agent's address in canonical form (``::1`` however it is written); an IPv6
    agent binds the loopback ``::1`` only (the capture is on the loopback interface)."""
    raw = str(spec.get("address", "127.0.0.1"))
    try:
        ip = ipaddress.ip_address(raw)
    except ValueError:
        return raw  # the schema has refused it
    if ip.version == 6 and not ip.is_loopback:
        problems.append(smap.error(key + ("address",), f"{raw!r}: an IPv6 agent must use the loopback address '::1' "
                                                       "(callgen captures on the loopback interface only)"))
    return ip.compressed


def _agent(name: str, spec: dict[str, Any], base: Path, smap: SourceMap, problems: list[ScenarioError]) -> Agent:
    address = _address(spec, ("agents", name), smap, problems)
    port = spec.get("port", "auto")
    k = ("agents", name)
    role = Role(spec["role"])
    for key in ("answer", "ring_ms", "answer_headers", "redirect_to"):
        if key in spec and role is Role.CALLER:
            problems.append(smap.error(k + (key,), f"'{key}' is for callees; '{name}' is a caller"))
    srtp_spec = spec.get("srtp", {})
    srtp = SrtpConfig(SrtpUse(srtp_spec.get("use", "disabled")), int(srtp_spec.get("secure", 0)), srtp_spec.get("keying", "sdes"))
    transport = Transport(spec.get("transport", "udp"))
    tls = None
    if "tls" in spec:
        t = spec["tls"]
        files = {key: _existing(base, t[key], k + ("tls", key), smap, problems) for key in ("ca_file", "cert_file", "key_file")}
        tls = TlsFiles(files["ca_file"], files["cert_file"], files["key_file"], bool(t.get("verify", True)))
    reg = None
    if "register" in spec:
        r = spec["register"]
        reg = Registration(
            registrar=r["registrar"], username=r.get("username", spec.get("user", name)),
            password=Secret(r.get("password", "")), realm=r.get("realm", "*"),
            expect_success=r.get("expect", "success") == "success", timeout=float(r.get("timeout", 10)),
            headers=_guard(lambda: parse_headers(r.get("headers"), k + ("register", "headers"), smap), problems, ()),
        )
    sipp = None
    if "sipp" in spec:
        sp = spec["sipp"]
        sipp = SippSpec(sp["scenario"], sp.get("call_duration_ms"))
        want = "uas" if role is Role.CALLEE else "uac"
        if sipp.scenario != want:
            problems.append(smap.error(k + ("sipp", "scenario"), f"a {role.value} runs SIPp's '{want}' scenario, not '{sipp.scenario}'"))
        for key in ("codecs", "srtp", "tls", "register", "proxy", "audio", "ring_ms", "display_name", "transport",
                    "answer", "domain", "max_call_s", "ptime", "impair", "answer_headers", "redirect_to"):
            if key in spec:
                problems.append(smap.error(k + (key,), f"'{key}' does not apply to a SIPp agent"))
    audio_spec = spec.get("audio", {})
    if audio_spec.get("loop") is False and role is Role.CALLER:
        problems.append(smap.error(k + ("audio", "loop"), "playing once (loop: false) is for callees: pjsua ties it to --auto-play"))
    play = _existing(base, audio_spec["play"], k + ("audio", "play"), smap, problems) if "play" in audio_spec else None
    if play is not None and play.is_file():
        _check_wav(play, k + ("audio", "play"), smap, problems)
    return Agent(
        name=name,
        role=role,
        user=spec.get("user", name),
        domain=spec.get("domain", address),
        address=address,
        port=None if port == "auto" else int(port),
        answer=int(spec.get("answer", 302 if "redirect_to" in spec else 200)),
        display_name=spec.get("display_name", ""),
        codecs=tuple(spec.get("codecs", ())),
        transport=transport,
        ring_ms=spec.get("ring_ms"),
        srtp=srtp,
        tls=tls,
        register=reg,
        proxy=spec.get("proxy"),
        audio=AudioConfig(play=play, loop=bool(audio_spec.get("loop", True)), record=bool(audio_spec.get("record", False))),
        sipp=sipp,
        max_call_s=spec.get("max_call_s"),
        ptime=spec.get("ptime"),
        impair=Impairment(int(spec.get("impair", {}).get("tx_loss_pct", 0)), int(spec.get("impair", {}).get("rx_loss_pct", 0))),
        answer_headers=_guard(lambda: parse_headers(spec.get("answer_headers"), k + ("answer_headers",), smap), problems, ()),
        redirect_to=spec.get("redirect_to"),
    )


def _guard(parse, problems: list[ScenarioError], default):
    """``parse()``, or ``default`` with its error noted (the other keys are still checked)."""
    try:
        return parse()
    except ScenarioError as exc:
        problems.append(exc)
        return default


def _existing(base: Path, name: str, key: tuple, smap: SourceMap, problems: list[ScenarioError]) -> Path:
    p = (base / name).resolve()
    if p.exists() and not p.is_file():
        problems.append(smap.error(key, f"{p}: not a regular file (pjsua would block on a FIFO or fail on a folder)"))
    elif not p.is_file():
        problems.append(smap.error(key, f"no such file: {p}"))
    return p


def _check_wav(path: Path, key: tuple, smap: SourceMap, problems: list[ScenarioError]) -> None:
    """pjsua's --play-file takes a 16-bit PCM WAV file with sound in it; anything else stops pjsua at start."""
    import wave

    try:
        with wave.open(str(path), "rb") as w:
            width, frames, rate, channels = w.getsampwidth(), w.getnframes(), w.getframerate(), w.getnchannels()
    except (wave.Error, EOFError, OSError) as exc:
        problems.append(smap.error(key, f"{path.name}: not a PCM WAV file ({str(exc)[:80] or 'empty'}); pjsua would refuse it"))
        return
    if width != 2:
        problems.append(smap.error(key, f"{path.name}: {8 * width}-bit samples; pjsua plays 16-bit PCM WAV files"))
    elif frames == 0:
        problems.append(smap.error(key, f"{path.name}: the WAV file holds no samples"))
    else:
        data = _wav_data_bytes(path)
        need = PLAYER_PTIME_MS * rate * channels // 1000
        if data is not None and data < need:
            problems.append(smap.error(key, f"{path.name}: {data} bytes of samples, fewer than pjsua's {need} "
                                            f"({PLAYER_PTIME_MS} ms at {rate} Hz, {channels} channel(s)); "
                                            "pjsua would stop with 'WAVE file too short'"))


#: pjsua's file player reads 20 ms frames (the conference bridge's ptime), and pjmedia's
#: wav_player refuses a file whose data chunk has fewer bytes than ptime * rate * channels / 1000
PLAYER_PTIME_MS = 20


def _wav_data_bytes(path: Path) -> int | None:
    """The bytes of the WAV's data chunk as pjmedia counts them: the declared size, cut to what the
    file holds (pjmedia plays a truncated file).  None when the chunk walk finds no data chunk."""
    import struct

    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if f.read(12)[8:12] != b"WAVE":
                return None
            for _ in range(64):  # a real WAV has a handful of chunks
                head = f.read(8)
                if len(head) < 8:
                    return None
                cid, clen = head[:4], struct.unpack("<I", head[4:])[0]
                if cid == b"data":
                    return min(clen, size - f.tell())
                f.seek(clen + (clen & 1), os.SEEK_CUR)
    except OSError:
        return None
    return None


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
    if "callee" in spec and not to.startswith(("sip:", "sips:")):
        raise smap.error(base + ("callee",), f"'callee' names the agent a URI reaches; 'to' already names the agent '{to}'")
    if to.startswith(("sip:", "sips:")):
        uri = to
        if "callee" in spec:
            callee = _uri_callee(base + ("callee",), spec["callee"], agents, smap)
    elif to not in agents:
        raise smap.error(base + ("to",), f"no agent named '{to}' (agents: {', '.join(agents)})")
    elif agents[to].role is not Role.CALLEE:
        raise smap.error(base + ("to",), f"agent '{to}' has role '{agents[to].role.value}', a call goes to a callee")
    else:
        callee = to
    parties = {caller} | ({callee} if callee else set())
    if agents[caller].sipp is not None and spec.get("steps"):
        raise smap.error(base + ("steps",), f"'{caller}' is a SIPp uac: it places, holds and ends the call by itself; give no steps")
    steps = tuple(_step(base + ("steps", j), s, caller, parties, smap) for j, s in enumerate(spec.get("steps", ())))
    for j, st in enumerate(steps):
        by = getattr(st, "by", None)
        if by and agents[by].sipp is not None:
            raise smap.error(base + ("steps", j), f"'{by}' is a SIPp agent; only pjsua agents take steps")
        if isinstance(st, TransferStep):
            _check_transfer_target(base + ("steps", j, "transfer", "to"), st, parties, agents, smap)
    _check_attended(base, steps, caller, smap)
    _check_attended_direct(base, steps, caller, uri, agents, smap)
    if "steps" not in spec and agents[caller].sipp is None:
        steps = _default_steps(agents[callee] if callee else None, caller, spec.get("expect", {}))
    expect = _expect(base + ("expect",), spec.get("expect", {}), caller, callee, parties, agents, steps, smap)
    _check_secure_transport(base, caller, callee if uri is None else None, agents, smap)
    if uri is not None:
        _check_uri_transport(base + ("to",), uri, caller, agents, smap)
    if agents[caller].sipp is not None and spec.get("headers"):
        raise smap.error(base + ("headers",), f"'{caller}' is a SIPp uac, which sends no extra headers")
    return Call(index=index, caller=caller, callee=callee, uri=uri, steps=steps, expect=expect,
                parallel=bool(spec.get("parallel", False)), headers=parse_headers(spec.get("headers"), base + ("headers",), smap))


def _check_redirects(agents: tuple[Agent, ...], smap: SourceMap, problems: list[ScenarioError]) -> None:
    """A redirecting callee answers 3xx, and its target is another callee agent (or a URI)."""
    by_name = {a.name: a for a in agents}
    for a in agents:
        if a.redirect_to is None:
            continue
        k = ("agents", a.name)
        if not 300 <= a.answer < 400:
            problems.append(smap.error(k + ("answer",), f"a redirect is a 3xx answer; '{a.name}' answers {a.answer}"))
        t = a.redirect_to
        if not t.startswith(("sip:", "sips:")) and (t not in by_name or by_name[t].role is not Role.CALLEE or t == a.name):
            problems.append(smap.error(k + ("redirect_to",), f"'{t}' must be another callee agent (or a SIP URI)"))


def _check_transfer_target(key: tuple, st: TransferStep, parties: set[str], agents: dict[str, Agent],
                           smap: SourceMap) -> None:
    """A transfer goes to a callee agent that is not already in this call (or to a URI)."""
    if st.uri is not None:
        return
    if st.to not in agents:
        raise smap.error(key, f"no agent named '{st.to}' (agents: {', '.join(agents)})")
    if st.to in parties or agents[st.to].role is not Role.CALLEE:
        raise smap.error(key, f"'{st.to}' must be a callee agent that is not a party of this call")


def _check_attended(base: tuple, steps: tuple, caller: str, smap: SourceMap) -> None:
    """An attended transfer is the callee's: it consults the target, then hands the caller over.
    After it the call is the caller's with the target, so only the caller's wait, pause and
    hangup can follow (the transferor has left; a second transfer has no call of its own)."""
    done = None
    for j, st in enumerate(steps):
        key = base + ("steps", j)
        if done is not None and not (isinstance(st, (WaitStep, PauseStep)) or (isinstance(st, HangupStep) and st.by == caller)):
            raise smap.error(key, f"after the attended transfer (step {done + 1}) the call is between '{caller}' and the "
                                  f"target: only wait, pause and 'hangup: {caller}' can follow")
        if isinstance(st, TransferStep) and st.attended:
            if st.by == caller:
                raise smap.error(key + ("transfer", "by"),
                                 f"an attended transfer is made by the callee (it consults the target, then hands the caller "
                                 f"over); '{caller}' is the caller")
            done = j


def _check_attended_direct(base: tuple, steps: tuple, caller: str, uri: str | None, agents: dict[str, Agent],
                           smap: SourceMap) -> None:
    """An attended transfer is proven on the dialogs between the agents' own SIP ports; through a
    proxy or a system under test the consultation and replacing dialogs cannot be told apart yet."""
    for j, st in enumerate(steps):
        if not (isinstance(st, TransferStep) and st.attended):
            continue
        if not st.uri and agents[st.to].sipp is not None:
            raise smap.error(base + ("steps", j, "transfer", "to"),
                             f"'{st.to}' is a SIPp agent, which answers a set number of calls and knows no Replaces; an "
                             f"attended transfer goes to a pjsua agent or to the SIP URI of a far end started by you")
        via = [n for n in (caller, st.by, None if st.uri else st.to) if n and agents[n].proxy]
        if uri is not None or via:
            why = f"'{via[0]}' talks through a proxy" if via else "this call goes to a URI (a system under test)"
            raise smap.error(base + ("steps", j, "transfer", "attended"),
                             f"an attended transfer is checked between agents that talk directly; {why}")


def _uri_callee(key: tuple, name: str, agents: dict[str, Agent], smap: SourceMap) -> str:
    if name not in agents:
        raise smap.error(key, f"no agent named '{name}' (agents: {', '.join(agents)})")
    if agents[name].role is not Role.CALLEE:
        raise smap.error(key, f"agent '{name}' has role '{agents[name].role.value}', a call goes to a callee")
    return name


def _check_secure_transport(base: tuple, caller: str, callee: str | None, agents: dict[str, Agent], smap: SourceMap) -> None:
    """pjsua refuses SRTP with srtp-secure >= 1 unless the call runs over TLS."""
    c = agents[caller]
    if callee is None or not c.srtp.enabled or c.srtp.secure == 0:
        return
    if agents[callee].transport is not Transport.TLS:
        raise smap.error(base + ("to",), f"'{caller}' has srtp.secure {c.srtp.secure}, which needs TLS: "
                         f"give '{callee}' transport: tls (or set srtp.secure: 0)")


def _check_uri_transport(key: tuple, uri: str, caller: str, agents: dict[str, Agent], smap: SourceMap) -> None:
    """A sips: URI or ;transport=tls needs a TLS transport, which pjsua agents get only when
    some agent of the scenario has transport: tls; without one nothing would be sent."""
    low = uri.lower()
    if agents[caller].sipp is not None or not (low.startswith("sips:") or ";transport=tls" in low):
        return
    if not any(a.transport is Transport.TLS for a in agents.values()):
        raise smap.error(key, f"'{uri}' needs TLS, but no agent has a TLS transport: give '{caller}' transport: tls")


def _expect(path: tuple, e: dict[str, Any], caller: str, callee: str | None, parties: set[str],
            agents: dict[str, Agent], steps: tuple[Step, ...], smap: SourceMap) -> CallExpect:
    dur = e.get("duration_s", {})
    rtp = RtpExpect(int(e["rtp"].get("min_packets", 1)), e["rtp"].get("max_loss_pct"), e["rtp"].get("max_jitter_ms"),
                    e["rtp"].get("mos_min"), e["rtp"].get("leg")) if "rtp" in e else None
    leg = e.get("leg", "both")
    _check_legs(path, e, callee, smap)
    dtmf = None
    if "dtmf" in e:
        d = e["dtmf"]
        receiver = d.get("receiver")
        if receiver is not None and receiver not in parties:
            raise smap.error(path + ("dtmf", "receiver"), f"'{receiver}' is not a party of this call")
        if receiver is None:
            senders = {s.by for s in steps if isinstance(s, DtmfStep)} or {caller}
            others = sorted(parties - senders)
            receiver = others[0] if others else None
        dtmf = DtmfExpect(d["digits"].upper(), DtmfMethod(d["method"]) if "method" in d else None, receiver, d.get("leg"))
    codec_legs = _codec_legs(e.get("codec"), leg)
    if codec_legs:
        _check_codec_legs(path + ("codec",), codec_legs, agents[caller], agents[callee] if callee else None, smap)
    audio = []
    specs = e.get("audio", [])
    for n, a in enumerate(specs if isinstance(specs, list) else [specs]):
        key = path + (("audio", n) if isinstance(specs, list) else ("audio",))
        if a["receiver"] not in parties:
            raise smap.error(key + ("receiver",), f"'{a['receiver']}' is not a party of this call")
        if not agents[a["receiver"]].audio.record:
            raise smap.error(key + ("receiver",), f"'{a['receiver']}' does not record: set agents.{a['receiver']}.audio.record: true")
        audio.append(_audio_expect(key, a, parties, agents, smap))
        _check_audio_fits(key, a, audio[-1], steps, smap)
    srtp_legs = _srtp_legs(e.get("srtp"), leg)
    codec = e.get("codec")
    if "headers" in e and callee is None and not any(a.role is Role.CALLEE for a in agents.values()):
        raise smap.error(path + ("headers",), "headers are checked on the INVITE that reached a callee agent; "
                                              "this scenario has none")
    return CallExpect(
        final_code=e.get("final_code"), codec=codec if isinstance(codec, str) else (codec_legs[0][1] if codec_legs else None),
        answered=e.get("answered"),
        setup_ms_max=e.get("setup_ms_max"), duration_min_s=dur.get("min"), duration_max_s=dur.get("max"),
        srtp=any(v for _, v in srtp_legs) if srtp_legs else None, rtp=rtp, dtmf=dtmf, audio=tuple(audio),
        leg=leg, codec_legs=codec_legs, srtp_legs=srtp_legs, media=e.get("media"), call_id=e.get("call_id"),
        headers=parse_header_expects(e.get("headers"), path + ("headers",), smap),
    )


def _codec_legs(codec: Any, leg: str) -> tuple[tuple[str, str], ...]:
    if codec is None:
        return ()
    if isinstance(codec, dict):
        return tuple((r, codec[r]) for r in ("caller", "callee") if r in codec)
    return tuple((r, codec) for r in leg_roles(leg))


def _srtp_legs(srtp: Any, leg: str) -> tuple[tuple[str, bool], ...]:
    if srtp is None:
        return ()
    if isinstance(srtp, bool):
        return tuple((r, srtp) for r in leg_roles(leg))
    out = {r: True for r in leg_roles(srtp["leg"])} if "leg" in srtp else {}
    out.update({r: bool(srtp[r]) for r in ("caller", "callee") if r in srtp})
    return tuple((r, out[r]) for r in ("caller", "callee") if r in out)


def _check_legs(path: tuple, e: dict[str, Any], callee: str | None, smap: SourceMap) -> None:
    """A call to an outside party has only the caller's leg: the callee's cannot be asked for."""
    if callee is not None:
        return
    places = [("leg",), ("rtp", "leg"), ("dtmf", "leg"), ("srtp", "leg"), ("srtp", "callee"), ("codec", "callee"),
              ("call_id",)]
    for where in places:
        node: Any = e
        for k in where:
            node = node.get(k) if isinstance(node, dict) else None
        if node is not None and (node == "callee" or where[-1] in ("callee", "call_id")):
            raise smap.error(path + where, "this call has no callee's leg: 'to' is an outside party (name the agent it "
                                           "reaches with 'callee')")


def _check_codec_legs(key: tuple, codec_legs: tuple[tuple[str, str], ...], caller: Agent, callee: Agent | None,
                      smap: SourceMap) -> None:
    """A codec can only be selected on a leg if that leg's agent offers (caller) or accepts (callee) it;
    with a system between the agents each leg negotiates on its own."""
    for role, want in codec_legs:
        agent = caller if role == "caller" else callee
        if agent is None:
            continue
        base = want.split("/")[0].lower()
        names = [c.split("/")[0].lower() for c in agent.codecs]
        if names and base not in names:
            does = "offers" if role == "caller" else "accepts"
            raise smap.error(key + ((role,) if len(set(w for _, w in codec_legs)) > 1 else ()),
                             f"'{want}' can never be selected: '{agent.name}' {does} only {', '.join(agent.codecs)}")


def _audio_expect(key: tuple, a: dict[str, Any], parties: set[str], agents: dict[str, Agent], smap: SourceMap) -> AudioExpect:
    """One ``expect.audio`` entry; ``pesq_min`` needs the file the sender plays as reference."""
    sender = reference = None
    if "pesq_min" in a or "from" in a:
        others = sorted(parties - {a["receiver"]})
        sender = a.get("from") or (others[0] if others else None)
        where = key + (("from",) if "from" in a else ("pesq_min",))
        if sender is None or sender not in parties or sender == a["receiver"]:
            raise smap.error(where, f"'{sender}' is not the other party of this call" if sender else "no other party to compare with")
        reference = agents[sender].audio.play
        if reference is None:
            raise smap.error(where, f"'{sender}' plays no file to compare with: set agents.{sender}.audio.play")
        rate = _wav_rate(reference)
        if rate is not None and rate not in PESQ_REFERENCE_RATES:
            raise smap.error(where, f"{reference.name} is sampled at {rate} Hz; PESQ compares at 8 or 16 kHz and callgen "
                             f"resamples only from {', '.join(str(r) for r in PESQ_REFERENCE_RATES)} Hz")
    return AudioExpect(a["receiver"], float(a.get("min_active_s", 1.0)), a.get("tone_hz"), a.get("pesq_min"), sender, reference)


DTMF_DIGIT_MAX_S = 1.0  #: an upper bound on how long pjsua takes to send one DTMF digit


def longest_answered_s(steps: tuple[Step, ...]) -> float | None:
    """At most how long the call is up after it is answered, from its steps (pauses, DTMF,
    waits at their timeouts, up to the hangup); None when no step of it ends the call."""
    answered, total = False, 0.0
    for st in steps:
        if isinstance(st, WaitStep) and st.state is CallState.CONFIRMED and not answered:
            answered = True
        elif not answered:
            continue
        elif isinstance(st, WaitStep):
            total += st.timeout
        elif isinstance(st, PauseStep):
            total += st.seconds
        elif isinstance(st, DtmfStep):
            total += DTMF_DIGIT_MAX_S * len(st.digits.replace(",", "")) + st.digits.count(",") * st.pause_ms / 1000
        elif isinstance(st, HangupStep):
            return total
    return None


def _check_audio_fits(key: tuple, a: dict[str, Any], want: AudioExpect, steps: tuple[Step, ...], smap: SourceMap) -> None:
    """Refuse what the scripted call is too short for: more signal than it lasts, or PESQ
    (which needs 4 s of heard sound) on a shorter call."""
    from callgen.analysis.pesqscore import MIN_HEARD_S

    up = longest_answered_s(steps)
    if up is None:
        return
    if want.min_active_s > up:
        raise smap.error(key + (("min_active_s",) if "min_active_s" in a else ()),
                         f"{want.min_active_s:g} s of signal cannot be recorded: the call is hung up at most {up:g} s "
                         "after it is answered (lengthen its pause or lower min_active_s)")
    if want.pesq_min is not None and up < MIN_HEARD_S:
        raise smap.error(key + ("pesq_min",), f"the call is hung up at most {up:g} s after it is answered; PESQ needs at "
                         f"least {MIN_HEARD_S:g} s of heard sound (lengthen its pause)")


def _wav_rate(path: Path) -> int | None:
    """The sample rate of a WAV file; None when unreadable (``_check_wav`` reports that)."""
    import wave

    try:
        with wave.open(str(path), "rb") as w:
            return w.getframerate()
    except (wave.Error, EOFError, OSError):
        return None


def _default_steps(callee: Agent | None, caller: str, expect: dict[str, Any]) -> tuple[Step, ...]:
    """Wait for the end of a call that is to be refused (the callee answers >= 300, or
    ``expect`` asks for a final code >= 300 or no answer: a URI's far end is known only
    by that); else answer, hold the call a moment and hang up."""
    code = expect.get("final_code") if isinstance(expect, dict) else None
    refused = (callee is not None and callee.answer >= 300 and not callee.redirect_to) or (isinstance(code, int) and code >= 300) \
        or (isinstance(expect, dict) and expect.get("answered") is False)
    if refused:
        return (WaitStep(CallState.DISCONNECTED, DEFAULT_WAIT_TIMEOUT),)
    return (
        WaitStep(CallState.CONFIRMED, DEFAULT_WAIT_TIMEOUT),
        PauseStep(DEFAULT_HANGUP_AFTER),
        HangupStep(caller),
        WaitStep(CallState.DISCONNECTED, DEFAULT_WAIT_TIMEOUT),
    )


def _step(path: tuple, spec: dict[str, Any], caller: str, parties: set[str], smap: SourceMap) -> Step:
    """One step, parsed by its kind's entry in ``callgen.scenario.steps``."""
    return parse_step(spec, StepSource(path, caller, frozenset(parties), smap))
