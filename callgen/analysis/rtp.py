"""Per-stream RTP state: sequence accounting, jitter, RFC 4733 events, SRTP.

``StreamState.add`` runs once per RTP packet, so it is written for speed: slots,
locals, no per-packet objects beyond what ``struct`` returns.  Everything costly
(SRTP, DTMF) is behind a cheap test.
"""

from __future__ import annotations

import math
import operator
import struct
from collections import Counter
from collections.abc import Callable

from callgen.analysis.sip import STATIC_PT
from callgen.analysis.srtp import SrtpContext, SrtpKey

EVENT = struct.Struct("!BBH")  # RFC 4733 event, E|R|volume, duration
DIGITS = "0123456789*#ABCD"
ENTROPY_SAMPLES = 64
MAX_GAP_TRACKED = 3000  # a bigger jump is a restart, not loss to remember number by number
MAX_MISSING = 50000
DTMF_GUESS_MIN_PT = 96
#: A transit-time difference bigger than this many seconds of the stream's clock is a
#: timestamp reset (a fax/T.38 switch, a restarted sender), not jitter: resync instead.
RESET_SECONDS = 2.0
RESET_FLOOR = 8000 * RESET_SECONDS  # below the reset limit of every clock >= 8 kHz: one compare per packet
#: Clocks an unknown payload type's timestamps are matched against (RTP audio and video
#: clocks), and how close the measured rate must come: 5 % tells 44.1 from 48 kHz.
KNOWN_CLOCKS = (8000, 16000, 48000, 90000)
CLOCK_TOLERANCE = 0.05
INFER_SECONDS = 1.0  # arrival time over which an unknown clock is measured
INFER_MAX_PACKETS = 512  # packets kept for that (then replayed through the jitter estimate)
INFER_RESET_LIM = 200000 * RESET_SECONDS  # no reset is called while the clock is unknown
CN_NAMES = frozenset({"cn"})
CN_STATIC = (13, 19)  # comfort noise (RFC 3389) and its old static number
BIN_SECONDS = 0.1  # timeline bins (packets per bin), widened by doubling to stay under MAX_BINS
MAX_BINS = 3000
MAX_GAPS = 200


class DtmfAccumulator:
    """One RFC 4733 event: all packets with the same (PT, RTP timestamp)."""

    __slots__ = ("first_time", "event", "duration", "volume", "end_seen", "marker", "pt", "timestamp")

    def __init__(self, t: float, pt: int, ts: int, event: int, duration: int, volume: int, end: bool, marker: bool):
        self.first_time = t
        self.pt = pt
        self.timestamp = ts
        self.event = event
        self.duration = duration
        self.volume = volume
        self.end_seen = end
        self.marker = marker


