"""RTCP and SRTCP: what each receiver says it got (RFC 3550 6.4, RFC 3611 4.7, RFC 3711 3.4).

RTCP is rare (one compound packet every few seconds per stream), so it is parsed
off the hot path.  Reports are kept per SSRC *reported on*: the far end's view
of a stream (loss, jitter, round-trip time from LSR/DLSR, XR VoIP metrics), to
set beside what the capture shows for the same stream.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable

from callgen.analysis.model import XrVoipMetrics
from callgen.analysis.srtp import SrtcpContext, SrtpKey

HEAD = struct.Struct("!BBHI")  # V|P|RC, PT, length in words - 1, sender SSRC
SENDER_INFO = struct.Struct("!IIIII")  # NTP seconds, NTP fraction, RTP timestamp, packet count, octet count
BLOCK = struct.Struct("!IIIIII")  # SSRC, fraction lost|cumulative lost, ext highest seq, jitter, LSR, DLSR
XR_BLOCK = struct.Struct("!BBH")  # block type, type-specific, length in words - 1
VOIP = struct.Struct("!IBBBBHHHHbbBBBBBBBBHHH")  # RFC 3611 4.7 after the block header
PT_SR, PT_RR, PT_XR = 200, 201, 207
MAX_SR_REMEMBERED = 32  # per sender: LSR values to match report blocks against
MAX_PENDING = 256  # SRTCP datagrams kept for a key that may come later
UNAVAILABLE = 127  # RFC 3611: R factor / MOS "unavailable"
Flow = tuple[str, int, str, int]  # src address, src port, dst address, dst port


class Report:
    """The latest report block (and XR VoIP block) about one SSRC, and SR facts it sent."""

    __slots__ = ("reports", "fraction", "cumulative", "ext_highest", "jitter", "rtt", "sender_packets", "xr",
                 "evidence", "t_block", "t_sr", "t_xr")

    def __init__(self) -> None:
        self.t_block = self.t_sr = self.t_xr = float("-inf")  # capture times of what the fields hold
        self.reports = 0
        self.fraction = 0
        self.cumulative = 0
        self.ext_highest = 0
        self.jitter = 0
        self.rtt: float | None = None
        self.sender_packets: int | None = None
        self.xr: XrVoipMetrics | None = None
        self.evidence: str | None = None


class RtcpBook:
    """Everything RTCP said, by SSRC, as the scan goes."""

    def __init__(self, keys_for: Callable[[int, Flow], Iterable[SrtpKey]]):
        self.keys_for = keys_for  #: SRTP keys that may protect what a sender SSRC sends on a flow
        self.about: dict[int, Report] = {}
        self._sr_at: dict[int, dict[int, float]] = {}  # sender SSRC -> {NTP middle 32 bits: capture time}
        self._srtcp: dict[int, SrtcpContext] = {}
        self._pending: list[tuple[float, bytes, Flow]] = []  # SRTCP seen before its key (before the SDP answer)
        self.unread: dict[str, int] = {}  # datagrams that stayed unreadable, by reason

    def packet(self, t: float, data: bytes, flow: Flow) -> str | None:
        """Read one (S)RTCP datagram sent on ``flow``; None when read, else why it could not be.

        Plain RTCP first: whole packets whose lengths add up. SRTCP only when the flow has
        keys to try, or when what follows the readable packets has room for SRTCP's
        E|index word and 80-bit tag with the E bit set; otherwise the packets that do read
        are kept and a few trailing bytes (padding some stacks append) are ignored.
        """
        whole = _whole_packets(data)
        if whole == len(data):
            self._compound(t, data, "rtcp")
            return None
        sender = int.from_bytes(data[4:8], "big") if len(data) >= 8 else 0
        rest = len(data) - whole
        srtcp_shaped = rest >= 4 + SrtcpContext.TAG_LEN and data[len(data) - 4 - SrtcpContext.TAG_LEN] & 0x80
        if not srtcp_shaped:
            clear = self._unprotect(sender, data, flow) if rest >= 4 + SrtcpContext.TAG_LEN else None
            if clear is not None and _compound_length_ok(clear):
                self._compound(t, clear, "srtcp")
                return None
            if whole:
                self._compound(t, data[:whole], "rtcp")
                return None
            return "rtcp-malformed"
        clear = self._unprotect(sender, data, flow)
        if clear is None:
            # A sender may start RTCP before its SDP answer is on the wire: try again at the end.
            if len(self._pending) < MAX_PENDING:
                self._pending.append((t, data, flow))
                return None
            return "srtcp-no-key"
        if not _compound_length_ok(clear):
            return "rtcp-malformed"
        self._compound(t, clear, "srtcp")
        return None

    def finish(self) -> dict[str, int]:
        """Retry the SRTCP kept for later with every key now known; what stays unreadable, by reason."""
        pending, self._pending = self._pending, []
        for t, data, flow in pending:
            clear = self._unprotect(int.from_bytes(data[4:8], "big"), data, flow)
            why = "srtcp-no-key" if clear is None else None if _compound_length_ok(clear) else "rtcp-malformed"
            if why is None:
                self._compound(t, clear, "srtcp")
            else:
                self.unread[why] = self.unread.get(why, 0) + 1
        return self.unread

    def _unprotect(self, sender: int, data: bytes, flow: Flow) -> bytes | None:
        ctx = self._srtcp.get(sender)
        if ctx is not None:
            return ctx.unprotect(data)
        for key in self.keys_for(sender, flow):
            try:
                ctx = SrtcpContext(key)
            except ValueError:
                continue
            clear = ctx.unprotect(data)
            if clear is not None:
                self._srtcp[sender] = ctx
                return clear
        return None

    def _report(self, ssrc: int) -> Report:
        r = self.about.get(ssrc)
        if r is None:
            r = self.about[ssrc] = Report()
        return r

    def _compound(self, t: float, data: bytes, evidence: str) -> None:
        off, n = 0, len(data)
        while off + 8 <= n:
            b0, pt, length, sender = HEAD.unpack_from(data, off)
            end = off + (length + 1) * 4
            count = b0 & 0x1F
            if pt == PT_SR and off + 28 <= end:
                msw, lsw, _rts, pkts, _octets = SENDER_INFO.unpack_from(data, off + 8)
                seen = self._sr_at.setdefault(sender, {})
                seen[((msw & 0xFFFF) << 16) | (lsw >> 16)] = t
                if len(seen) > MAX_SR_REMEMBERED:
                    del seen[next(iter(seen))]
                me = self._report(sender)
                if t >= me.t_sr:
                    me.t_sr = t
                    me.sender_packets = pkts
                me.evidence = me.evidence or evidence
                self._blocks(t, data, off + 28, end, count, evidence)
            elif pt == PT_RR:
                self._blocks(t, data, off + 8, end, count, evidence)
            elif pt == PT_XR:
                self._xr(t, data, off + 8, end, evidence)
            off = end

    def _blocks(self, t: float, data: bytes, p: int, end: int, count: int, evidence: str) -> None:
        for _ in range(count):
            if p + 24 > end:
                return
            ssrc, lost, ext_highest, jitter, lsr, dlsr = BLOCK.unpack_from(data, p)
            p += 24
            r = self._report(ssrc)
            r.reports += 1
            if t < r.t_block:  # a late-decrypted older report: keep the latest one
                continue
            r.t_block = t
            r.fraction = lost >> 24
            cum = lost & 0xFFFFFF
            r.cumulative = cum - 0x1000000 if cum & 0x800000 else cum  # 24-bit signed
            r.ext_highest = ext_highest
            r.jitter = jitter
            r.evidence = evidence
            sent = self._sr_at.get(ssrc, {}).get(lsr) if lsr else None
            if sent is not None:  # RTT = arrival of this report - the SR it echoes - the far end's delay
                r.rtt = t - sent - dlsr / 65536.0

    def _xr(self, t: float, data: bytes, p: int, end: int, evidence: str) -> None:
        while p + 4 <= end:
            bt, _ts, blen = XR_BLOCK.unpack_from(data, p)
            size = (blen + 1) * 4
            if bt == 7 and blen == 8 and p + size <= end:
                (ssrc, loss, discard, _bd, _gd, _bdur, _gdur, rtt, esd, _sig, _noise, _rerl, _gmin, r_factor,
                 _ext_r, mos_lq, mos_cq, _rx, _res, jb_nom, jb_max, _jb_abs) = VOIP.unpack_from(data, p + 4)
                rep = self._report(ssrc)
                if t < rep.t_xr:
                    p += size
                    continue
                rep.t_xr = t
                rep.xr = XrVoipMetrics(
                    loss_rate_pct=loss * 100.0 / 256,
                    discard_rate_pct=discard * 100.0 / 256,
                    rtt_ms=rtt,
                    end_system_delay_ms=esd,
                    r_factor=None if r_factor == UNAVAILABLE else r_factor,
                    mos_lq=None if mos_lq == UNAVAILABLE else mos_lq / 10.0,
                    mos_cq=None if mos_cq == UNAVAILABLE else mos_cq / 10.0,
                    jb_nominal_ms=jb_nom,
                    jb_max_ms=jb_max,
                )
                rep.evidence = rep.evidence or evidence
            p += size


def _whole_packets(data: bytes) -> int:
    """Bytes of ``data`` that are whole RTCP packets from the start (version 2, PT 192-223,
    lengths within the datagram); 0 when not even the first is."""
    off, n = 0, len(data)
    while off + 8 <= n:
        if data[off] >> 6 != 2 or not 192 <= data[off + 1] <= 223:
            break
        end = off + (((data[off + 2] << 8) | data[off + 3]) + 1) * 4
        if end > n:
            break
        off = end
    return off


def _compound_length_ok(data: bytes) -> bool:
    """True when ``data`` is whole RTCP packets, version 2, lengths adding up exactly
    (an SRTCP packet carries 4 + 10 bytes more, so it does not add up)."""
    off, n = 0, len(data)
    if n < 8:
        return False
    while off + 4 <= n:
        if data[off] >> 6 != 2 or not 192 <= data[off + 1] <= 223:
            return False
        off += (((data[off + 2] << 8) | data[off + 3]) + 1) * 4
    return off == n
