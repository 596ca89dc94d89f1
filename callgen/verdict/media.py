"""Media checks of one call: SRTP, RTP both ways, DTMF, recorded audio.

The capture is the evidence (decrypted where SDES keys are known); the
receiving pjsua's log is a cross-check for DTMF, the recording for audio.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from callgen.analysis import CaptureAnalysis, Dialog, RtpStream
from callgen.analysis.ipaddr import canonical_ip, endpoint
from callgen.analysis.sip import STATIC_PT, info_dtmf
from callgen.analysis.srtp import CIPHER_ENTROPY
from callgen.pjsua import patterns as pp
from callgen.pjsua.driver import EventKind
from callgen.run.evidence import Evidence
from callgen.scenario.model import AudioExpect, Call, DtmfMethod, DtmfStep, RtpExpect, Scenario, SrtpUse
from callgen.verdict.result import CheckResult, check


@dataclass(frozen=True)
class CallMedia:
    """The RTP streams of one call, split by direction."""

    forward: tuple[RtpStream, ...]  #: caller -> callee
    backward: tuple[RtpStream, ...]  #: callee -> caller

    @property
    def all(self) -> tuple[RtpStream, ...]:
        return self.forward + self.backward


def host_port(addr: str, port: int) -> str:
    """``ip:port`` as the analyser writes addresses (``[v6]:port`` for IPv6, canonical form)."""
    return endpoint(addr, port)


def top_via(msg) -> str:
    """The sent-by ``host:port`` of a message's top Via (``""`` without one)."""
    via = (msg.header("Via") or "").split(",")[0]
    m = _VIA_SENT_BY.match(via.strip())
    return m.group(1) if m else ""


_VIA_SENT_BY = re.compile(r"SIP/2\.0/\w+\s+([^;,\s]+)", re.IGNORECASE)


def sent_by(msg, ag, agent) -> bool:
    """Did this agent send the request ``msg``?  Its SIP port (UDP/TCP, or the TLS port
    next to it) as source; else, where a connection the agent opened leaves from an
    ephemeral port: over TCP its SIP port as the sent-by of the top Via (pjsua's TCP Via
    names its listener), over TLS (messages read back from this run's own pjsua logs; its
    TLS Via names the ephemeral port) its address with its identity in From.  From alone is
    no proof for what the capture holds: every scenario calls its caller ``alice@127.0.0.1``,
    and a capture holds another scenario's TCP traffic when that one's ephemeral port falls
    into this run's port block (``run -j``)."""
    mine = {host_port(ag.address, ag.sip_port + k) for k in (0, 1)}
    if msg.src in mine:
        return True
    if msg.transport == "udp" or msg.method is None:
        return False
    if msg.transport != "log":
        return _canonical_sent_by(top_via(msg)) in mine
    domain = agent.domain.strip("[]")
    ident = f"{agent.user}@[{domain}]" if ":" in domain else f"{agent.user}@{domain}"  # as pjsua writes its --id
    return ident in (msg.header("From") or "") and canonical_ip(msg.src.rsplit(":", 1)[0]) in (ag.address, "local")


def _canonical_sent_by(hostport: str) -> str:
    """A Via sent-by ``host:port`` (``[v6]:port`` too) in the analyser's endpoint form."""
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return hostport
    return endpoint(host, int(port))


def first_invite(d: Dialog):
    """The dialog's initial INVITE (None for dialogs without one)."""
    return next((m for m in d.messages if m.method == "INVITE"), None)


def media_addresses(d: Dialog) -> tuple[set[str], set[str]]:
    """Where the offerer and the answerer receive media (every m= line)."""
    offerer, answerer = set(), set()
    for msg in d.messages:
        if msg.sdp is None:
            continue
        side = offerer if msg.method == "INVITE" else (answerer if msg.status is not None else offerer)
        for m in msg.sdp.media:
            if m.port:
                side.add(host_port(m.addr, m.port))
    return offerer, answerer


def call_media(analysis: CaptureAnalysis, d: Dialog) -> CallMedia:
    offerer, answerer = media_addresses(d)
    fwd = tuple(s for s in analysis.rtp_streams if s.dst in answerer or (s.call_id == d.call_id and s.src in offerer))
    bwd = tuple(s for s in analysis.rtp_streams if s not in fwd and (s.dst in offerer or (s.call_id == d.call_id and s.src in answerer)))
    return CallMedia(fwd, bwd)


