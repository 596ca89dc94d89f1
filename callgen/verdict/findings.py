"""What the verdict found, typed: the findings a ``ScenarioResult`` hands the reports.

``Findings`` is the ``summary`` object of result.json: the capture's figures, the RTP
streams, the DTMF events, each call's legs and SIP flow, the REGISTER flows, a load run's
summary and the failed attempts of a retried scenario.  The reports read its fields, never
keys.  Every record keeps the JSON keys it was built from, in their order (``keys``), so
``Findings.from_dict(d).to_dict() == d`` for every result.json callgen wrote, old or new, and
a new run writes the same bytes as before the types existed.

Add a finding: a field here (named as its JSON key), filled by the verdict
(``callgen.verdict.checks.judge``) and read by the report section that shows it;
``tests/reports/test_findings.py`` fails while a key the verdict writes has no field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from callgen.verdict.ladder import CallFlow, flows_from_summary

R = TypeVar("R", bound="Record")


def _encode(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _plain(value: Any) -> Any:
    """A JSON value as a frozen Python value: lists become tuples (maps stay maps)."""
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return {k: _plain(v) if not isinstance(v, list) else list(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, kw_only=True)
class Record:
    """A frozen finding with a JSON form: each field is the JSON key of its name; ``keys``
    are the keys present, in order (a field whose key was absent is not written back)."""

    #: field -> record type its JSON value (an object, or a list of them) is read into
    NESTED: ClassVar[Mapping[str, type[Record]]] = {}
    keys: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def json_keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if f.name not in ("keys", "flows_read", "unknown"))

    @classmethod
    def fits(cls, key: str, value: Any) -> bool:
        """Has ``value`` the shape of field ``key`` (a list for a tuple, an object for a
        record or a map)? A value that does not is not read (the field keeps its default)."""
        f = cls.__dataclass_fields__[key]
        if value is None:
            return True
        if isinstance(f.default, tuple):
            return isinstance(value, list)
        if key in cls.NESTED or f.default_factory is dict:
            return isinstance(value, Mapping)
        return True

    @classmethod
    def from_dict(cls: type[R], d: Mapping[str, Any]) -> R:
        known = cls.json_keys()
        values: dict[str, Any] = {}
        for k, v in d.items():
            if k not in known or not cls.fits(k, v):
                continue
            nested = cls.NESTED.get(k)
            if nested is not None and isinstance(v, list):
                values[k] = tuple(nested.from_dict(x) for x in v if isinstance(x, Mapping))
            elif nested is not None and isinstance(v, Mapping):
                values[k] = nested.from_dict(v)
            elif isinstance(v, list) and isinstance(cls.__dataclass_fields__[k].default, tuple):
                values[k] = _plain(v)
            else:
                values[k] = v
        return cls(**values, keys=tuple(k for k in d if k in known))

    @classmethod
    def build(cls: type[R], **values: Any) -> R:
        """A record made by the verdict: its keys are the fields given, in the order given."""
        return cls(**values, keys=tuple(values))

    def to_dict(self) -> dict[str, Any]:
        return {k: _encode(getattr(self, k)) for k in self.keys}


@dataclass(frozen=True, kw_only=True)
class Timeline(Record):
    """A stream's packets per ``bin_ms`` bin from ``start`` (capture time)."""

    bin_ms: float | None = None
    start: float | None = None
    counts: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Gap(Record):
    """Sequence numbers skipped: ``t`` seconds after the stream's first packet, ``lost`` of them."""

    t: float | None = None
    lost: int | None = None


