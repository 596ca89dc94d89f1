"""The validated, frozen scenario model.

Built by ``callgen.scenario.loader`` from a schema-valid document; everything after the
loader works on these types only (no raw dicts travel between layers).
"""

from __future__ import annotations

import dataclasses
import enum
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callgen.scenario.headers import HeaderExpect
from callgen.scenario.yamlsrc import SourceMap

#: Extra SIP headers, (name, value) in the order written (callgen.scenario.headers)
Headers = tuple[tuple[str, str], ...]


class Role(str, enum.Enum):
    CALLER = "caller"
    CALLEE = "callee"


class Transport(str, enum.Enum):
    UDP = "udp"
    TCP = "tcp"
    TLS = "tls"


class SrtpUse(str, enum.Enum):
    """pjsua --use-srtp values."""

    DISABLED = "disabled"  # 0
    OPTIONAL = "optional"  # 1
    MANDATORY = "mandatory"  # 2
    OPTIONAL_DUPLICATED = "optional-duplicated"  # 3

    @property
    def pjsua_value(self) -> int:
        return list(SrtpUse).index(self)


class DtmfMethod(str, enum.Enum):
    RFC2833 = "rfc2833"
    INFO = "info"


class Secret(str):
    """A string that never shows itself in reprs, logs or reports."""

    def __repr__(self) -> str:
        return "Secret('***')"

    def reveal(self) -> str:
        return str.__str__(self)


@dataclass(frozen=True)
class SrtpConfig:
    use: SrtpUse = SrtpUse.DISABLED
    secure: int = 0  #: pjsua --srtp-secure: 0 none, 1 TLS, 2 SIPS
    keying: str = "sdes"  #: sdes | dtls

    @property
    def enabled(self) -> bool:
        return self.use is not SrtpUse.DISABLED


@dataclass(frozen=True)
class TlsFiles:
    ca_file: Path
    cert_file: Path
    key_file: Path
    verify: bool = True


@dataclass(frozen=True)
class Registration:
    registrar: str
    username: str
    password: Secret
    realm: str = "*"
    expect_success: bool = True
    timeout: float = 10.0
    headers: Headers = ()  #: extra headers of each REGISTER (pjsua --reg-header)


@dataclass(frozen=True)
class AudioConfig:
    play: Path | None = None
    loop: bool = True
    record: bool = False


@dataclass(frozen=True)
class Impairment:
    """Loss an agent inflicts on its own media (``impair:``), in percent of RTP packets."""

    tx_loss_pct: int = 0  #: not sent (visible in the capture)
    rx_loss_pct: int = 0  #: received, then thrown away (visible in RTCP and the recording)


@dataclass(frozen=True)
class SippSpec:
    """An agent played by SIPp's built-in uas/uac scenario instead of pjsua."""

    scenario: str  #: "uas" | "uac"
    call_duration_ms: int | None = None


@dataclass(frozen=True)
class LocalTarget:
    """A system under test callgen starts for each run (``targets: {X: {local: ...}}``)."""

    name: str  #: the variable it provides, e.g. KAMAILIO
    kind: str  #: "kamailio" | "sbc"
    password: Secret
    port: int | None = None  #: fixed UDP port; None: a free one per run
    sbc: SbcSwitches | None = None  #: what a kind "sbc" does besides relaying
    address: str = "127.0.0.1"  #: loopback address it listens on ("::1": IPv6)


@dataclass(frozen=True)
class SbcSwitches:
    """A local SBC's switches (``local: {kind: sbc, ...}``)."""

    mask_callid: bool = False
    srtp_to_rtp: bool = False
    transcode: tuple[str, str] | None = None  #: (from, to)
    block_media: str | None = None  #: "caller": the caller's audio is dropped
    block_dtmf: str | None = None  #: "caller": the caller's DTMF is dropped


class CallState(str, enum.Enum):
    """States a step can wait for, in the order a call goes through them."""

    RINGING = "ringing"  #: a 180/183 arrived
    EARLY = "early"  #: any provisional response that creates an early dialog
    CONFIRMED = "confirmed"  #: answered and ACKed
    DISCONNECTED = "disconnected"  #: ended, by either side, or rejected


