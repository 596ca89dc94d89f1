"""Human-readable views of a ``CaptureAnalysis``: SIP ladder, stream table, digits."""

from __future__ import annotations

from callgen.analysis.model import CaptureAnalysis, Dialog, RtpStream


def ladder_lines(dialog: Dialog) -> list[str]:
    """One line per message: time relative to the first message, src -> dst, summary."""
    if not dialog.messages:
        return []
    t0 = dialog.messages[0].time
    width = max(len(m.src) for m in dialog.messages)
    out = []
    for m in dialog.messages:
        sdp = " [SDP]" if m.sdp is not None else ""
        out.append(f"{m.time - t0:8.3f}  {m.src:>{width}} -> {m.dst}  {m.summary}{sdp}")
    return out


def _jitter(s: RtpStream) -> str:
    if not s.clock_known:
        return "jitter ? (clock rate unknown)"
    resets = f" ({s.timestamp_resets} timestamp resets)" if s.timestamp_resets else ""
    inferred = f" (clock {s.clock_rate} Hz inferred)" if s.clock_inferred else ""
    return f"jitter {s.jitter_ms_mean:.2f}/{s.jitter_ms_max:.2f} ms{resets}{inferred}"


def _mos(s: RtpStream) -> str:
    r = s.rating()
    return f"E-model MOS {r.mos:.2f} (R {r.r_factor:.1f})" if r else "E-model MOS ? (codec or clock unknown)"


def _far_end(s: RtpStream) -> str:
    """What the receiver's RTCP says about this stream, beside what the capture shows."""
    parts = [f"far end ({s.rtcp_evidence}):"]
    if s.rtcp_reports:
        pct = f" ({s.rtcp_reported_loss_pct:.2f}%)" if s.rtcp_reported_loss_pct is not None else ""
        parts.append(f"lost {s.rtcp_reported_lost}{pct} [capture: {s.lost}]")
        j = s.rtcp_reported_jitter_ms
        parts.append(f"jitter {j:.2f} ms" if j is not None else "jitter ? (clock rate unknown)")
        if s.rtcp_rtt_ms is not None:
            parts.append(f"rtt {s.rtcp_rtt_ms:.1f} ms")
    if s.rtcp_xr is not None:
        x = s.rtcp_xr
        parts.append(f"XR loss {x.loss_rate_pct:.1f}% MOS-LQ {x.mos_lq if x.mos_lq is not None else '?'}")
    return " ".join(parts)


def summary_text(a: CaptureAnalysis) -> str:
    lines = [f"capture {a.source}: {a.packets} packets"]
    if a.first_time is not None and a.last_time is not None:
        lines[0] += f", {a.last_time - a.first_time:.3f} s"
    if a.truncated is not None:
        lines.append(
            f"truncated at byte offset {a.truncated.offset} ({a.truncated.bytes_left} bytes of the last record):"
            " complete records before it analysed"
        )
    if a.corrupt:
        lines.append(
            f"corrupt: {len(a.corrupt)} record header(s), {sum(c.bytes_skipped for c in a.corrupt)} bytes skipped"
            f" (first at byte offset {a.corrupt[0].offset}): reading went on at the next valid record"
        )
    if a.skipped:
        lines.append("skipped: " + ", ".join(f"{k} {v}" for k, v in sorted(a.skipped.items())))
    lines.append("")
    lines.append(f"dialogs: {len(a.dialogs)}")
    for d in a.dialogs:
        unseen = " (INVITE not captured: from the response)" if not d.invite_captured and d.final_code else ""
        lines.append(f"  Call-ID {d.call_id}  final {d.final_code if d.final_code is not None else '-'}{unseen}")
        for side, sdp in (("offer", d.offer), ("answer", d.answer)):
            m = sdp.audio() if sdp else None
            if m is not None:
                te = ",".join(str(p) for p in m.telephone_event_pts) or "-"
                crypto = f" crypto {','.join(c.suite for c in m.crypto)}" if m.crypto else ""
                lines.append(
                    f"    {side}: {m.addr}:{m.port} {m.proto} {' '.join(m.codecs()[:6])} te={te} {m.direction}{crypto}"
                )
        lines.extend("    " + ln for ln in ladder_lines(d))
    lines.append("")
    lines.append(f"rtp streams: {len(a.rtp_streams)}")
    for s in a.rtp_streams:
        enc = ""
        if s.srtp:
            enc = f" SRTP {s.crypto_suite or ''} " + (
                "decrypted" if s.decrypted else f"NOT decrypted ({s.decrypt_error}; auth failures {s.auth_failures})"
            )
        elif s.decrypt_error:
            enc = f" NOT decrypted ({s.decrypt_error})"
        lines.append(
            f"  {s.src} -> {s.dst} ssrc 0x{s.ssrc:08X} pt {','.join(map(str, s.payload_types))}"
            f" {s.codec or '?'}: {s.packets} pkts, expected {s.expected}, lost {s.lost}, dup {s.duplicates},"
            f" ooo {s.out_of_order},"
            + (f" restarts {s.restarts}," if s.restarts else "")
            + (f" event repeats {s.event_repeats}," if s.event_repeats else "")
            + f" {_jitter(s)},"
            f" max delta {s.max_delta_ms:.1f} ms, {s.duration:.1f} s, {_mos(s)}{enc}"
            + ("" if s.announced else " (not in SDP)")
        )
        if s.rtcp_reports or s.rtcp_xr is not None:
            lines.append("    " + _far_end(s))
    lines.append("")
    lines.append(f"dtmf: {len(a.dtmf)} events")
    groups: dict[tuple, list] = {}
    for e in a.dtmf:
        groups.setdefault((e.method, e.src, e.dst, e.ssrc), []).append(e)
    for (method, src, dst, ssrc), evs in groups.items():
        who = f"ssrc 0x{ssrc:08X}" if ssrc is not None else "SIP INFO"
        digits = "".join(e.digit for e in evs if e.delivered)
        refused = [e for e in evs if not e.delivered]
        lost = ("; not delivered: " + ", ".join(
            f"{e.digit} ({'answered ' + str(e.status) if e.status is not None else 'never answered'})" for e in refused)
            if refused else "")
        lines.append(f"  {src} -> {dst} {who} ({method}): {digits or '(none)'}{lost}")
    return "\n".join(lines) + "\n"
