"""pjsua's own RTP counters, from the call dump its log prints as a call's media ends.

At level 4+ pjsua logs ``Call N: deinitializing media..`` and then the call's dump:
the remote party (with its tag) and, per media line, the packets the stream received
(``RX ... total Npkt``) and sent (``TX ... total Npkt``).  No menu command is needed.
The patterns are in ``patterns.py`` (``DUMP_*``).
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass

from callgen.pjsua import patterns as pp


@dataclass(frozen=True)
class MediaCounters:
    """One media line of a dump: what the last stream of it received and sent."""

    index: int  #: the m= line's index (``#0``)
    kind: str  #: "audio", "video"
    peer: str  #: where it sent (``127.0.0.1:28460``), "" when not printed
    rx_packets: int | None  #: None: no RX counters printed (no stream)
    tx_packets: int | None


@dataclass(frozen=True)
class CallDump:
    """The dump pjsua printed when one call's media ended."""

    time: float  #: epoch seconds of the ``deinitializing media`` line
    call: int  #: pjsua's call slot (reused by later calls)
    remote_tag: str  #: the tag of the To line (the remote party's dialog tag), "" without one
    media: tuple[MediaCounters, ...]

    def audio(self) -> MediaCounters | None:
        """The first audio line with counters."""
        return next((m for m in self.media if m.kind == "audio" and m.rx_packets is not None), None)


def _tag(uri_line: str) -> str:
    for part in uri_line.split(";")[1:]:
        k, _, v = part.strip().partition("=")
        if k.lower() == "tag":
            return v.strip()
    return ""


def _media(lines: list[str]) -> tuple[MediaCounters, ...]:
    out: list[MediaCounters] = []
    cur: dict | None = None
    direction = ""
    for line in lines:
        m = pp.DUMP_MEDIA.match(line)
        if m:
            if cur is not None:
                out.append(MediaCounters(**cur))
            cur = {"index": int(m[1]), "kind": m[2], "peer": m[3] or "", "rx_packets": None, "tx_packets": None}
            continue
        m = pp.DUMP_DIRECTION.match(line)
        if m:
            direction = m[1]
            continue
        m = pp.DUMP_TOTAL.match(line)
        if m and cur is not None and direction:
            cur["rx_packets" if direction == "RX" else "tx_packets"] = int(m[1])
            direction = ""
    if cur is not None:
        out.append(MediaCounters(**cur))
    return tuple(out)


def call_dumps(path: str | os.PathLike) -> list[CallDump]:
    """Every call dump in a pjsua log, in order ([] when the file cannot be read).  Times are
    the log's wall-clock times on the day of the file's last write."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
        day = _dt.date.fromtimestamp(os.stat(path).st_mtime)
    except OSError:
        return []
    out = []
    i, n = 0, len(lines)
    while i < n:
        start = pp.DUMP_START.search(lines[i])
        if start is None:
            i += 1
            continue
        t = pp.LOG_TIME.match(lines[i])
        when = (_dt.datetime.combine(day, _dt.time(*(int(x) for x in t.groups()[:3]), int(t[4]) * 1000)).timestamp()
                if t else 0.0)
        j = i + 1
        while j < n and pp.LOG_TIME.match(lines[j]):  # the timed ".." line(s) before the dump
            if pp.DUMP_START.search(lines[j]):
                break
            j += 1
        body = []
        while j < n and not pp.LOG_TIME.match(lines[j]):
            body.append(lines[j])
            j += 1
        to = next((pp.DUMP_TO.match(x) for x in body if pp.DUMP_TO.match(x)), None)
        out.append(CallDump(when, int(start[1]), _tag(to[2]) if to else "", _media(body)))
        i = j
    return out