def _codec_name(m, pt: int) -> str:
    """The codec ``pt`` stands for in this m= line, else its static meaning (RFC 3551)."""
    named = m.rtpmap.get(pt) if m is not None else None
    return (named or STATIC_PT.get(pt) or (f"PT {pt}", 0))[0]


def negotiated_payload_types(d: Dialog) -> tuple[frozenset[int], frozenset[int]] | None:
    """The payload types each direction may carry (RFC 3264): the offerer sends with
    the answer's numbers, the answerer with the offer's, and only codecs the
    answer kept (telephone-event included).  None without an SDP answer."""
    answer = d.answer.audio() if d.answer else None
    if answer is None:
        return None
    offer = d.offer.audio() if d.offer else None
    kept = {_codec_name(answer, pt).lower() for pt in answer.payload_types}
    backward = ({pt for pt in offer.payload_types if _codec_name(offer, pt).lower() in kept}
                if offer is not None else set(answer.payload_types))
    return frozenset(answer.payload_types), frozenset(backward)


def wire_codecs(d: Dialog, streams: tuple[RtpStream, ...], *, forward: bool) -> list[str]:
    """Codec names of the audio payload types that really flowed (not telephone-event)."""
    sdp = d.answer if forward else (d.offer or d.answer)
    m = sdp.audio() if sdp else None
    names = []
    for pt in sorted({pt for s in streams for pt in s.payload_types}):
        if m is not None and pt in m.telephone_event_pts:
            continue
        name = _codec_name(m, pt)
        if name.lower() != "telephone-event" and name not in names:
            names.append(name)
    return names


def final_response(d: Dialog):
    """The final response to the dialog's INVITE (None without one)."""
    return next((m for m in d.messages if m.status is not None and m.status >= 200 and m.cseq_method == "INVITE"), None)


def direction_summary(streams: tuple[RtpStream, ...]) -> tuple[int, int, int, float]:
    """Packets, expected, lost, and the worst jitter (NaN when a stream's clock rate is
    unknown: its jitter cannot be measured, so no jitter bound can be proven).  Packets
    that failed SRTP authentication are not received: the receiver discarded them."""
    packets = sum(s.packets - s.discarded for s in streams)
    expected = sum(s.expected for s in streams)
    lost = sum(min(s.expected, s.lost + s.discarded) for s in streams)
    if any(not s.clock_known for s in streams):
        return packets, expected, lost, float("nan")
    jitter = max((s.jitter_ms_max for s in streams), default=0.0)
    return packets, expected, lost, jitter


def rtp_checks(p: str, media: CallMedia, want: RtpExpect, d: Dialog) -> list[CheckResult]:
    out = []
    allowed = negotiated_payload_types(d)
    for forward, label, streams in ((True, "caller->callee", media.forward), (False, "callee->caller", media.backward)):
        packets, expected, lost, jitter = direction_summary(streams)
        loss_pct = 100.0 * lost / expected if expected else 0.0
        shown = f"{jitter:.2f} ms" if not math.isnan(jitter) else "unknown"
        seen = f"{packets} packets in {len(streams)} stream(s), loss {loss_pct:.2f}%, jitter max {shown}"
        discarded = sum(s.discarded for s in streams)
        if discarded:
            seen += f"; {discarded} more failed SRTP authentication (discarded by the receiver, counted lost)"
        out.append(check(f"{p}.rtp[{label}].packets", packets >= max(want.min_packets, 1),
                                 f">= {max(want.min_packets, 1)} RTP packets", seen,
                         f"only {packets} RTP packets {label}"))
        if want.max_loss_pct is not None:
            out.append(check(f"{p}.rtp[{label}].loss", loss_pct <= want.max_loss_pct, f"loss <= {want.max_loss_pct}%",
                             f"{loss_pct:.2f}% ({lost} of {expected})", f"loss {loss_pct:.2f}% {label}"))
        if want.max_jitter_ms is not None:
            known = not math.isnan(jitter)
            out.append(check(f"{p}.rtp[{label}].jitter", known and jitter <= want.max_jitter_ms, f"jitter <= {want.max_jitter_ms} ms",
                             f"{jitter:.2f} ms" if known else "unknown: no clock rate for a payload type",
                             f"jitter {jitter:.2f} ms {label}" if known else f"jitter {label} cannot be measured"))
        if want.mos_min is not None:
            out.append(_mos_check(f"{p}.rtp[{label}].mos", streams, want.mos_min, label))
        out += _reported_checks(f"{p}.rtp[{label}]", streams, want, label)
        if allowed is not None and streams:
            out.append(_payload_type_check(f"{p}.rtp[{label}].payload_types", streams, allowed[0 if forward else 1]))
    return out


