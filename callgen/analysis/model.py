"""What the capture analyser found: frozen data, the one thing that leaves the package.

Checks and reports read these; nothing here refers back to the parser state.
``to_json`` gives the stable JSON form documented in docs/analysis.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from callgen.analysis import emodel
from callgen.analysis.emodel import Rating


def _ms(v: float) -> float | None:
    """A figure in ms for JSON; NaN (not measurable) becomes null."""
    return None if math.isnan(v) else round(v, 3)


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


@dataclass(frozen=True)
class Crypto:
    """One SDES ``a=crypto:<tag> <suite> inline:<key||salt base64>`` line."""

    tag: int
    suite: str
    key_b64: str

    def to_json(self) -> dict[str, Any]:
        # The key itself is evidence the user may not want in a report: say it is there.
        return {"tag": self.tag, "suite": self.suite}


@dataclass(frozen=True)
class SdpMedia:
    """One ``m=`` section: where this side RECEIVES media and what it accepts."""

    media: str
    addr: str
    port: int
    proto: str
    payload_types: tuple[int, ...]
    rtpmap: Mapping[int, tuple[str, int]]
    telephone_event_pts: tuple[int, ...]
    direction: str
    crypto: tuple[Crypto, ...] = ()
    ssrcs: tuple[int, ...] = ()

    @property
    def savp(self) -> bool:
        return "SAVP" in self.proto.upper()

    def codecs(self) -> list[str]:
        """``name/rate`` for every payload type, in offer order."""
        out = []
        for pt in self.payload_types:
            name, rate = self.rtpmap.get(pt, (f"pt{pt}", 0))
            out.append(f"{name}/{rate}" if rate else name)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "media": self.media,
            "addr": self.addr,
            "port": self.port,
            "proto": self.proto,
            "payload_types": list(self.payload_types),
            "codecs": self.codecs(),
            "telephone_event_pt": self.telephone_event_pts[0] if self.telephone_event_pts else None,
            "telephone_event_pts": list(self.telephone_event_pts),
            "direction": self.direction,
            "crypto": [c.to_json() for c in self.crypto],
            "crypto_present": bool(self.crypto),
        }


@dataclass(frozen=True)
class Sdp:
    media: tuple[SdpMedia, ...]

    def audio(self) -> SdpMedia | None:
        for m in self.media:
            if m.media == "audio":
                return m
        return self.media[0] if self.media else None

    def to_json(self) -> dict[str, Any]:
        a = self.audio()
        return {
            "media": [m.to_json() for m in self.media],
            # Flat view of the audio section, what most checks want.
            "codecs": a.codecs() if a else [],
            "telephone_event_pt": (a.telephone_event_pts[0] if a and a.telephone_event_pts else None),
            "proto": a.proto if a else None,
            "crypto_present": bool(a and a.crypto),
            "addr": a.addr if a else None,
            "port": a.port if a else None,
            "direction": a.direction if a else None,
        }


@dataclass(frozen=True)
class SipMessage:
    time: float
    src: str  #: "ip:port" ("[v6]:port" for IPv6)
    dst: str
    transport: str  #: "udp", "tcp" or "log" (recovered from a pjsua log)
    method: str | None  #: request method, None for a response
    status: int | None  #: response code, None for a request
    reason: str
    cseq_method: str
    call_id: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    sdp: Sdp | None
    cseq: int = 0
    request_uri: str = ""  #: a request's Request-URI ("" for a response)

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for k, v in self.headers:
            if k.lower() == lname:
                return v
        return None

    @property
    def summary(self) -> str:
        if self.method:
            return self.method
        return f"{self.status} {self.reason} ({self.cseq_method})".replace("  ", " ")

    def to_json(self) -> dict[str, Any]:
        return {
            "time": round(self.time, 6),
            "src": self.src,
            "dst": self.dst,
            "transport": self.transport,
            "summary": self.summary,
            "method": self.method,
            "status": self.status,
            "cseq": self.cseq,
            "cseq_method": self.cseq_method,
            "has_sdp": self.sdp is not None,
            "request_uri": self.request_uri or None,
        }


@dataclass(frozen=True)
class Dialog:
    call_id: str
    messages: tuple[SipMessage, ...]
    final_code: int | None  #: final response to the initial INVITE (its auth retry if challenged); None if none
    offer: Sdp | None
    answer: Sdp | None
    #: False: final responses to an INVITE are in the capture but the INVITE is not;
    #: ``final_code`` then comes from them alone (the lowest CSeq's, or its retry's after a
    #: 401/407 challenge)
    invite_captured: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "final_code": self.final_code,
            "invite_captured": self.invite_captured,
            "messages": [m.to_json() for m in self.messages],
            "offer": self.offer.to_json() if self.offer else None,
            "answer": self.answer.to_json() if self.answer else None,
        }


@dataclass(frozen=True)
class XrVoipMetrics:
    """An RTCP XR VoIP metrics block (RFC 3611 4.7) about one stream, as its receiver sent it."""

    loss_rate_pct: float
    discard_rate_pct: float
    rtt_ms: int
    end_system_delay_ms: int
    r_factor: int | None  #: None: "unavailable" (127)
    mos_lq: float | None
    mos_cq: float | None
    jb_nominal_ms: int
    jb_max_ms: int

    def to_json(self) -> dict[str, Any]:
        return {
            "loss_rate_pct": round(self.loss_rate_pct, 3),
            "discard_rate_pct": round(self.discard_rate_pct, 3),
            "rtt_ms": self.rtt_ms,
            "end_system_delay_ms": self.end_system_delay_ms,
            "r_factor": self.r_factor,
            "mos_lq": self.mos_lq,
            "mos_cq": self.mos_cq,
            "jb_nominal_ms": self.jb_nominal_ms,
            "jb_max_ms": self.jb_max_ms,
        }


@dataclass(frozen=True)
class Timeline:
    """Packets per time bin from the stream's first packet (for the HTML report's chart)."""

    bin_ms: int  #: 100, doubled as often as needed to keep at most 3000 bins
    start: float  #: epoch time of the stream's first packet
    counts: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"bin_ms": self.bin_ms, "start": round(self.start, 6), "counts": list(self.counts)}


@dataclass(frozen=True)
class Gap:
    """Sequence numbers skipped in arrival order (at most 200 per stream are listed)."""

    t: float  #: seconds since the stream's first packet
    lost: int

    def to_json(self) -> dict[str, Any]:
        return {"t": round(self.t, 6), "lost": self.lost}


@dataclass(frozen=True)
class RtpStream:
    src: str
    dst: str
    ssrc: int
    payload_types: tuple[int, ...]
    codec: str | None  #: "PCMA/8000" from SDP or the static table; None if unknown
    clock_rate: int
    packets: int  #: every packet received, duplicates included
    expected: int  #: highest - lowest extended sequence number + 1
    lost: int  #: sequence numbers never received (duplicates not netted out)
    duplicates: int
    out_of_order: int
    jitter_ms_mean: float
    jitter_ms_max: float
    max_delta_ms: float
    first_time: float
    last_time: float
    srtp: bool  #: SDP said RTP/SAVP, or a given key verified
    sdp_savp: bool  #: SDP for this stream's address said RTP/SAVP
    decrypted: bool  #: SRTP payloads were authenticated and decrypted
    decrypt_error: str | None
    auth_failures: int  #: packets that failed SRTP authentication: a receiver discards them
    crypto_suite: str | None
    payload_entropy: float  #: Shannon bits/byte over the wire payloads (every packet of an SRTP stream)
    call_id: str | None
    announced: bool  #: address/port appeared in an SDP (else found heuristically)
    #: the RTP clock rate is known (SDP rtpmap of any m-line, or a static PT); when not,
    #: ``clock_rate`` is 0 and both jitter figures are NaN (``null`` in JSON): not a guess
    clock_known: bool = True
    timestamp_resets: int = 0  #: RTP timestamp jumps resynced instead of counted as jitter (restarts included)
    restarts: int = 0  #: sequence number and timestamp restarted together: a new segment, counted apart
    event_repeats: int = 0  #: RFC 4733 packets sent again with a sequence number already received (not loss)
    clock_inferred: bool = False  #: no SDP or static PT gave the clock: measured from the timestamps
    payload_type_packets: tuple[tuple[int, int], ...] = ()  #: (PT, packets) in order of first appearance
    pt_codecs: tuple[tuple[int, str | None], ...] = ()  #: (PT, "name/rate" or None)
    timeline: Timeline | None = None
    gaps: tuple[Gap, ...] = ()
    # The far end's view, from the RTCP receiver reports about this SSRC (the latest one):
    rtcp_reports: int = 0  #: report blocks about this stream seen
    rtcp_reported_lost: int | None = None  #: cumulative number of packets lost, as the receiver counts
    rtcp_reported_loss_pct: float | None = None  #: that, over the receiver's expected (ext. highest seq - first + 1)
    rtcp_fraction_lost_pct: float | None = None  #: loss over the last report interval
    rtcp_reported_jitter_ms: float | None = None  #: None when the stream's clock is unknown
    rtcp_rtt_ms: float | None = None  #: from LSR/DLSR against the sender report seen in the capture
    rtcp_sender_packets: int | None = None  #: packet count in this stream's own latest sender report
    rtcp_xr: XrVoipMetrics | None = None
    rtcp_evidence: str | None = None  #: "rtcp" or "srtcp" (decrypted): where the figures above come from
    authenticated: int = 0  #: packets whose SRTP tag verified (``decrypted`` needs every packet to)
    #: Shannon bits/byte of the payloads that failed authentication (None: none failed):
    #: low means plain RTP sent where SRTP was negotiated, near 8 another key
    failed_entropy: float | None = None

    @property
    def duration(self) -> float:
        return self.last_time - self.first_time

    def codecs(self) -> list[dict[str, Any]]:
        """Every payload type the stream carried, most packets first: ``codec`` is the dominant one."""
        names = dict(self.pt_codecs)
        rows = [{"pt": pt, "codec": names.get(pt), "packets": n} for pt, n in self.payload_type_packets]
        return sorted(rows, key=lambda r: -r["packets"])

    @property
    def loss_pct(self) -> float:
        return 100.0 * self.lost / self.expected if self.expected else 0.0

    @property
    def usable(self) -> int:
        """Packets a receiver keeps: every one received, less duplicates and those that
        failed SRTP authentication (pjsua discards them: "Failed to unprotect SRTP")."""
        return self.packets - self.duplicates - self.discarded

    @property
    def discarded(self) -> int:
        """Packets that failed SRTP authentication under the stream's known key (without
        a key the capture cannot tell what the receiver keeps)."""
        return self.auth_failures if self.crypto_suite else 0

    def rating(self, loss_pct: float | None = None) -> Rating | None:
        """E-model R and MOS (``callgen.analysis.emodel``) from what the capture shows:
        the loss and its burstiness (the listed gaps), the jitter, and half the RTCP
        round trip as the one-way delay where known; ``loss_pct`` replaces the capture's
        loss (e.g. by what the receiver reported). None: the codec is not in the
        E-model table, or the jitter cannot be measured (clock rate unknown)."""
        if not self.clock_known or math.isnan(self.jitter_ms_mean):
            return None
        gap_lost = sum(g.lost for g in self.gaps)
        burst = emodel.burst_ratio(gap_lost, len(self.gaps), self.loss_pct / 100.0)
        delay = self.rtcp_rtt_ms / 2.0 if self.rtcp_rtt_ms is not None else 0.0
        loss = self.loss_pct if loss_pct is None else loss_pct
        return emodel.rate(self.codec, loss, burst_r=burst, one_way_ms=delay, jitter_ms=self.jitter_ms_mean)

    def to_json(self) -> dict[str, Any]:
        rating = self.rating()
        return {
            "src": self.src,
            "dst": self.dst,
            "ssrc": self.ssrc,
            "ssrc_hex": f"0x{self.ssrc:08X}",
            "payload_types": list(self.payload_types),
            "codec": self.codec,
            "clock_rate": self.clock_rate if self.clock_known else None,
            "packets": self.packets,
            "expected": self.expected,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "jitter_ms_mean": _ms(self.jitter_ms_mean),
            "jitter_ms_max": _ms(self.jitter_ms_max),
            "timestamp_resets": self.timestamp_resets,
            "restarts": self.restarts,
            "event_repeats": self.event_repeats,
            "clock_inferred": self.clock_inferred,
            "codecs": self.codecs(),
            "max_delta_ms": round(self.max_delta_ms, 3),
            "first_time": round(self.first_time, 6),
            "last_time": round(self.last_time, 6),
            "duration": round(self.duration, 3),
            "srtp": self.srtp,
            "sdp_savp": self.sdp_savp,
            "decrypted": self.decrypted,
            "decrypt_error": self.decrypt_error,
            "auth_failures": self.auth_failures,
            "authenticated": self.authenticated,
            "failed_entropy": _round(self.failed_entropy),
            "crypto_suite": self.crypto_suite,
            "payload_entropy": round(self.payload_entropy, 3),
            "call_id": self.call_id,
            "announced": self.announced,
            "timeline": self.timeline.to_json() if self.timeline else None,
            "gaps": [g.to_json() for g in self.gaps],
            "rtcp_reports": self.rtcp_reports,
            "rtcp_reported_lost": self.rtcp_reported_lost,
            "rtcp_reported_loss_pct": _round(self.rtcp_reported_loss_pct),
            "rtcp_fraction_lost_pct": _round(self.rtcp_fraction_lost_pct),
            "rtcp_reported_jitter_ms": _round(self.rtcp_reported_jitter_ms),
            "rtcp_rtt_ms": _round(self.rtcp_rtt_ms),
            "rtcp_sender_packets": self.rtcp_sender_packets,
            "rtcp_xr": self.rtcp_xr.to_json() if self.rtcp_xr else None,
            "rtcp_evidence": self.rtcp_evidence,
            "r_factor": round(rating.r_factor, 2) if rating else None,
            "mos": round(rating.mos, 2) if rating else None,
        }


@dataclass(frozen=True)
class DtmfEvent:
    digit: str  #: one of 0-9 * # A-D
    method: str  #: "rfc4733" or "sip-info"
    start: float  #: capture time (epoch seconds) of the first packet / the INFO
    duration_ms: float
    volume: int | None
    end_seen: bool
    ssrc: int | None
    call_id: str | None
    src: str
    dst: str
    payload_type: int | None = None
    rtp_timestamp: int | None = None
    #: SIP INFO only: the final response to this INFO transaction (None: none seen), and how
    #: often the request was sent again (one event per transaction, retransmissions folded in)
    status: int | None = None
    retransmissions: int = 0

    @property
    def delivered(self) -> bool:
        """An RFC 4733 event is on the receiver's media; an INFO delivers its digit only when answered 2xx."""
        return self.method != "sip-info" or (self.status is not None and 200 <= self.status < 300)

    def to_json(self) -> dict[str, Any]:
        return {
            "digit": self.digit,
            "method": self.method,
            "start": round(self.start, 6),
            "duration_ms": round(self.duration_ms, 3),
            "volume": self.volume,
            "end_seen": self.end_seen,
            "ssrc": self.ssrc,
            "call_id": self.call_id,
            "src": self.src,
            "dst": self.dst,
            "payload_type": self.payload_type,
            "rtp_timestamp": self.rtp_timestamp,
            "status": self.status,
            "retransmissions": self.retransmissions,
            "delivered": self.delivered,
        }