@dataclass(frozen=True)
class Agent:
    name: str
    role: Role
    user: str
    domain: str
    address: str
    port: int | None  #: None = choose a free port per run
    answer: int = 200
    display_name: str = ""
    codecs: tuple[str, ...] = ()
    transport: Transport = Transport.UDP
    ring_ms: int | None = None
    srtp: SrtpConfig = SrtpConfig()
    tls: TlsFiles | None = None
    register: Registration | None = None
    proxy: str | None = None
    audio: AudioConfig = AudioConfig()
    sipp: SippSpec | None = None
    max_call_s: int | None = None
    ptime: int | None = None  #: audio packet duration in ms (pjsua --ptime); None: the codec's own
    impair: Impairment = Impairment()
    answer_headers: Headers = ()  #: extra headers of every answer to an incoming call (pjsua --answer-header)
    redirect_to: str | None = None  #: answer with a 3xx whose Contact is this callee agent (or SIP URI)

    @property
    def is_pjsua(self) -> bool:
        return self.sipp is None


@dataclass(frozen=True)
class WaitStep:
    state: CallState
    timeout: float = 10.0


@dataclass(frozen=True)
class PauseStep:
    seconds: float


@dataclass(frozen=True)
class HangupStep:
    by: str  #: agent name


@dataclass(frozen=True)
class DtmfStep:
    digits: str  #: 0-9 * # A-D, ',' = pause
    method: DtmfMethod = DtmfMethod.RFC2833
    pause_ms: int = 500
    by: str = ""  #: agent name


@dataclass(frozen=True)
class HoldStep:
    by: str
    release: bool = False  #: True: unhold


@dataclass(frozen=True)
class TransferStep:
    """Blind transfer: ``by`` (a party) REFERs the other party to callee agent ``to``.
    ``attended``: ``by`` (the callee) first calls ``to`` itself (the consultation call), then
    REFERs the caller to ``to`` with ``Replaces`` naming that call's dialog (RFC 3891)."""

    by: str
    to: str  #: a callee agent's name, or a SIP URI outside the scenario
    attended: bool = False

    @property
    def uri(self) -> str | None:
        return self.to if self.to.startswith(("sip:", "sips:")) else None


Step = WaitStep | PauseStep | HangupStep | DtmfStep | HoldStep | TransferStep


#: which leg(s) of a call an expectation is about (``leg:``): the caller's (caller <-> the
#: system under test), the callee's (the system under test <-> callee), or both; a call
#: without a system between its agents has one leg, which is both
LEGS = ("caller", "callee", "both")


def leg_roles(leg: str | None) -> tuple[str, ...]:
    """The leg roles a ``leg:`` value names (None or "both": both)."""
    return ("caller", "callee") if leg in (None, "both") else (leg,)


@dataclass(frozen=True)
class RtpExpect:
    min_packets: int = 1
    max_loss_pct: float | None = None
    max_jitter_ms: float | None = None
    mos_min: float | None = None  #: E-model MOS each direction must reach
    leg: str | None = None  #: caller | callee | both; None: the call's ``expect.leg``


@dataclass(frozen=True)
class DtmfExpect:
    digits: str
    method: DtmfMethod | None = None
    receiver: str | None = None
    #: caller | callee | both: the digits are proven on the receiver's leg; "both" (the
    #: default) also proves them on the sender's leg, so a relay that drops them is named
    leg: str | None = None


@dataclass(frozen=True)
class AudioExpect:
    receiver: str
    min_active_s: float = 1.0
    tone_hz: float | None = None
    pesq_min: float | None = None  #: PESQ MOS-LQO of the recording against ``sender``'s file
    sender: str | None = None  #: whose ``audio.play`` file is the PESQ reference
    reference: Path | None = None  #: that file