def _mos_check(name: str, streams: tuple[RtpStream, ...], mos_min: float, label: str) -> CheckResult:
    """The E-model MOS of every stream of one direction (the worst one counts); a stream
    the E-model cannot rate (codec not in its table, clock unknown) proves nothing."""
    expected = f"E-model MOS >= {mos_min:g}"
    if not streams:
        return check(name, False, expected, "no RTP", f"no RTP {label} to rate")
    rated = [(s, s.rating()) for s in streams]
    unrated = [s for s, r in rated if r is None]
    if unrated:
        return check(name, False, expected, ", ".join(f"{s.codec or 'unknown codec'}: not rated" for s in unrated),
                     f"the E-model cannot rate {label} (codec not in its table or clock rate unknown)")
    worst_s, worst = min(rated, key=lambda sr: sr[1].mos)
    seen = (f"MOS {worst.mos:.2f} (R {worst.r_factor:.1f}) for {worst_s.codec}, loss {worst_s.loss_pct:.2f}%, "
            f"jitter {worst_s.jitter_ms_mean:.2f} ms" + (f", RTT {worst_s.rtcp_rtt_ms:.1f} ms" if worst_s.rtcp_rtt_ms is not None else ""))
    return check(name, worst.mos >= mos_min, expected, seen, f"MOS {worst.mos:.2f} {label}")


def _reported_checks(name: str, streams: tuple[RtpStream, ...], want: RtpExpect, label: str) -> list[CheckResult]:
    """Loss the capture cannot see: a receiver that throws packets away after they
    arrived (pjsua --rx-drop-pct, a full socket buffer) counts them in its RTCP receiver
    reports. Checked only for streams such a report is about (none: nothing claimed)."""
    reported = [s for s in streams if s.rtcp_reports and s.rtcp_reported_loss_pct is not None]
    if not reported:
        return []
    worst = max(reported, key=lambda s: s.rtcp_reported_loss_pct)
    loss = worst.rtcp_reported_loss_pct
    evidence = "/".join(sorted({s.rtcp_evidence or "rtcp" for s in reported}))
    seen = f"{loss:.2f}% ({worst.rtcp_reported_lost} lost) in the receiver's latest report"
    out = []
    if want.max_loss_pct is not None:
        out.append(check(f"{name}.loss_reported", loss <= want.max_loss_pct, f"receiver-reported loss <= {want.max_loss_pct}%",
                         seen, f"the receiver reported {loss:.2f}% lost {label}", evidence))
    if want.mos_min is not None:
        rating = worst.rating(loss_pct=max(loss, 0.0))
        ok = rating is not None and rating.mos >= want.mos_min
        shown = f"MOS {rating.mos:.2f} (R {rating.r_factor:.1f}) at {seen}" if rating else f"{worst.codec or 'unknown codec'}: not rated"
        out.append(check(f"{name}.mos_reported", ok, f"E-model MOS >= {want.mos_min:g} with the receiver-reported loss", shown,
                         f"{shown.split(' at ')[0]} {label} by the receiver's reports", evidence))
    return out


def _payload_type_check(name: str, streams: tuple[RtpStream, ...], allowed: frozenset[int]) -> CheckResult:
    """Media must carry only what the SDP negotiated: RTP of another payload type is
    media the receiver never agreed to (and typically cannot decode)."""
    seen = sorted({pt for s in streams for pt in s.payload_types})
    alien = [pt for pt in seen if pt not in allowed]
    return check(name, not alien, f"only negotiated payload types {sorted(allowed)}", f"payload types {seen}",
                 f"RTP with payload type(s) {alien} that the SDP never negotiated")