class StreamState:
    """Mutable per-stream accumulator, frozen into an ``RtpStream`` at the end.

    The common packet (next sequence number, same payload type, plain audio)
    takes the short path in ``add``; anything else (gaps, duplicates, a payload
    type change, SRTP, events, entropy sampling) goes through ``_seq``/``_slow``.
    """

    __slots__ = (
        "src", "dst", "ssrc", "packets", "first_time", "last_time", "max_delta", "max_ext", "min_ext",
        "missing", "duplicates", "out_of_order", "pts", "last_b1", "event_pts", "guess_events", "rate",
        "j", "jsum", "jn", "jmax", "prev_t", "prev_ts", "events", "samples", "slow", "fast_b1",
        "srtp", "auth_failures", "auth_ok", "decrypt_error", "announced", "sdp_savp",
        "call_id", "event_rate", "codec_pt", "keys_tried", "resolver", "rtpmap", "protected", "tries_left",
        "addrs", "bin_s", "bin_end", "cum", "gaps", "cut", "last_pt", "clock_known", "reset_lim", "resets",
        "t0", "ts0", "pt_changes", "wire_counts", "fail_counts", "event_repeats", "restarts", "seg_expected", "jumps",
        "pt_counts", "pt_mark", "quiet_pts", "inferring", "infer_buf", "clock_inferred",
    )

    def __init__(self, src: str, dst: str, ssrc: int, t: float, first_seq: int):
        self.src = src
        self.dst = dst
        self.ssrc = ssrc
        self.packets = 0
        self.first_time = t
        self.last_time = t
        self.max_delta = 0.0
        self.max_ext = first_seq - 1  # so the first packet takes the in-order path
        self.min_ext = first_seq
        self.missing: set[int] = set()  # extended seqs skipped over, not (yet) received
        self.duplicates = 0
        self.out_of_order = 0
        self.pts: list[int] = []
        self.last_b1 = -1
        self.event_pts: set[int] = set()
        self.guess_events = True  # no SDP said which PT carries events
        self.rate = 8000  # used for arithmetic even when unknown; ``clock_known`` says whether to trust it
        self.clock_known = False
        self.reset_lim = 8000 * RESET_SECONDS
        self.resets = 0
        self.t0 = -1.0  # anchor (time, RTP timestamp) of the current timestamp run: the clock estimate
        self.ts0 = 0
        self.pt_changes = 0
        self.event_repeats = 0  # RFC 4733 packets sent again with the same sequence number (not duplicates)
        self.restarts = 0  # sequence and timestamp restarted together: a new segment
        self.seg_expected = 0  # expected packets of the segments before the current one
        self.jumps = 0  # forward sequence jumps too big to be loss, with no timestamp restart
        self.pt_counts: dict[int, int] = {}  # packets per PT, counted at each PT change
        self.pt_mark = 0  # packets before the current PT run
        self.quiet_pts: set[int] = set()  # comfort noise PTs: not in the jitter, not the codec if audio came
        self.inferring = False  # the clock is unknown: being measured from the first packets
        self.infer_buf: list[tuple[float, int]] = []
        self.clock_inferred = False
        self.addrs = b""  # src, dst addresses and ports as on the wire (the scanner's stream key)
        self.bin_s = BIN_SECONDS
        self.bin_end = t + BIN_SECONDS  # the packet loop calls next_bin() once t reaches this
        self.cum = [0]  # packets counted before each timeline bin began
        self.gaps: list[tuple[float, int]] = []  # (seconds since the first packet, numbers skipped)
        self.cut = 0  # packets the capture's snaplen cut short of their IP/UDP length
        self.last_pt = -1
        self.rtpmap: dict[int, tuple[str, int]] = {}
        self.protected = False  # payloads go through SRTP (known key, pending key, or keys to probe)
        self.tries_left = 0
        self.event_rate = 8000
        self.j = 0.0
        self.jsum = 0.0
        self.jn = 0
        self.jmax = 0.0
        self.prev_t = -1.0
        self.prev_ts = 0
        self.events: dict[tuple[int, int], DtmfAccumulator] = {}
        self.samples: list[bytes] = []
        # byte counts of every protected packet's wire payload, and of those that failed
        # authentication: the entropy of the whole stream, and of what a receiver discards
        self.wire_counts: Counter[int] = Counter()
        self.fail_counts: Counter[int] = Counter()
        self.slow = True
        self.fast_b1 = -1  # b1 (marker + PT) of packets that may take the inlined fast path; -1 none
        self.srtp: SrtpContext | None = None
        self.auth_failures = 0
        self.auth_ok = 0
        self.decrypt_error: str | None = None
        self.announced = False
        self.sdp_savp = False
        self.call_id: str | None = None
        self.codec_pt = -1
        self.keys_tried: tuple[SrtpKey, ...] = ()
        self.resolver: Callable[[StreamState], None] | None = None

    def add(self, t: float, b0: int, b1: int, seq: int, rts: int, buf: bytes, start: int, end: int) -> None:
        """Account one packet; ``buf[start:end]`` is the whole RTP packet."""
        if t >= self.bin_end:
            self.next_bin(t)
        self.packets += 1
        d = t - self.last_time
        if d > self.max_delta:
            self.max_delta = d
        self.last_time = t
        if b1 != self.last_b1:
            self._b1_changed(b1)
        ext = self.max_ext
        if (seq - ext) & 0xFFFF == 1:
            ext += 1
            self.max_ext = ext
        else:
            ext = self._seq(seq, t, b1, rts)
            if ext is None:
                return
        if self.slow:
            self._slow(t, b0, b1, rts, buf, start, end, ext)
            return
        # RFC 3550 interarrival jitter (audio only: event packets never get here);
        # an inlined copy of _jitter, as this runs once per packet
        prev_t = self.prev_t
        if prev_t >= 0.0:
            dd = (t - prev_t) * self.rate - ((((rts - self.prev_ts) + 0x80000000) & 0xFFFFFFFF) - 0x80000000)
            if dd < 0:
                dd = -dd
            if dd < self.reset_lim:
                j = self.j
                j += (dd - j) * 0.0625
                self.j = j
                if j > self.jmax:
                    self.jmax = j
                self.jsum += j
                self.jn += 1
            else:
                self.timestamp_reset(t, rts)
        else:
            self.t0 = t
            self.ts0 = rts
        self.prev_t = t
        self.prev_ts = rts

    def next_bin(self, t: float) -> None:
        """A packet at ``t`` falls past the current timeline bin: open its bin (empty bins
        in between), doubling the bin width while the timeline would exceed MAX_BINS."""
        first = self.first_time
        while True:
            idx = int((t - first) / self.bin_s)
            if idx < MAX_BINS:
                break
            self.cum = self.cum[::2]  # bin j of twice the width starts where old bin 2j did
            self.bin_s *= 2
        cum = self.cum
        if idx >= len(cum):
            cum.extend([self.packets] * (idx + 1 - len(cum)))
        self.bin_end = first + (idx + 1) * self.bin_s

    def timeline(self) -> tuple[float, tuple[int, ...]]:
        """(bin width in seconds, packets per bin) from the first packet on."""
        cum, bin_s = self.cum, self.bin_s
        while len(cum) > MAX_BINS:
            cum, bin_s = cum[::2], bin_s * 2
        return bin_s, tuple(map(operator.sub, cum[1:] + [self.packets], cum))

    def timestamp_reset(self, t: float, rts: int) -> None:
        """The RTP timestamp jumped by more than RESET_SECONDS of clock against arrival
        time: count it and resync (the jitter estimate carries on from the new base)."""
        self.resets += 1
        self.t0 = t
        self.ts0 = rts

    def _seq(self, seq: int, t: float, b1: int, rts: int) -> int | None:
        """Extended sequence number of an out-of-line packet; None for a duplicate.

        A packet that is not the next one is a restart when its timestamp is also off by
        more than the reset limit against arrival time (a restarted sender): a new
        segment, not loss, duplicates or reordering.
        """
        ext = self.max_ext
        delta = (seq - ext) & 0xFFFF
        if b1 & 0x7F not in self.event_pts and self._restarted(t, rts):
            # (an event's timestamp is its start, seconds behind arrival by design)
            return self._new_segment(seq)
        if delta == 0:
            return self._repeat(b1)
        if delta < 0x8000:  # forward, skipping delta - 1 numbers
            if delta > MAX_GAP_TRACKED:  # too many to remember number by number
                self.jumps += 1
            return self._forward(ext, delta)
        back = ext - (0x10000 - delta)
        if back < self.min_ext:  # older than anything seen so far
            if self.min_ext - back <= MAX_GAP_TRACKED:
                self.missing.update(range(back + 1, self.min_ext))
            self.min_ext = back
            self.out_of_order += 1
            return back
        if back in self.missing:
            self.missing.discard(back)
            self.out_of_order += 1
            return back
        return self._repeat(b1)

    def _forward(self, ext: int, delta: int) -> int:
        if len(self.gaps) < MAX_GAPS:
            self.gaps.append((self.last_time - self.first_time, delta - 1))
        if delta <= MAX_GAP_TRACKED:
            self.missing.update(range(ext + 1, ext + delta))
            if len(self.missing) > MAX_MISSING:
                floor = ext - 0x8000
                self.missing = {x for x in self.missing if x > floor}
        self.max_ext = ext + delta
        return ext + delta

    def _repeat(self, b1: int) -> None:
        """A sequence number received before: an RFC 4733 packet sent again (the end packet
        three times) is an event repeat; anything else a duplicate. Neither is loss."""
        if b1 & 0x7F in self.event_pts:
            self.event_repeats += 1
        else:
            self.duplicates += 1
        return None

    def _restarted(self, t: float, rts: int) -> bool:
        prev_t = self.prev_t
        if prev_t < 0.0:
            return False
        dd = (t - prev_t) * self.rate - ((((rts - self.prev_ts) + 0x80000000) & 0xFFFFFFFF) - 0x80000000)
        return abs(dd) >= self.reset_lim

    def _new_segment(self, seq: int) -> int:
        """The sender restarted: close the current segment (its expected count is kept)
        and number the new one from ``seq``; the jitter path counts the timestamp reset."""
        self.seg_expected += self.max_ext - self.min_ext + 1
        self.restarts += 1
        self.missing = set()
        self.max_ext = self.min_ext = seq
        return seq

    def _b1_changed(self, b1: int) -> None:
        self.last_b1 = b1
        pt = b1 & 0x7F
        if pt != self.last_pt:
            self.pt_changes += 1
            if self.last_pt >= 0:  # the run of the previous PT ends before this packet
                self.pt_counts[self.last_pt] = self.pt_counts.get(self.last_pt, 0) + self.packets - 1 - self.pt_mark
            self.pt_mark = self.packets - 1
            self.last_pt = pt
        if pt not in self.pts:
            self.pts.append(pt)
            self._new_pt(pt)
        self._update_slow()

    def _update_slow(self) -> None:
        pt = self.last_b1 & 0x7F
        self.slow = (
            self.protected
            or pt in self.event_pts
            or pt in self.quiet_pts
            or self.codec_pt < 0
            or self.inferring
            or (self.guess_events and pt >= DTMF_GUESS_MIN_PT)
            or len(self.samples) < ENTROPY_SAMPLES
        )
        self.fast_b1 = -1 if self.slow else self.last_b1

    def _slow(self, t: float, b0: int, b1: int, rts: int, buf: bytes, start: int, end: int, ext: int) -> None:
        pt = b1 & 0x7F
        is_event = pt in self.event_pts
        hl = 12 + 4 * (b0 & 0x0F)
        if not is_event and len(self.samples) < ENTROPY_SAMPLES:
            self.samples.append(buf[start + hl : end])  # what crossed the wire
        clear = True
        if self.protected:
            failures = self.auth_failures
            packet = self._unprotect(buf[start:end], ext)
            if not is_event:  # every protected packet is judged, not a sample of the first ones
                wire = buf[start + hl : end]
                self.wire_counts.update(wire)
                if self.auth_failures != failures:
                    self.fail_counts.update(wire)
            if packet is None:
                clear = False
            else:
                buf, start, end = packet, 0, len(packet)
        self._update_slow()
        if is_event:
            if clear:
                self._event(t, b0, b1, rts, buf, start, end)
            return
        if clear and self.guess_events and pt >= DTMF_GUESS_MIN_PT and end - start - hl == 4 and not b0 & 0x30:
            self.event_pts.add(pt)
            self._update_slow()
            self._event(t, b0, b1, rts, buf, start, end)
            return
        if pt in self.quiet_pts:  # comfort noise: no jitter (as tshark), and not the clock
            return
        if self.codec_pt < 0:
            self._set_clock(pt)
        if self.inferring:
            self._infer(t, rts)
            return
        self._jitter(t, rts)

    def _jitter(self, t: float, rts: int) -> None:
        """RFC 3550 interarrival jitter on audio packets (``add`` inlines the same
        update on its fast path, and ``scan`` on its hot loop, for speed)."""
        prev_t = self.prev_t
        if prev_t >= 0.0:
            dd = (t - prev_t) * self.rate - ((((rts - self.prev_ts) + 0x80000000) & 0xFFFFFFFF) - 0x80000000)
            if dd < 0:
                dd = -dd
            if dd < self.reset_lim:
                j = self.j + (dd - self.j) * 0.0625
                self.j = j
                if j > self.jmax:
                    self.jmax = j
                self.jsum += j
                self.jn += 1
            else:
                self.timestamp_reset(t, rts)
        else:
            self.t0 = t
            self.ts0 = rts
        self.prev_t = t
        self.prev_ts = rts

    def _new_pt(self, pt: int) -> None:
        name = (self.rtpmap.get(pt) or STATIC_PT.get(pt) or ("", 0))[0].lower()
        if name in CN_NAMES or (not name and pt in CN_STATIC):
            self.quiet_pts.add(pt)

    def _set_clock(self, pt: int) -> None:
        """The first audio/video packet (not an event, not comfort noise) sets the clock
        the jitter is measured in; an unknown one is measured from the timestamps."""
        self.codec_pt = pt
        rate = (self.rtpmap.get(pt) or STATIC_PT.get(pt) or ("", 0))[1]
        self.clock_known = rate > 0
        if rate:
            self.rate = rate
            self.reset_lim = rate * RESET_SECONDS
        else:
            self.inferring = True
            self.reset_lim = INFER_RESET_LIM

    def _infer(self, t: float, rts: int) -> None:
        """Keep (arrival, timestamp) until INFER_SECONDS have passed, then infer the clock."""
        buf = self.infer_buf
        buf.append((t, rts))
        if t - buf[0][0] >= INFER_SECONDS or len(buf) >= INFER_MAX_PACKETS:
            self.finish_inference()

    def finish_inference(self) -> None:
        """Match the timestamps' rate against arrival time to a known clock (within
        CLOCK_TOLERANCE); either way replay the kept packets through the jitter estimate
        (an unmatched clock leaves ``clock_known`` false: the jitter is then not shown)."""
        if not self.inferring:
            return
        self.inferring = False
        buf, self.infer_buf = self.infer_buf, []
        (t0, ts0), (t1, ts1) = buf[0], buf[-1]
        span = t1 - t0
        if span >= 0.1:
            measured = ((((ts1 - ts0) + 0x80000000) & 0xFFFFFFFF) - 0x80000000) / span
            for clock in KNOWN_CLOCKS:
                if abs(measured - clock) <= clock * CLOCK_TOLERANCE:
                    self.rate, self.clock_known, self.clock_inferred = clock, True, True
                    self.reset_lim = clock * RESET_SECONDS
                    break
        for t, rts in buf:
            self._jitter(t, rts)
        self._update_slow()

    def packets_by_pt(self) -> dict[int, int]:
        """Packets per payload type, duplicates included, in order of first appearance."""
        counts = dict(self.pt_counts)
        if self.last_pt >= 0:
            counts[self.last_pt] = counts.get(self.last_pt, 0) + self.packets - self.pt_mark
        return {pt: counts.get(pt, 0) for pt in self.pts}

    def dominant_pt(self) -> int:
        """The stream's codec: the PT with most packets among audio/video, else comfort
        noise, else events; -1 for no packet."""
        counts = self.packets_by_pt()
        if not counts:
            return -1

        def rank(pt: int) -> tuple[int, int]:
            kind = 2 if pt in self.event_pts else 1 if pt in self.quiet_pts else 0
            return kind, -counts[pt]

        return min(counts, key=rank)

    def _payload_offset(self, b0: int, buf: bytes, start: int, end: int) -> int:
        p = start + 12 + 4 * (b0 & 0x0F)
        if b0 & 0x10 and p + 4 <= end:
            p += 4 + 4 * int.from_bytes(buf[p + 2 : p + 4], "big")
        return p

    def _event(self, t: float, b0: int, b1: int, rts: int, buf: bytes, start: int, end: int) -> None:
        p = self._payload_offset(b0, buf, start, end)
        if b0 & 0x20 and end > p:
            end -= buf[end - 1]
        if end - p < 4:
            return
        ev, erv, dur = EVENT.unpack_from(buf, p)
        pt = b1 & 0x7F
        key = (pt, rts)
        acc = self.events.get(key)
        if acc is None:
            self.events[key] = DtmfAccumulator(t, pt, rts, ev, dur, erv & 0x3F, bool(erv & 0x80), bool(b1 & 0x80))
            return
        if dur > acc.duration:
            acc.duration = dur
        if erv & 0x80:
            acc.end_seen = True
        if b1 & 0x80:
            acc.marker = True

    # --- SRTP -----------------------------------------------------------------

    def _unprotect(self, packet: bytes, ext: int) -> bytes | None:
        """Verify and decrypt; a clear RTP packet, or None when the payload stays opaque.

        Streams that SDP did not call SAVP are only probed with the given keys on
        their first packets; if none verifies they are taken as plain RTP.
        """
        if self.srtp is None:
            if self.tries_left <= 0:
                return None if self.sdp_savp else packet
            self.tries_left -= 1
            self._choose_key(packet, ext)
            if self.srtp is None:
                if not self.sdp_savp:
                    if self.tries_left <= 0:
                        self.protected = False
                    return packet
                self.auth_failures += 1
                return None
        ctx = self.srtp
        roc = ext >> 16 if ext > 0 else 0
        if not ctx.verify(packet, roc):
            self.auth_failures += 1
            return None
        self.auth_ok += 1
        hl = self._payload_offset(packet[0], packet, 0, len(packet))
        clear = ctx.decrypt_payload(packet, hl, self.ssrc, ext if ext > 0 else 0)
        return packet[:hl] + clear

    def _choose_key(self, packet: bytes, ext: int) -> None:
        """Pick, among the candidate keys, the one whose tag verifies on this packet."""
        if self.resolver is not None:
            self.resolver(self)  # the SDP answer may have arrived since the stream began
            if self.srtp is not None:
                return
        roc = ext >> 16 if ext > 0 else 0
        for key in self.keys_tried:
            try:
                ctx = SrtpContext(key)
            except ValueError:
                continue
            if ctx.verify(packet, roc):
                self.srtp = ctx
                self.decrypt_error = None
                return
        if self.keys_tried:
            self.decrypt_error = (
                f"authentication failed with every candidate key ({len(self.keys_tried)} tried): wrong key"
            )
        elif self.sdp_savp:
            self.decrypt_error = "SDP says RTP/SAVP but no key is known (give --srtp-key or --keys-from)"

    def set_key(self, key: SrtpKey) -> None:
        try:
            self.srtp = SrtpContext(key)
        except ValueError as exc:
            self.srtp = None
            self.decrypt_error = str(exc)
            return
        self.protected = True

    # --- results --------------------------------------------------------------

    def clock_estimate(self) -> float | None:
        """RTP clock units per second over the current timestamp run; None when too short to tell."""
        span = self.prev_t - self.t0
        if self.t0 < 0.0 or span < 0.05:
            return None
        return ((self.prev_ts - self.ts0) & 0xFFFFFFFF) / span

    def expected(self) -> int:
        """Sequence numbers the sender used: over every segment, first to highest."""
        return self.seg_expected + (self.max_ext - self.min_ext + 1 if self.packets else 0)

    def entropy(self) -> float:
        """Shannon entropy in bits/byte of the wire payloads, pooled: every packet of a
        protected stream (SRTP by SDP or key), the first ENTROPY_SAMPLES of any other.

        Pooled rather than per payload: a 40-byte payload cannot show more than
        log2(40) bits, while ciphertext pooled over a few KB comes out near 8.
        """
        if self.wire_counts:
            return _entropy(self.wire_counts)
        counts: Counter[int] = Counter()
        for s in self.samples:
            counts.update(s)
        return _entropy(counts)

    def failed_entropy(self) -> float | None:
        """Entropy of the payloads that failed SRTP authentication (None: none failed):
        near 8 for ciphertext under another key, far lower for plain audio."""
        return _entropy(self.fail_counts) if self.fail_counts else None

    def dtmf_events(self) -> list[DtmfEvent_]:
        """Events in time order, with long-event segments merged back (RFC 4733 2.5.2.3).

        A segment continues the previous event when it has no marker, the same
        event code and PT, and its timestamp is the previous segment's timestamp
        plus that segment's duration.  A repeated digit starts with a marker and
        a new timestamp, so it stays apart.
        """
        evs = sorted(self.events.values(), key=lambda e: e.first_time)
        out: list[DtmfEvent_] = []
        for e in evs:
            if not 0 <= e.event < len(DIGITS):
                continue
            prev = out[-1] if out else None
            if (
                prev is not None
                and not e.marker
                and prev.event == e.event
                and prev.pt == e.pt
                and (prev.last_ts + prev.last_duration) & 0xFFFFFFFF == e.timestamp
            ):
                prev.total += e.duration
                prev.last_ts = e.timestamp
                prev.last_duration = e.duration
                prev.end_seen = e.end_seen
                continue
            out.append(DtmfEvent_(e))
        return out


def _entropy(counts: Counter[int]) -> float:
    n = sum(counts.values())
    if not n:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in counts.values())


class DtmfEvent_:
    """A whole RFC 4733 event (segments merged), in RTP timestamp units."""

    __slots__ = ("first_time", "pt", "timestamp", "event", "total", "volume", "end_seen", "last_ts", "last_duration")

    def __init__(self, e: DtmfAccumulator):
        self.first_time = e.first_time
        self.pt = e.pt
        self.timestamp = e.timestamp
        self.event = e.event
        self.total = e.duration
        self.volume = e.volume
        self.end_seen = e.end_seen
        self.last_ts = e.timestamp
        self.last_duration = e.duration

    @property
    def digit(self) -> str:
        return DIGITS[self.event]