@dataclass(frozen=True)
class CallExpect:
    final_code: int | None = None
    codec: str | None = None
    answered: bool | None = None
    setup_ms_max: float | None = None
    duration_min_s: float | None = None
    duration_max_s: float | None = None
    srtp: bool | None = None
    rtp: RtpExpect | None = None
    dtmf: DtmfExpect | None = None
    audio: tuple[AudioExpect, ...] = ()
    leg: str = "both"  #: the legs rtp/srtp/codec/dtmf are checked on unless they say otherwise
    #: per leg (role, codec) when a system between the agents may select other codecs per leg
    codec_legs: tuple[tuple[str, str], ...] = ()
    #: per leg (role, SRTP wanted): from ``srtp: true|false`` on the legs in scope, or the
    #: mapping form (``srtp: {leg: caller}``, ``srtp: {caller: true, callee: false}``)
    srtp_legs: tuple[tuple[str, bool], ...] = ()
    media: str | None = None  #: "anchored" (the SUT relays media) | "direct" (agents exchange it) | None
    call_id: str | None = None  #: "same" | "changed": the callee's leg's Call-ID against the caller's

    def codec_for(self, role: str) -> str | None:
        """The codec expected on ``role``'s leg (None: not checked there)."""
        return dict(self.codec_legs).get(role)

    def srtp_for(self, role: str) -> bool | None:
        """SRTP (True) or plain RTP (False) expected on ``role``'s leg; None: not checked there."""
        return dict(self.srtp_legs).get(role)
    headers: tuple[HeaderExpect, ...] = ()  #: on the INVITE that reached the callee


@dataclass(frozen=True)
class Call:
    index: int
    caller: str  #: agent name
    callee: str | None  #: agent name, or None when ``uri`` names an outside party
    uri: str | None  #: explicit target URI (outside party)
    steps: tuple[Step, ...]
    expect: CallExpect
    parallel: bool = False  #: starts together with the previous call
    headers: Headers = ()  #: extra headers of this call's INVITE (pjsua menu 'k')


@dataclass(frozen=True)
class SetupMsExpect:
    """Bounds on call setup time (INVITE to final response) percentiles, in ms."""

    p50_max: float | None = None
    p95_max: float | None = None
    p99_max: float | None = None
    max: float | None = None

    def bounds(self) -> tuple[tuple[str, float, float], ...]:
        """(name, percentile 0-100, bound) for every bound given."""
        given = (("p50", 50.0, self.p50_max), ("p95", 95.0, self.p95_max), ("p99", 99.0, self.p99_max), ("max", 100.0, self.max))
        return tuple((n, q, b) for n, q, b in given if b is not None)


@dataclass(frozen=True)
class LoadExpect:
    """Thresholds over all the calls of a load run; each becomes a named check."""

    answered_pct_min: float | None = None
    proven_pct_min: float = 100.0
    setup_ms: SetupMsExpect = SetupMsExpect()
    max_loss_pct: float | None = None
    max_jitter_ms: float | None = None
    dtmf_ok_pct_min: float | None = None