def _srtp_mandatory(scenario: Scenario, call: Call) -> bool:
    parties = [scenario.agent(call.caller)] + ([scenario.agent(call.callee)] if call.callee else [])
    return any(a.srtp.use is SrtpUse.MANDATORY for a in parties)


def keying_checks(p: str, scenario: Scenario, evidence: Evidence, call: Call) -> list[CheckResult]:
    """The keying each pjsua agent asked for is the one its log says SRTP started with
    (a pjsua built without DTLS-SRTP would silently fall back to SDES)."""
    out = []
    for name in (call.caller, call.callee):
        if name is None:
            continue
        agent = scenario.agent(name)
        if not agent.is_pjsua or not agent.srtp.enabled:
            continue
        log = evidence.agent(name).log_path
        text = log.read_text(errors="replace") if log.is_file() else ""
        started = sorted({m[1].upper() for m in pp.SRTP_STARTED.finditer(text)})
        want = agent.srtp.keying.upper()
        out.append(check(f"{p}.srtp.keying[{name}]", started == [want], f"SRTP keyed by {want}",
                         f"pjsua log: {', '.join(started) or 'SRTP never started'}",
                         f"{name} did not key SRTP by {want}", f"pjsua log {name}"))
    return out


def srtp_checks(p: str, want: bool, scenario: Scenario, call: Call, d: Dialog, media: CallMedia) -> list[CheckResult]:
    offer = d.offer.audio() if d.offer else None
    answer = d.answer.audio() if d.answer else None
    out = []
    if want:
        # With optional-duplicated the offer has an RTP/SAVP line besides RTP/AVP: any SAVP/crypto line counts.
        offered = any(m.savp or m.crypto for m in (d.offer.media if d.offer else ()))
        answered = bool(answer and (answer.savp or answer.crypto))
        offer_crypto = any(m.crypto for m in (d.offer.media if d.offer else ()))
        seen = (f"offer {offer.proto if offer else 'none'}{' +crypto' if offer_crypto else ''}"
                f", answer {answer.proto if answer else 'none'}{' +crypto' if answer and answer.crypto else ''}")
        out.append(check(f"{p}.srtp.sdp", offered and answered, "SAVP (SDES a=crypto or DTLS) in offer and answer", seen,
                         "the SDP did not negotiate SRTP"))
        streams = media.all
        plain = [s for s in streams if s.payload_entropy < CIPHER_ENTROPY and not s.decrypted]
        undecrypted = [s for s in streams if not s.decrypted]
        ent = ", ".join(f"{s.src}->{s.dst} {max(0.0, s.payload_entropy):.2f} bits/byte" for s in streams) or "no RTP"
        out.append(check(f"{p}.srtp.payload", bool(streams) and not plain, "payload not readable as plain audio",
                         ent, "payload looks like plain audio" if streams else "no RTP to judge"))
        if streams and any(s.crypto_suite for s in streams):
            dec = ", ".join(f"{s.src}->{s.dst} {'decrypted' if s.decrypted else (s.decrypt_error or 'not decrypted')} ({s.crypto_suite})"
                            for s in streams)
            out.append(check(f"{p}.srtp.decrypted", not undecrypted, "every stream authenticates and decrypts with the SDP keys", dec,
                             "a stream did not decrypt"))
        # Mandatory or optional: once SRTP is negotiated, a packet that fails authentication is thrown away.
        fails = sum(s.discarded for s in streams)  # under a known key; without one the entropy says "plain"
        mode = "mandatory" if _srtp_mandatory(scenario, call) else "negotiated"
        out.append(check(f"{p}.srtp.no_plain_rtp", not plain and fails == 0,
                         f"no plain RTP packet and none failing authentication on the call's media ports ({mode} SRTP)",
                         f"{len(plain)} plain-looking stream(s), {fails} packets failing SRTP authentication",
                         f"plain RTP or packets failing authentication where SRTP is {mode}"))
    else:
        seen = f"answer {answer.proto if answer else 'none'}{' +crypto' if answer and answer.crypto else ''}"
        plain_sdp = bool(answer) and not answer.savp and not answer.crypto
        out.append(check(f"{p}.srtp.sdp", plain_sdp, "plain RTP/AVP without crypto", seen, "SRTP was negotiated"))
    return out


