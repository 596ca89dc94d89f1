"""One capture in many files, analysed file by file with flat memory.

``RollingScan`` is the scanner of ``analyze_capture`` fed one complete file after another
(a rotated capture: capture.pcap, capture.pcap1, ...), its state carried across the file
boundaries: a SIP dialog whose INVITE is in one file and its BYE in the next is one dialog,
an RTP stream that spans three files is one stream (sequence numbers, loss, jitter and DTMF
events go on as in one file).  Nothing of the files is kept but that state, and the caller
takes each call out once it is over (``take``): its frozen dialog, its streams and DTMF,
and the scan forgets them.  Streams nobody took are dropped once they have been idle for
a while (``drop_idle``); each dropped or taken stream is counted as ``analyze_capture``
would have listed it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from callgen.analysis.model import CaptureAnalysis, Dialog, DtmfEvent, RtpStream
from callgen.analysis.rtp import StreamState
from callgen.analysis.scan import NOT_RTP, _freeze_stream, _info_events, _plausible_rtp, _Scanner, refuse_damage, stream_dtmf
from callgen.analysis.srtp import SrtpKey


@dataclass(frozen=True)
class CallMedia:
    """What one call's media addresses received in a time window: its streams and its RFC 4733 events."""

    streams: tuple[RtpStream, ...]
    dtmf: tuple[DtmfEvent, ...]


def _ports(st: StreamState) -> tuple[int, int]:
    return int(st.src.rpartition(":")[2]), int(st.dst.rpartition(":")[2])


def _listed(st: StreamState) -> bool:
    """Would ``analyze_capture`` list this stream (announced by an SDP, or plausible RTP)?"""
    return st.announced or _plausible_rtp(st, *_ports(st))


class RollingScan(_Scanner):
    """``analyze_capture``'s scan over a sequence of files, state carried from one to the next."""

    chunk_bytes = 1 << 17  #: small reads: a prover running beside a load gives way often (``pace``)

    def __init__(self, extra_keys: Iterable[SrtpKey] = ()):
        super().__init__("", tuple(extra_keys), ())
        self.files = 0
        self.total_packets = 0
        self.first_time: float | None = None
        self.until: float | None = None  #: the time of the last packet analysed
        self.streams_counted = 0  #: streams taken or dropped that ``analyze_capture`` would have listed
        self.dtmf_counted = 0
        self._by_dst: dict[str, list[tuple]] = {}  #: live streams by destination address

    # the scanner's hooks: no list of every SIP message, and an index of streams by destination
    def _sip(self, msg) -> None:
        self.book.add(msg)

    def _new_stream(self, key, t, seq):
        st = super()._new_stream(key, t, seq)
        self._by_dst.setdefault(st.dst, []).append(key)
        return st

    def _prune(self) -> None:
        gone = [(k, s.dst) for k, s in self.streams.items() if not s.announced and s.packets < 2]
        super()._prune()
        for key, dst in gone:
            self._unindex(key, dst)

    def feed(self, path: str | Path) -> None:
        """Analyse one more file (complete: a corrupt or cut record is ``CaptureFormatError``)."""
        self.path = str(path)
        self.truncated, self.corrupt = None, []
        self.run()
        refuse_damage(self)
        self.files += 1
        self.total_packets += self.packets
        if self.packets:
            self.first_time = self.first if self.first_time is None else self.first_time
            self.until = self.last

    def new_dialogs(self) -> list[str]:
        """Call-IDs that appeared since the last call, in the order their first message was seen."""
        out, self.book.order = self.book.order, []
        return out

    def dialog(self, call_id: str) -> Dialog | None:
        b = self.book.dialogs.get(call_id)
        return None if b is None else b.freeze()

    def media(self, dsts: set[str], window: tuple[float, float]) -> tuple[CallMedia, list[tuple]]:
        """The listed streams to ``dsts`` that began within ``window`` and the RFC 4733 events sent to
        ``dsts`` within it (as a call's proof reads them from one file), with the keys of those streams."""
        keys, streams, events = [], [], []
        for d in dsts:
            for key in self._by_dst.get(d, ()):
                st = self.streams[key]
                if st.first_time > window[1]:  # a later call's, on a port used again: nothing of it is in the window
                    continue
                st.finish_inference()  # the streams that began by the window's end are over, as at a file's end
                if not _listed(st):
                    continue
                if window[0] <= st.first_time:
                    streams.append(_freeze_stream(st, st.call_id, self.rtcp.about.get(st.ssrc)))
                    keys.append(key)
                events += [e for e in stream_dtmf(st, st.call_id) if window[0] <= e.start <= window[1]]
        return CallMedia(tuple(streams), tuple(sorted(events, key=lambda e: e.start))), keys

    def take(self, call_id: str, keys: list[tuple]) -> None:
        """Forget a call that is proven: its dialog, the SDP addresses that point to it, its streams."""
        b = self.book.dialogs.pop(call_id, None)
        if b is not None:
            self.dtmf_counted += len(_info_events(b.freeze()))
            for m in b.messages:
                self.book._legs.pop((call_id, frozenset((m.src, m.dst))), None)
                for media in m.sdp.media if m.sdp is not None else ():
                    if (leg := self.book._by_addr.get((media.addr, media.port))) is not None and leg[0] == call_id:
                        del self.book._by_addr[(media.addr, media.port)]
                    for s in media.ssrcs:
                        if self.book._by_ssrc.get(s) == call_id:
                            del self.book._by_ssrc[s]
        self._drop(keys)

    def drop_idle(self, before: float) -> None:
        """Drop the streams whose last packet came before ``before`` (no call took them)."""
        self._drop([k for k, st in self.streams.items() if st.last_time < before])

    def _drop(self, keys: list[tuple]) -> None:
        for key in keys:
            st = self.streams.pop(key, None)
            if st is None:
                continue
            self._count(st)
            self._unindex(key, st.dst)
            if not st.announced:
                self.candidates -= 1
            for by_sender in (self.rtcp.about, self.rtcp._sr_at, self.rtcp._srtcp):
                by_sender.pop(st.ssrc, None)

    def _count(self, st: StreamState) -> None:
        st.finish_inference()
        if _listed(st):
            self.streams_counted += 1
            self.dtmf_counted += len(st.dtmf_events())
        else:
            self.skipped[NOT_RTP] = self.skipped.get(NOT_RTP, 0) + st.packets

    def _unindex(self, key: tuple, dst: str) -> None:
        held = self._by_dst.get(dst)
        if held is not None and key in held:
            held.remove(key)
            if not held:
                del self._by_dst[dst]

    def residual(self, source: str) -> CaptureAnalysis:
        """What is left once the calls were taken: the other dialogs (registrations), every packet
        counted, no stream (they are counted in ``streams_counted``/``dtmf_counted``)."""
        self._drop(list(self.streams))
        self.rtcp.finish()
        dialogs = tuple(b.freeze() for b in self.book.dialogs.values())
        return CaptureAnalysis(
            dialogs=dialogs, rtp_streams=(), dtmf=(), packets=self.total_packets, first_time=self.first_time,
            last_time=self.until, source=source, skipped=self._skipped_total(),
        )

