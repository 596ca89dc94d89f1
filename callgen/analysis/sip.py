"""SIP and SDP text parsing, TCP reassembly of SIP, and SIP recovered from pjsua logs.

SIP is recognised by content (a request or status line), never by port, because
engineers run SIP on whatever port their lab uses.  Everything here is low volume
(a handful of messages per call), so clarity beats speed.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

from callgen.analysis.ipaddr import canonical_ip
from callgen.analysis.model import Crypto, Sdp, SdpMedia, SipMessage
from callgen.errors import CaptureFormatError

_REQUEST_LINE = re.compile(rb"^([A-Z][A-Z0-9_-]{1,15}) (\S+) SIP/2\.0\r?$")
_STATUS_LINE = re.compile(rb"^SIP/2\.0 (\d{3}) ?(.*?)\r?$")
_START = re.compile(rb"(?m)^(?:SIP/2\.0 \d{3}|[A-Z][A-Z0-9_-]{1,15} \S+ SIP/2\.0\r?$)")

#: RFC 3261 compact header forms.
_COMPACT = {
    "i": "Call-ID",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "t": "To",
    "v": "Via",
    "m": "Contact",
    "k": "Supported",
    "s": "Subject",
    "e": "Content-Encoding",
}

#: Static RTP payload types (RFC 3551) used when an SDP has no rtpmap for them.
STATIC_PT = {
    0: ("PCMU", 8000),
    3: ("GSM", 8000),
    4: ("G723", 8000),
    5: ("DVI4", 8000),
    6: ("DVI4", 16000),
    7: ("LPC", 8000),
    8: ("PCMA", 8000),
    9: ("G722", 8000),
    10: ("L16", 44100),
    11: ("L16", 44100),
    12: ("QCELP", 8000),
    13: ("CN", 8000),
    14: ("MPA", 90000),
    15: ("G728", 8000),
    16: ("DVI4", 11025),
    17: ("DVI4", 22050),
    18: ("G729", 8000),
    25: ("CelB", 90000),
    26: ("JPEG", 90000),
    28: ("nv", 90000),
    31: ("H261", 90000),
    32: ("MPV", 90000),
    33: ("MP2T", 90000),
    34: ("H263", 90000),
}


def looks_like_sip(payload: bytes) -> bool:
    """True when a datagram/stream starts with a SIP request or status line."""
    if len(payload) < 12 or not (65 <= payload[0] <= 90):
        return False
    line_end = payload.find(b"\n", 0, 512)
    line = payload[: line_end if line_end >= 0 else min(len(payload), 512)]
    return bool(_STATUS_LINE.match(line) or _REQUEST_LINE.match(line))


@dataclass(frozen=True)
class RawSip:
    """A SIP message split into parts, before it is given time and addresses."""

    method: str | None
    status: int | None
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    request_uri: str = ""  #: a request's Request-URI as sent ("" for a response)


def split_head(data: bytes) -> tuple[bytes, int] | None:
    """Return (head, body_offset) when the header block is complete."""
    i = data.find(b"\r\n\r\n")
    if i >= 0:
        return data[:i], i + 4
    i = data.find(b"\n\n")
    if i >= 0:
        return data[:i], i + 2
    return None


def parse_sip(data: bytes) -> RawSip | None:
    """Parse one whole SIP message; None if it is not SIP."""
    parts = split_head(data)
    if parts is None:
        head, body = data, b""
    else:
        head, off = parts
        body = data[off:]
    lines = head.split(b"\n")
    first = lines[0].rstrip(b"\r")
    method = status = None
    reason = request_uri = ""
    m = _REQUEST_LINE.match(first + b"\r") or _REQUEST_LINE.match(first)
    if m:
        method = m.group(1).decode("ascii")
        request_uri = m.group(2).decode("utf-8", "replace")
    else:
        m = _STATUS_LINE.match(first)
        if not m:
            return None
        status = int(m.group(1))
        reason = m.group(2).decode("utf-8", "replace").strip()
    headers: list[tuple[str, str]] = []
    for raw in lines[1:]:
        line = raw.rstrip(b"\r").decode("utf-8", "replace")
        if not line:
            continue
        if line[0] in " \t" and headers:  # folded continuation
            k, v = headers[-1]
            headers[-1] = (k, v + " " + line.strip())
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name = name.strip()
        headers.append((_COMPACT.get(name.lower(), name) if len(name) == 1 else name, value.strip()))
    clen = _header(headers, "Content-Length")
    if clen is not None:
        try:
            n = int(clen)
            body = body[:n]
        except ValueError:
            pass
    return RawSip(method, status, reason, tuple(headers), body, request_uri)


def _header(headers: tuple[tuple[str, str], ...] | list[tuple[str, str]], name: str) -> str | None:
    lname = name.lower()
    for k, v in headers:
        if k.lower() == lname:
            return v
    return None


def build_message(raw: RawSip, time: float, src: str, dst: str, transport: str) -> SipMessage:
    call_id = _header(raw.headers, "Call-ID") or ""
    cseq_v = (_header(raw.headers, "CSeq") or "").split()
    cseq = int(cseq_v[0]) if cseq_v and cseq_v[0].isdigit() else 0
    cseq_method = cseq_v[1] if len(cseq_v) > 1 else (raw.method or "")
    ctype = (_header(raw.headers, "Content-Type") or "").split(";")[0].strip().lower()
    sdp = parse_sdp(raw.body) if ctype == "application/sdp" and raw.body else None
    return SipMessage(
        time=time,
        src=src,
        dst=dst,
        transport=transport,
        method=raw.method,
        status=raw.status,
        reason=raw.reason,
        cseq_method=cseq_method,
        call_id=call_id,
        headers=raw.headers,
        body=raw.body,
        sdp=sdp,
        cseq=cseq,
        request_uri=raw.request_uri,
    )


def parse_sdp(body: bytes) -> Sdp | None:
    """Parse the media sections of an SDP body; None when it has no ``m=`` line."""
    text = body.decode("utf-8", "replace")
    session_addr = ""
    session_dir = "sendrecv"
    sections: list[dict] = []
    cur: dict | None = None
    for line in text.splitlines():
        line = line.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            f = value.split()
            if len(f) < 3:
                continue
            port = int(f[1].split("/")[0]) if f[1].split("/")[0].isdigit() else 0
            pts = tuple(int(x) for x in f[3:] if x.isdigit())
            cur = {"media": f[0], "port": port, "proto": f[2], "pts": pts, "addr": "", "rtpmap": {},
                   "dir": None, "crypto": [], "ssrc": []}
            sections.append(cur)
        elif kind == "c":
            f = value.split()
            addr = f[2].split("/")[0] if len(f) >= 3 else ""
            if cur is None:
                session_addr = addr
            else:
                cur["addr"] = addr
        elif kind == "a":
            name, _, arg = value.partition(":")
            if name in ("sendrecv", "sendonly", "recvonly", "inactive"):
                if cur is None:
                    session_dir = name
                else:
                    cur["dir"] = name
            elif cur is None:
                continue
            elif name == "rtpmap":
                pt_s, _, enc = arg.partition(" ")
                enc_f = enc.strip().split("/")
                if pt_s.isdigit() and enc_f and enc_f[0]:
                    rate = int(enc_f[1]) if len(enc_f) > 1 and enc_f[1].isdigit() else 8000
                    cur["rtpmap"][int(pt_s)] = (enc_f[0], rate)
            elif name == "crypto":
                f = arg.split()
                if len(f) >= 3 and f[0].isdigit() and f[2].startswith("inline:"):
                    key = f[2][len("inline:"):].split("|")[0]
                    cur["crypto"].append(Crypto(int(f[0]), f[1], key))
            elif name == "ssrc":
                s = arg.split()[0] if arg.split() else ""
                if s.isdigit() and int(s) not in cur["ssrc"]:
                    cur["ssrc"].append(int(s))
    if not sections:
        return None
    media = []
    for s in sections:
        rtpmap = {pt: STATIC_PT[pt] for pt in s["pts"] if pt in STATIC_PT}
        rtpmap.update(s["rtpmap"])
        te = tuple(pt for pt in s["pts"] if rtpmap.get(pt, ("", 0))[0].lower() == "telephone-event")
        media.append(
            SdpMedia(
                media=s["media"],
                addr=canonical_ip(s["addr"] or session_addr),  # as packet headers print it
                port=s["port"],
                proto=s["proto"],
                payload_types=s["pts"],
                rtpmap=rtpmap,
                telephone_event_pts=te,
                direction=s["dir"] or session_dir,
                crypto=tuple(s["crypto"]),
                ssrcs=tuple(s["ssrc"]),
            )
        )
    return Sdp(tuple(media))


def info_dtmf(msg: SipMessage) -> tuple[str, float] | None:
    """(digit, duration_ms) of a SIP INFO carrying DTMF, else None."""
    if msg.method != "INFO" or not msg.body:
        return None
    ctype = (msg.header("Content-Type") or "").split(";")[0].strip().lower()
    text = msg.body.decode("utf-8", "replace")
    if ctype == "application/dtmf-relay":
        sig = re.search(r"(?im)^\s*Signal\s*=\s*(\S+)", text)
        dur = re.search(r"(?im)^\s*Duration\s*=\s*(\d+)", text)
        if not sig:
            return None
        digit = _norm_digit(sig.group(1))
        return (digit, float(dur.group(1)) if dur else 0.0) if digit else None
    if ctype == "application/dtmf":
        digit = _norm_digit(text.strip())
        return (digit, 0.0) if digit else None
    return None


def _norm_digit(s: str) -> str | None:
    s = s.strip().upper()
    if s in ("10",):
        return "*"
    if s in ("11",):
        return "#"
    if len(s) == 1 and s in "0123456789*#ABCD":
        return s
    return None


class TcpSipStream:
    """Reassembles one direction of a TCP connection and cuts it into SIP messages.

    Message boundaries come from Content-Length (RFC 3261 18.3).  A flow that does
    not start with SIP is marked as not-SIP at once so it costs nothing after.
    """

    MAX_BUFFER = 1 << 20
    MAX_PENDING = 256

    def __init__(self) -> None:
        self.next_seq: int | None = None
        self.buf = bytearray()
        self.pending: dict[int, bytes] = {}
        self.is_sip: bool | None = None
        self.msg_time: float | None = None

    def feed(self, t: float, seq: int, syn: bool, payload: bytes) -> Iterator[tuple[float, RawSip]]:
        if syn:
            self.next_seq = (seq + 1) & 0xFFFFFFFF
            if not payload:
                return
        if not payload or self.is_sip is False:
            return
        if self.next_seq is None:
            self.next_seq = seq
        rel = (seq - self.next_seq) & 0xFFFFFFFF
        if rel == 0:
            self._append(t, payload)
        elif rel < 0x80000000:  # a gap: hold the segment until the hole is filled
            if len(self.pending) < self.MAX_PENDING:
                self.pending[seq] = payload
            return
        else:  # retransmission, maybe with new bytes at its end
            back = 0x100000000 - rel
            if back < len(payload):
                self._append(t, payload[back:])
            else:
                return
        while self.next_seq in self.pending:
            self._append(t, self.pending.pop(self.next_seq))
        yield from self._messages()

    def _append(self, t: float, data: bytes) -> None:
        if not self.buf:
            self.msg_time = t
        self.buf += data
        self.next_seq = (self.next_seq + len(data)) & 0xFFFFFFFF  # type: ignore[operator]

    def _messages(self) -> Iterator[tuple[float, RawSip]]:
        buf = self.buf
        while buf:
            # CRLF keep-alives (RFC 5626) between messages
            stripped = len(buf) - len(buf.lstrip(b"\r\n"))
            if stripped:
                del buf[:stripped]
                continue
            if b"\n" not in buf[:600] and len(buf) < 600:
                return  # the first line is not complete yet
            if self.is_sip is None:
                self.is_sip = looks_like_sip(bytes(buf[:600]))
                if not self.is_sip:
                    buf.clear()
                    return
            if not looks_like_sip(bytes(buf[:600])):
                m = _START.search(buf)
                if not m:
                    if len(buf) > self.MAX_BUFFER:
                        buf.clear()
                    return
                del buf[: m.start()]
            parts = split_head(bytes(buf[:65536]))
            if parts is None:
                if len(buf) > self.MAX_BUFFER:
                    buf.clear()
                return
            head, off = parts
            clen = 0
            m = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)", head)
            if m:
                clen = int(m.group(1))
            if len(buf) < off + clen:
                return
            raw = parse_sip(bytes(buf[: off + clen]))
            del buf[: off + clen]
            t = self.msg_time if self.msg_time is not None else 0.0
            if raw is not None:
                yield t, raw


# --- pjsua logs --------------------------------------------------------------

_LOG_TXRX = re.compile(
    r"^(\d{2}):(\d{2}):(\d{2})\.(\d{3})\s.*?\b(TX|RX) \d+ bytes (?:Request|Response) msg \S+ \(\S+\) "
    r"(to|from) (\w+) (\S+):\s*$"
)
_LOG_KEY = re.compile(r"\b(TX|RX): (\w+) key=([A-Za-z0-9+/=]+)")


@dataclass(frozen=True)
class LogKey:
    """A master key||salt printed by pjsua's SRTP transport (``TX: SUITE key=...``)."""

    direction: str  #: "TX" (this pjsua sends with it) or "RX"
    suite: str
    key_b64: str