@dataclass(frozen=True)
class InfoDigit:
    """One DTMF digit sent by SIP INFO: its request (retransmissions folded in by
    CSeq) and the final response it got, if any."""

    digit: str
    time: float
    cseq: int
    status: int | None  #: final response code; None: never answered

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        return f"INFO {self.digit} " + (f"answered {self.status}" if self.status is not None else "never answered")


def info_digits(d: Dialog, receiver_is_callee: bool) -> list[InfoDigit]:
    """The DTMF INFO requests towards the receiver, one per transaction (CSeq), with their final responses."""
    toward = _sip_addrs(d, callee=receiver_is_callee)
    requests: dict[int, tuple[str, float]] = {}
    for m in d.messages:
        got = info_dtmf(m)
        if got and m.dst in toward and m.cseq not in requests:
            requests[m.cseq] = (got[0], m.time)
    finals = {m.cseq: m.status for m in d.messages
              if m.status is not None and m.status >= 200 and m.cseq_method == "INFO" and m.cseq in requests}
    return [InfoDigit(digit, t, cseq, finals.get(cseq)) for cseq, (digit, t) in sorted(requests.items(), key=lambda kv: kv[1][1])]


@dataclass(frozen=True)
class ReceivedDtmf:
    digit: str
    method: str  #: "rfc4733" or "sip-info"
    start: float


def _dtmf_in_capture(analysis: CaptureAnalysis, d: Dialog, media: CallMedia,
                     receiver_is_callee: bool) -> tuple[list[ReceivedDtmf], list[InfoDigit]]:
    """Digits that reached the receiver (RFC 4733 events on its media, INFO
    answered 2xx), and the INFO requests that were refused or never answered."""
    toward = media.forward if receiver_is_callee else media.backward
    # by 5-tuple and SSRC: a relay keeps the SSRC, so the same events cross two legs
    flows = {(s.src, s.dst, s.ssrc) for s in toward}
    evs = [ReceivedDtmf(e.digit, e.method, e.start) for e in analysis.dtmf
           if e.method == "rfc4733" and (e.src, e.dst, e.ssrc) in flows]
    infos = info_digits(d, receiver_is_callee)
    evs += [ReceivedDtmf(i.digit, "sip-info", i.time) for i in infos if i.delivered]
    return sorted(evs, key=lambda e: e.start), [i for i in infos if not i.delivered]


def _foreign_event_pts(d: Dialog, toward: tuple[RtpStream, ...], receiver_is_callee: bool) -> str:
    """RTP toward the receiver carrying the SENDER's telephone-event PT where the receiver
    offered/answered another one: the receiver drops those events, so they are no digits."""
    mine, theirs = (d.answer, d.offer) if receiver_is_callee else (d.offer, d.answer)
    rx = mine.audio() if mine else None
    tx = theirs.audio() if theirs else None
    if rx is None or tx is None:
        return ""
    foreign = sorted({pt for s in toward for pt in s.payload_types}
                     & (set(tx.telephone_event_pts) - set(rx.telephone_event_pts)))
    if not foreign:
        return ""
    want = ", ".join(map(str, rx.telephone_event_pts)) or "none"
    return (f"; RTP of PT {', '.join(map(str, foreign))} "
            f"(the sender's telephone-event) where the receiver expects {want}: dropped, no digits")


def _sip_addrs(d: Dialog, *, callee: bool) -> set[str]:
    invite = first_invite(d)
    if invite is None:
        return set()
    return {invite.dst} if callee else {invite.src}