@dataclass(frozen=True, kw_only=True)
class StreamFinding(Record):
    """One RTP stream as the capture shows it (``callgen.analysis.RtpStream.to_json``)."""

    NESTED: ClassVar[Mapping[str, type[Record]]] = {"timeline": Timeline, "gaps": Gap}
    src: str = ""
    dst: str = ""
    ssrc: int | None = None
    ssrc_hex: str | None = None
    payload_types: tuple[int, ...] = ()
    codec: str | None = None
    clock_rate: int | None = None
    packets: int | None = None
    expected: int | None = None
    lost: int | None = None
    duplicates: int | None = None
    out_of_order: int | None = None
    jitter_ms_mean: float | None = None
    jitter_ms_max: float | None = None
    timestamp_resets: int | None = None
    restarts: int | None = None
    event_repeats: int | None = None
    clock_inferred: bool | None = None
    codecs: tuple[str, ...] = ()
    max_delta_ms: float | None = None
    first_time: float | None = None
    last_time: float | None = None
    duration: float | None = None
    srtp: bool | None = None
    sdp_savp: bool | None = None
    decrypted: bool | None = None
    decrypt_error: str | None = None
    auth_failures: int | None = None
    authenticated: int | None = None
    failed_entropy: float | None = None
    crypto_suite: str | None = None
    payload_entropy: float | None = None
    call_id: str | None = None
    announced: bool | None = None
    timeline: Timeline | None = None
    gaps: tuple[Gap, ...] = ()
    rtcp_reports: int | None = None
    rtcp_reported_lost: int | None = None
    rtcp_reported_loss_pct: float | None = None
    rtcp_fraction_lost_pct: float | None = None
    rtcp_reported_jitter_ms: float | None = None
    rtcp_rtt_ms: float | None = None
    rtcp_sender_packets: int | None = None
    rtcp_xr: Mapping[str, Any] | None = None
    rtcp_evidence: str | None = None
    r_factor: float | None = None
    mos: float | None = None


@dataclass(frozen=True, kw_only=True)
class DtmfFinding(Record):
    """One DTMF event (``callgen.analysis.DtmfEvent.to_json``)."""

    digit: str = "?"
    method: str = ""
    start: float | None = None
    duration_ms: float | None = None
    volume: int | None = None
    end_seen: bool | None = None
    ssrc: int | None = None
    call_id: str | None = None
    src: str = ""
    dst: str = ""
    payload_type: int | None = None
    rtp_timestamp: int | None = None
    status: int | None = None
    retransmissions: int | None = None
    delivered: bool | None = None


@dataclass(frozen=True, kw_only=True)
class LegFinding(Record):
    """One leg of a call through a system under test: its agents, its Call-ID, its directions."""

    role: str = ""
    agent: str = ""
    peer: str = ""
    call_id: str = ""
    forward: str = ""
    backward: str = ""


@dataclass(frozen=True, kw_only=True)
class Percentiles(Record):
    """A distribution's percentiles (``p99`` only where the load summary gives it)."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None


@dataclass(frozen=True, kw_only=True)
class Truncation(Record):
    """Where the capture file ends inside a record (``callgen.analysis.Truncation``)."""

    offset: int | None = None
    bytes_left: int | None = None


@dataclass(frozen=True, kw_only=True)
class Corruption(Record):
    """A corrupt record header skipped mid-file (``callgen.analysis.Corruption``)."""

    offset: int | None = None
    bytes_skipped: int | None = None


@dataclass(frozen=True, kw_only=True)
class Histogram(Record):
    bin_ms: float | None = None
    counts: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Unproven(Record):
    index: int | None = None
    why: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class LoadSummary(Record):
    """A load run in figures (``callgen.verdict.load.load_summary``); ``share`` is this
    shard's [index, count]."""

    NESTED: ClassVar[Mapping[str, type[Record]]] = {
        "setup_histogram": Histogram, "unproven": Unproven, "setup_ms": Percentiles, "loss_pct": Percentiles,
        "jitter_ms": Percentiles,
    }
    attempted: int | None = None
    answered: int | None = None
    asr_pct: float | None = None
    proven: int | None = None
    proven_pct: float | None = None
    final_codes: Mapping[str, int] = field(default_factory=dict)
    no_final_response: int | None = None
    setup_ms: Percentiles | None = None
    concurrency_max: int | None = None
    cps_per_second: tuple[int, ...] = ()
    active_per_second: tuple[int, ...] = ()
    setup_histogram: Histogram | None = None
    loss_pct: Percentiles | None = None
    jitter_ms: Percentiles | None = None
    dtmf_proven_pct: float | None = None
    unproven: tuple[Unproven, ...] = ()
    share: tuple[int, ...] = ()
    capture_files: int | None = None  #: the capture's files (load.capture: each proven while the run went on)
    capture_max_mb: float | None = None  #: the most the capture's files held on disk at once, MB
    #: through a SUT: per leg (``caller``, ``callee``) ``{proven, proven_pct}``, and ``joined_by``: how many
    #: callee legs each join key found (``callgen.verdict.loadlegs.legs_summary``)
    legs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class FailedCheck(Record):
    """A failed check of an earlier attempt (``CheckResult.to_dict``)."""

    name: str = "?"
    passed: bool = False
    expected: str = ""
    seen: str = ""
    reason: str = ""
    evidence: str = ""


