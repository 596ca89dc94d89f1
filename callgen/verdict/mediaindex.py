"""A load's media looked up per call and per leg: the RTP streams and RFC 4733 events sent to a
call's (or a leg's) SDP addresses, optionally from given addresses, that began within its window.

RTP ports wrap (``--rtp-port-range``), so another call may have used the same address before or
after: the window keeps each call to its own.  ``MediaIndex`` indexes one whole analysis; the
load's prover looks the same things up in its rolling scan (``loadprover._ScanMedia``); both
answer ``MediaLookup``, which is all a call's row (``load._row``) and a callee's leg
(``loadlegs.callee_leg``) ask for.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from callgen.analysis import CaptureAnalysis, DtmfEvent, RtpStream

Window = tuple[float, float]


class MediaLookup(Protocol):
    def flow(self, dst: Collection[str], window: Window, src: Collection[str] | None = None) -> list[RtpStream]:
        """The streams to ``dst`` (from ``src``, when given) that began within ``window``."""

    def digits(self, dst: Collection[str], window: Window, src: Collection[str] | None = None) -> str:
        """The RFC 4733 digits sent to ``dst`` (from ``src``, when given) within ``window``, in time order."""


class MediaIndex:
    """``MediaLookup`` over one analysis: streams and RFC 4733 events by destination, each found in O(1)."""

    def __init__(self, analysis: CaptureAnalysis):
        self.streams: dict[str, list[RtpStream]] = {}
        for s in analysis.rtp_streams:
            self.streams.setdefault(s.dst, []).append(s)
        self.events: dict[str, list[DtmfEvent]] = {}
        for e in analysis.dtmf:
            if e.method == "rfc4733":
                self.events.setdefault(e.dst, []).append(e)

    def flow(self, dst: Collection[str], window: Window, src: Collection[str] | None = None) -> list[RtpStream]:
        return [s for d in dst for s in self.streams.get(d, ())
                if window[0] <= s.first_time <= window[1] and (src is None or s.src in src)]

    def digits(self, dst: Collection[str], window: Window, src: Collection[str] | None = None) -> str:
        events = (e for d in dst for e in self.events.get(d, ())
                  if window[0] <= e.start <= window[1] and (src is None or e.src in src))
        return "".join(e.digit for e in sorted(events, key=lambda e: e.start))