def dtmf_checks(p: str, scenario: Scenario, evidence: Evidence, analysis: CaptureAnalysis, call: Call, d: Dialog,
                media: CallMedia, window: tuple[float, float]) -> list[CheckResult]:
    want = call.expect.dtmf
    assert want is not None
    receiver = want.receiver or call.callee
    receiver_is_callee = receiver == call.callee
    where = receiver or f"the far end ({call.uri})"
    sent_methods = {s.method for s in call.steps if isinstance(s, DtmfStep)}
    method = want.method or (next(iter(sent_methods)) if len(sent_methods) == 1 else None)
    evs, refused = _dtmf_in_capture(analysis, d, media, receiver_is_callee)
    digits = "".join(e.digit for e in evs)
    methods = sorted({e.method for e in evs})
    seen = f"digits {digits or '(none)'} ({', '.join(methods) or 'no DTMF'})"
    if refused:
        seen += "; not delivered: " + ", ".join(i.describe() for i in refused)
    seen += _foreign_event_pts(d, media.forward if receiver_is_callee else media.backward, receiver_is_callee)
    expected = f"digits {want.digits} at {where}" if want.digits else f"no DTMF at {where}"
    out = [check(f"{p}.dtmf", digits == want.digits and not (refused and want.digits), expected, seen,
                 f"expected {want.digits or 'no digits'}, the capture shows {digits or 'no digits'}"
                 + (" (INFO not answered 2xx)" if refused else ""))]
    if method is not None and want.digits:
        wire = "rfc4733" if method is DtmfMethod.RFC2833 else "sip-info"
        ok = bool(evs) and all(e.method == wire for e in evs)
        out.append(check(f"{p}.dtmf.method", ok, wire, ", ".join(methods) or "no DTMF", f"DTMF did not arrive as {wire}"))
    if receiver and receiver in {a.name for a in evidence.agents}:
        ag = evidence.agent(receiver)
        logged = "".join(e.digit for e in ag.events if e.kind is EventKind.DTMF and window[0] <= e.time <= window[1])
        out.append(check(f"{p}.dtmf.pjsua_log", logged == digits, f"{receiver}'s pjsua logged what the capture shows ({digits})",
                         f"{receiver}'s pjsua logged {logged or 'nothing'}", "the capture and the receiver's log disagree",
                         f"pjsua log {receiver}"))
    return out


def audio_checks(p: str, want: AudioExpect, run_dir: Path, codec: str | None = None) -> list[CheckResult]:
    """One receiver's recording: enough signal, the expected tone dominating, and its
    PESQ against the sender's file (wide-band when ``codec``, the codec it arrived in, is)."""
    from callgen.analysis.audio import active_seconds, dominant_frequency

    name = f"{p}.audio[{want.receiver}]"
    rec = run_dir / f"{want.receiver}.rec.wav"
    if not rec.is_file():
        return [check(name, False, f"a recording at {want.receiver}", "no recording file", f"{rec.name} missing", "recording")]
    active = active_seconds(rec)
    out = [check(f"{name}.signal", active >= want.min_active_s, f">= {want.min_active_s:g} s of signal at {want.receiver}",
                 f"{active:.2f} s of signal", "the recording is (nearly) silent", "recording")]
    if want.tone_hz:
        candidates = sorted({float(want.tone_hz), 350.0, 440.0, 697.0, 1000.0, 1209.0, 2000.0, 3000.0})
        dom = dominant_frequency(rec, candidates)
        ok = dom is not None and abs(dom - want.tone_hz) < 1.0
        out.append(check(f"{name}.tone", ok, f"a {want.tone_hz:g} Hz tone dominates", f"dominant {dom:g} Hz" if dom else "no dominant tone",
                         "another sound dominates the recording", "recording"))
    if want.pesq_min is not None:
        out.append(_pesq_check(f"{name}.pesq", want, rec, codec))
    return out


def _pesq_check(name: str, want: AudioExpect, rec: Path, codec: str | None) -> CheckResult:
    from callgen.analysis.pesqscore import is_wideband, score

    assert want.reference is not None and want.pesq_min is not None
    got = score(want.reference, rec, wideband=is_wideband(codec))
    std = "P.862.2 wide-band" if got.mode == "wb" else "P.862.1 narrow-band"
    expected = f"PESQ MOS-LQO >= {want.pesq_min:g} ({std}) against {want.sender}'s {want.reference.name}"
    if got.mos_lqo is None:
        return check(name, False, expected, f"not scored: {got.error}", f"no PESQ score: {got.error}", "recording")
    seen = (f"PESQ MOS-LQO {got.mos_lqo:.2f} ({got.mode}, {codec or 'codec unknown'}), reference found at "
            f"{got.offset_s:.2f} s (correlation {got.correlation:.2f})")
    return check(name, got.mos_lqo >= want.pesq_min, expected, seen, f"PESQ {got.mos_lqo:.2f} at {want.receiver}", "recording")