@dataclass(frozen=True, kw_only=True)
class AttemptFinding(Record):
    """A failed attempt of a retried scenario (``callgen.suite.execute``)."""

    attempt: int | None = None
    verdict: str = "fail"
    error: str = ""
    artefacts: str = ""
    duration_s: float | None = None
    failed_checks: tuple[FailedCheck, ...] = ()

    NESTED: ClassVar[Mapping[str, type[Record]]] = {"failed_checks": FailedCheck}


@dataclass(frozen=True, kw_only=True)
class Findings(Record):
    """The ``summary`` of a result: everything the verdict found, for the reports."""

    NESTED: ClassVar[Mapping[str, type[Record]]] = {
        "rtp_streams": StreamFinding, "dtmf": DtmfFinding, "load": LoadSummary, "failed_attempts": AttemptFinding,
        "truncated": Truncation, "corrupt": Corruption,
    }
    format: str | None = None
    source: str | None = None
    packets: int | None = None
    first_time: float | None = None
    last_time: float | None = None
    rtp_streams: tuple[StreamFinding, ...] = ()
    dtmf: tuple[DtmfFinding, ...] = ()
    warnings: tuple[str, ...] = ()
    truncated: Truncation | None = None  #: where the capture file ends inside a record
    corrupt: tuple[Corruption, ...] = ()  #: corrupt record headers skipped
    skipped: Mapping[str, int] = field(default_factory=dict)  #: packets not used, by reason
    legs: Mapping[str, tuple[LegFinding, ...]] = field(default_factory=dict)  #: per call: its legs
    call_flows: tuple[CallFlow, ...] = ()
    register_flows: tuple[CallFlow, ...] = ()
    rtp_streams_count: int | None = None  #: a load run: streams (each call's are in calls.jsonl)
    dtmf_events_count: int | None = None  #: a load run: DTMF events
    load: LoadSummary | None = None
    failed_attempts: tuple[AttemptFinding, ...] = ()
    dialogs: tuple[Mapping[str, Any], ...] = ()  #: results written before call_flows: the analysis' dialogs (not drawn)
    #: keys no field names, from a result.json another callgen version wrote: kept as read,
    #: written back, listed as "other findings" (the verdict writes none: tests/reports/test_findings.py)
    unknown: Mapping[str, Any] = field(default_factory=dict)
    #: the flows' JSON as read, written back while the flows are the ones read from it
    #: (``CallFlow.to_dict`` writes keys older results lack)
    flows_read: Mapping[str, tuple[tuple[CallFlow, ...], Any]] = field(default_factory=dict, compare=False, repr=False)

    #: findings no report section draws itself: listed as "other findings"
    OTHER: ClassVar[tuple[str, ...]] = ("truncated", "corrupt", "skipped", "legs", "rtp_streams_count", "dtmf_events_count")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Findings:
        out = super().from_dict(d)
        legs = d.get("legs")
        if isinstance(legs, Mapping):
            typed = {k: tuple(LegFinding.from_dict(g) for g in v if isinstance(g, Mapping)) for k, v in legs.items()
                     if isinstance(v, list)}
            out = dataclasses.replace(out, legs=typed)
        # CallFlow reads itself; malformed flows are none (as the reports always did)
        flows = {k: flows_from_summary(d, k) for k in ("call_flows", "register_flows")}
        # keys no field names, and values of another shape than their field's: kept as read
        unknown = {k: v for k, v in d.items() if k not in cls.json_keys() or not cls.fits(k, v)}
        return dataclasses.replace(out, **flows, flows_read={k: (v, d[k]) for k, v in flows.items() if k in d},
                                   unknown=unknown, keys=tuple(d))

    def to_dict(self) -> dict[str, Any]:
        out = {k: self.unknown[k] if k in self.unknown else _encode(getattr(self, k)) for k in self.keys}
        for k, (flows, raw) in self.flows_read.items():
            if k in out and getattr(self, k) is flows:
                out[k] = raw
        return out

    def other(self) -> dict[str, Any]:
        """The JSON form of the findings listed as "other findings" (and of keys no field names)."""
        return {k: v for k, v in self.to_dict().items() if k in self.OTHER or k in self.unknown}