def _log_day(path: str, day: _dt.date | None) -> _dt.date:
    if day is not None:
        return day
    return _dt.date.fromtimestamp(os.stat(path).st_mtime)


def _read_log(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except OSError as exc:
        raise CaptureFormatError(f"{path}: cannot read pjsua log: {exc.strerror}") from exc


def sip_messages_from_pjsua_log(path: str, day: _dt.date | None = None) -> list[SipMessage]:
    """Every SIP message a pjsua level-5 log printed (``TX``/``RX`` ... ``--end msg--``).

    Used when SIP ran over TLS and the capture shows no SIP text.  Times are the
    log's wall-clock times on ``day`` (default: the log file's modification date),
    as epoch seconds in local time.  The far end comes from the TX/RX line; the
    near end is not printed by pjsua, so it is taken from the top Via (requests we
    send) or Contact, else ``local``.
    """
    lines = _read_log(path)
    base_day = _log_day(path, day)
    out: list[SipMessage] = []
    i = 0
    n = len(lines)
    while i < n:
        m = _LOG_TXRX.match(lines[i])
        if not m:
            i += 1
            continue
        hh, mm, ss, ms, direction, _, transport, peer = m.groups()
        j = i + 1
        body: list[str] = []
        while j < n and lines[j].strip() != "--end msg--":
            body.append(lines[j])
            j += 1
        i = j + 1
        text = "\r\n".join(body)
        raw = parse_sip(text.encode("utf-8"))
        if raw is None:
            continue
        when = _dt.datetime.combine(base_day, _dt.time(int(hh), int(mm), int(ss), int(ms) * 1000))
        near = _near_end(raw)
        src, dst = (near, peer) if direction == "TX" else (peer, near)
        out.append(build_message(raw, when.timestamp(), src, dst, "log"))
    return out


def sip_times_in_pjsua_log(path: str, after: float | None = None) -> list[float]:
    """When a pjsua level-5 log printed each SIP message it sent or received (``TX``/``RX``
    lines), as epoch seconds, only those later than ``after`` when given; cheap: the
    messages are not parsed, and with ``after`` only the file's tail is read while it
    reaches back far enough.  A line stamped later than the file's last write was printed
    before midnight: it is put a day earlier."""
    try:
        size = os.stat(path).st_size
        mtime = os.stat(path).st_mtime
    except OSError:
        return []
    base_day = _dt.date.fromtimestamp(mtime)
    tail = TAIL_BYTES if after is not None else size
    while True:
        try:
            with open(path, "rb") as f:
                f.seek(max(0, size - tail))
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return []
        times = []
        for line in lines:
            if "msg" not in line:
                continue
            m = _LOG_TXRX.match(line)
            if m:
                hh, mm, ss, ms = (int(x) for x in m.groups()[:4])
                t = _dt.datetime.combine(base_day, _dt.time(hh, mm, ss, ms * 1000)).timestamp()
                times.append(t - 86400 if t > mtime + 60 else t)
        if after is None:
            return times
        if tail >= size or (times and times[0] <= after):
            return [t for t in times if t > after]
        tail *= 8


#: how much of a log's end ``sip_times_in_pjsua_log`` reads first
TAIL_BYTES = 1 << 20


def srtp_keys_from_pjsua_log(path: str) -> list[LogKey]:
    """The SRTP keys pjsua logged when media started (level 5)."""
    out = []
    for line in _read_log(path):
        m = _LOG_KEY.search(line)
        if m:
            k = LogKey(m.group(1), m.group(2), m.group(3))
            if k not in out:
                out.append(k)
    return out


def _near_end(raw: RawSip) -> str:
    if raw.method:
        via = _header(raw.headers, "Via") or ""
        m = re.search(r"SIP/2\.0/\w+\s+([^;,\s]+)", via)
        if m:
            return m.group(1)
    contact = _header(raw.headers, "Contact") or ""
    m = re.search(r"sips?:(?:[^@>;]*@)?([^;>]+)", contact)
    return m.group(1) if m else "local"