@dataclass(frozen=True)
class Truncation:
    """Where a capture file ends inside a record: everything before it was analysed."""

    offset: int  #: byte offset of the incomplete record (or pcapng block)
    bytes_left: int  #: bytes of it present in the file

    def message(self, source: str) -> str:
        return (
            f"{source}: truncated: the file ends inside the record at byte offset {self.offset}"
            f" ({self.bytes_left} bytes of it present); every complete record before it was analysed"
        )

    def to_json(self) -> dict[str, Any]:
        return {"offset": self.offset, "bytes_left": self.bytes_left}


@dataclass(frozen=True)
class Corruption:
    """A corrupt record/block header mid-file: reading went on at the next valid one."""

    offset: int  #: byte offset of the corrupt header
    bytes_skipped: int  #: bytes from it to the next valid record or block

    def message(self, source: str) -> str:
        return (
            f"{source}: corrupt record header at byte offset {self.offset}: {self.bytes_skipped} bytes skipped"
            " to the next valid record; the rest of the file was analysed"
        )

    def to_json(self) -> dict[str, Any]:
        return {"offset": self.offset, "bytes_skipped": self.bytes_skipped}


@dataclass(frozen=True)
class CaptureAnalysis:
    dialogs: tuple[Dialog, ...]
    rtp_streams: tuple[RtpStream, ...]
    dtmf: tuple[DtmfEvent, ...]
    packets: int
    first_time: float | None
    last_time: float | None
    source: str = ""
    warnings: tuple[str, ...] = field(default=())
    truncated: Truncation | None = None  #: the file is cut inside a record (see ``Truncation``)
    skipped: Mapping[str, int] = field(default_factory=dict)  #: packets not used, by reason
    corrupt: tuple[Corruption, ...] = ()  #: corrupt record/block headers skipped mid-file

    def dialog(self, call_id: str) -> Dialog | None:
        for d in self.dialogs:
            if d.call_id == call_id:
                return d
        return None

    def digits(self, ssrc: int | None = None, method: str | None = None) -> str:
        """The delivered DTMF digits in capture order (an INFO not answered 2xx delivers
        none), optionally of one stream or method."""
        return "".join(
            e.digit
            for e in self.dtmf
            if e.delivered and (ssrc is None or e.ssrc == ssrc) and (method is None or e.method == method)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "callgen-analysis/1",
            "source": self.source,
            "packets": self.packets,
            "first_time": self.first_time,
            "last_time": self.last_time,
            "dialogs": [d.to_json() for d in self.dialogs],
            "rtp_streams": [s.to_json() for s in self.rtp_streams],
            "dtmf": [e.to_json() for e in self.dtmf],
            "warnings": list(self.warnings),
            "truncated": self.truncated.to_json() if self.truncated else None,
            "corrupt": [c.to_json() for c in self.corrupt],
            "skipped": dict(self.skipped),
        }