@dataclass(frozen=True)
class LoadCapture:
    """A load's capture in bounded files, each proven while the run goes on (``callgen.run.ring``)."""

    max_mb: int = 2000  #: the capture's files on disk together stay within this (MB of 10^6 bytes)
    file_mb: int | None = None  #: a new file every this many MB (default: max_mb / 20, at most 100)

    def file_size_mb(self) -> int:
        return self.file_mb if self.file_mb is not None else max(1, min(100, self.max_mb // 20))


@dataclass(frozen=True)
class Load:
    """Traffic: ``caller`` places calls to ``callees`` (in turn) at ``rate`` per second."""

    caller: str
    callees: tuple[str, ...]
    rate: float
    ramp_s: float = 0.0
    max_concurrent: int = 100
    calls: int | None = None
    duration_s: float | None = None
    hold_s: float = 3  #: the longest hold (``hold_s: N``, or the ``max`` of ``hold_s: {min, max}``)
    hold_min_s: float | None = None  #: ``hold_s: {min, max}``: each call's hold is drawn from [min, max]
    seed: int = 0  #: the draw of the holds (``hold(k)``) is this seed's, the same in every run and share
    dtmf: bool = False  #: each call sends its own digits (``digits(k)``)
    headers: tuple[tuple[str, str], ...] = ()  #: extra INVITE headers of every call, ``{n}`` its global number
    expect: LoadExpect = LoadExpect()
    share: tuple[int, int] = (0, 1)  #: (index, count): this process runs share ``index`` of ``count``
    capture: LoadCapture = LoadCapture()  #: the capture's disk limit and file size

    def shared(self, index: int, count: int) -> Load:
        """Share ``index`` of ``count`` (Kubernetes Indexed Job pods, or processes on one machine):
        its part of the rate, of max_concurrent and of the calls; its calls keep their global
        numbers (callee, digits), so the shares together are the whole load."""
        calls = None if self.calls is None else self.calls // count + (1 if index < self.calls % count else 0)
        return dataclasses.replace(self, rate=self.rate / count, max_concurrent=-(-self.max_concurrent // count),
                                   calls=calls, share=(index, count))

    def number(self, k: int) -> int:
        """The global number of this share's ``k``-th call."""
        return k * self.share[1] + self.share[0]

    def offset(self, k: int) -> float:
        """Seconds after the start at which call ``k`` (0-based) is due: the rate rises
        linearly over ``ramp_s`` (n(t) = rate t^2 / 2 ramp), then stays."""
        in_ramp = self.rate * self.ramp_s / 2
        phase = self.share[0] / (self.rate * self.share[1])  # the shares' calls interleave
        if self.ramp_s > 0 and k < in_ramp:
            return (2 * k * self.ramp_s / self.rate) ** 0.5 + phase
        return (self.ramp_s + (k - in_ramp) / self.rate if self.ramp_s > 0 else k / self.rate) + phase

    def planned(self) -> int:
        """How many calls the run places: ``calls``, or as many as are due within ``duration_s``."""
        by_time = None
        if self.duration_s is not None:
            by_time = 0
            while self.offset(by_time) < self.duration_s:
                by_time += 1
        if self.calls is not None and by_time is not None:
            return min(self.calls, by_time)
        return self.calls if self.calls is not None else int(by_time or 0)

    def callee(self, k: int) -> str:
        return self.callees[self.number(k) % len(self.callees)]

    def hold(self, k: int) -> float:
        """Call ``k``'s hold in seconds (0.1 s steps): ``hold_s``, or drawn from [min, max] by the seed and
        the call's global number (so a share or a rerun draws the same hold for the same call)."""
        if self.hold_min_s is None:
            return float(self.hold_s)
        draw = random.Random(f"callgen-load-hold:{self.seed}:{self.number(k)}").uniform(self.hold_min_s, self.hold_s)
        return round(draw, 1)

    def call_headers(self, k: int) -> tuple[tuple[str, str], ...]:
        """Call ``k``'s own headers: ``{n}`` in a value becomes its global number."""
        return tuple((name, value.replace("{n}", str(self.number(k)))) for name, value in self.headers)  # as verdict/load.py

    def digits(self, k: int) -> str:
        """Call ``k``'s own DTMF digits: its global number, at least 3 digits, then '#' (unique per call)."""
        return f"{self.number(k):03d}#"


@dataclass(frozen=True)
class ParsedScenario:
    """A scenario file as read (YAML with its source map), before variables and targets
    are bound (``callgen.scenario.loader.bind_scenario``).  Opaque outside the loader,
    which never changes ``document``: binding builds a new tree."""

    path: Path
    document: Any = field(repr=False)
    source_map: SourceMap = field(repr=False)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    tags: tuple[str, ...]
    timeout: float
    agents: tuple[Agent, ...]
    calls: tuple[Call, ...]
    source: Path
    load: Load | None = None  #: a load scenario has this instead of calls
    local_targets: tuple[LocalTarget, ...] = ()
    variables: tuple[tuple[str, str], ...] = ()  #: the --var values it was loaded with
    source_map: SourceMap = field(compare=False, repr=False, default_factory=lambda: SourceMap(file=""))
    #: the file as parsed, so a run can bind it again (a local system's address) without reading it
    parsed: ParsedScenario | None = field(compare=False, repr=False, default=None)
    #: what each target resolved to when bound (not looked up again on a second bind)
    resolved_targets: tuple[tuple[str, str], ...] = field(compare=False, repr=False, default=())

    def agent(self, name: str) -> Agent:
        for a in self.agents:
            if a.name == name:
                return a
        raise KeyError(name)

    def call_groups(self) -> list[tuple[Call, ...]]:
        """Calls that run at the same time, in order (a call with ``parallel``
        joins the group of the one before it)."""
        groups: list[list[Call]] = []
        for c in self.calls:
            if c.parallel and groups:
                groups[-1].append(c)
            else:
                groups.append([c])
        return [tuple(g) for g in groups]

    @property
    def uses_tls(self) -> bool:
        return any(a.transport is Transport.TLS for a in self.agents)

    @property
    def callers(self) -> tuple[Agent, ...]:
        return tuple(a for a in self.agents if a.role is Role.CALLER)

    @property
    def callees(self) -> tuple[Agent, ...]:
        return tuple(a for a in self.agents if a.role is Role.CALLEE)
