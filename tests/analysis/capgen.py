"""Test capture generator: writes pcap/pcapng files packet by packet with struct.

Independent of the analyser's reader on purpose (its own framing code), so a
bug in one is not mirrored in the other; tshark reads the same files as oracle.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

LINKS = {"ether": 1, "raw": 101, "null": 0, "loop": 108, "sll": 113, "sll2": 276}


def _ip(addr: str) -> bytes:
    return ipaddress.ip_address(addr).packed


class CaptureWriter:
    """Write packets to a pcap (``fmt='pcap'``) or pcapng file on a chosen link type."""

    def __init__(self, path: str, fmt: str = "pcap", link: str = "ether", nano: bool = False, big_endian: bool = False):
        self.f = open(path, "wb")
        self.fmt = fmt
        self.link = link
        self.nano = nano
        self.bo = ">" if big_endian else "<"
        self.ident = 1
        lt = LINKS[link]
        if fmt == "pcap":
            magic = 0xA1B23C4D if nano else 0xA1B2C3D4
            self.f.write(struct.pack(self.bo + "IHHiIII", magic, 2, 4, 0, 0, 262144, lt))
        else:
            shb_body = struct.pack(self.bo + "IHHq", 0x1A2B3C4D, 1, 0, -1)
            self._ng_block(0x0A0D0D0A, shb_body)
            opts = b""
            if nano:
                opts += struct.pack(self.bo + "HHB3x", 9, 1, 9)
            opts += struct.pack(self.bo + "HH", 0, 0)
            self._ng_block(1, struct.pack(self.bo + "HHI", lt, 0, 262144) + opts)

    def _ng_block(self, btype: int, body: bytes) -> None:
        body += b"\x00" * (-len(body) % 4)
        n = len(body) + 12
        self.f.write(struct.pack(self.bo + "II", btype, n) + body + struct.pack(self.bo + "I", n))

    def close(self) -> None:
        self.f.close()

    def __enter__(self) -> "CaptureWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- framing ---------------------------------------------------------------

    def frame(self, t: float, ip_packet: bytes) -> None:
        v6 = ip_packet[0] >> 4 == 6
        et = 0x86DD if v6 else 0x0800
        if self.link == "ether":
            data = b"\x00\x00\x00\x00\x00\x00" * 2 + struct.pack("!H", et) + ip_packet
        elif self.link == "sll":
            data = struct.pack("!HHH8sH", 0, 772, 6, b"\x00" * 8, et) + ip_packet
        elif self.link == "sll2":
            data = struct.pack("!HHIHBB8s", et, 0, 1, 772, 0, 6, b"\x00" * 8) + ip_packet
        elif self.link == "raw":
            data = ip_packet
        elif self.link == "null":
            data = struct.pack("<I", 30 if v6 else 2) + ip_packet
        else:  # loop: network byte order
            data = struct.pack(">I", 30 if v6 else 2) + ip_packet
        self.raw(t, data)

    def raw(self, t: float, data: bytes, orig_len: int | None = None) -> None:
        sec = int(t)
        if self.fmt == "pcap":
            frac = round((t - sec) * (1e9 if self.nano else 1e6))
            self.f.write(struct.pack(self.bo + "IIII", sec, frac, len(data), orig_len or len(data)) + data)
        else:
            units = round(t * (1e9 if self.nano else 1e6))
            body = struct.pack(self.bo + "IIIII", 0, units >> 32, units & 0xFFFFFFFF, len(data), orig_len or len(data))
            self._ng_block(6, body + data)

    def ip(self, src: str, dst: str, proto: int, payload: bytes) -> bytes:
        s, d = _ip(src), _ip(dst)
        if len(s) == 16:
            return struct.pack("!IHBB", 6 << 28, len(payload), proto, 64) + s + d + payload
        self.ident = (self.ident + 1) & 0xFFFF
        return struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(payload), self.ident, 0, 64, proto, 0) + s + d + payload

    def udp(self, t: float, src: str, sport: int, dst: str, dport: int, payload: bytes) -> None:
        seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        self.frame(t, self.ip(src, dst, 17, seg))

    def udp_fragmented(self, t: float, src: str, sport: int, dst: str, dport: int, payload: bytes, mtu: int = 576) -> None:
        """IPv4 fragments as an Ethernet host would send a big INVITE."""
        seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        self.ident = (self.ident + 1) & 0xFFFF
        step = (mtu - 20) // 8 * 8
        s, d = _ip(src), _ip(dst)
        for off in range(0, len(seg), step):
            part = seg[off : off + step]
            more = 0x2000 if off + step < len(seg) else 0
            hdr = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(part), self.ident, more | (off // 8), 64, 17, 0)
            self.frame(t, hdr + s + d + part)

    def tcp(self, t: float, src: str, sport: int, dst: str, dport: int, seq: int, payload: bytes, flags: int = 0x18) -> None:
        seg = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, 0, 5 << 4, flags, 65535, 0, 0) + payload
        self.frame(t, self.ip(src, dst, 6, seg))


# --- RTP / SIP content -------------------------------------------------------------


def rtp(pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def event_payload(event: int, end: bool, volume: int, duration: int) -> bytes:
    return struct.pack("!BBH", event, (0x80 if end else 0) | volume, duration)


DIGIT_CODES = {d: i for i, d in enumerate("0123456789*#ABCD")}


@dataclass
class RtpSender:
    """One RTP sender producing audio and RFC 4733 events like pjsua does."""

    ssrc: int
    seq: int
    ts: int
    audio_pt: int = 8
    event_pt: int = 120
    rate: int = 8000
    ptime: float = 0.02
    packets: list = field(default_factory=list)  # (time, rtp bytes)

    @property
    def step(self) -> int:
        return int(self.rate * self.ptime)

    def audio(self, t: float, n: int, payload: bytes = b"\xd5" * 160) -> float:
        for _ in range(n):
            self.packets.append((t, rtp(self.audio_pt, self.seq, self.ts, self.ssrc, payload)))
            self.seq += 1
            self.ts += self.step
            t += self.ptime
        return t

    def digit(self, t: float, digit: str, duration_steps: int = 10, volume: int = 10, segment_max: int = 0xFFFF) -> float:
        """One event: marker first, growing duration, three end packets; long events split into segments."""
        code = DIGIT_CODES[digit]
        start_ts = self.ts
        seg_ts = start_ts
        seg_start_units = 0
        first = True
        for i in range(1, duration_steps + 1):
            total = i * self.step
            dur = total - seg_start_units
            end = i == duration_steps
            pkt_ts = seg_ts
            if dur >= segment_max and not end:  # this segment is full: next one starts at ts + its duration
                dur = segment_max
                seg_ts = (seg_ts + segment_max) & 0xFFFFFFFF
                seg_start_units += segment_max
            for _ in range(3 if end else 1):
                self.packets.append(
                    (t, rtp(self.event_pt, self.seq, pkt_ts, self.ssrc, event_payload(code, end, volume, dur), first))
                )
                self.seq += 1
                first = False
            t += self.ptime
        self.ts = (start_ts + duration_steps * self.step) & 0xFFFFFFFF
        return t


def sdp(addr: str, port: int, pts: dict[int, str], proto: str = "RTP/AVP", crypto: list[str] = (), ssrc: int | None = None) -> bytes:
    ipv = "IP6" if ":" in addr else "IP4"
    lines = [
        "v=0",
        f"o=- 1 1 IN {ipv} {addr}",
        "s=callgen-test",
        f"c=IN {ipv} {addr}",
        "t=0 0",
        f"m=audio {port} {proto} {' '.join(str(p) for p in pts)}",
    ]
    for pt, enc in pts.items():
        lines.append(f"a=rtpmap:{pt} {enc}")
        if enc.startswith("telephone-event"):
            lines.append(f"a=fmtp:{pt} 0-16")
    lines.append("a=sendrecv")
    lines.extend(f"a=crypto:{c}" for c in crypto)
    if ssrc is not None:
        lines.append(f"a=ssrc:{ssrc} cname:test")
    return ("\r\n".join(lines) + "\r\n").encode()


def sip_request(method: str, call_id: str, cseq: int, src: str, dst: str, body: bytes = b"", ctype: str = "application/sdp", cseq_method: str | None = None) -> bytes:
    head = [
        f"{method} sip:bob@{dst} SIP/2.0",
        f"Via: SIP/2.0/UDP {src};branch=z9hG4bK{call_id[:8]}{cseq}{method}",
        "Max-Forwards: 70",
        f"From: <sip:alice@{src}>;tag=a1",
        f"To: <sip:bob@{dst}>" + ("" if method == "INVITE" else ";tag=b1"),
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {cseq_method or method}",
        f"Contact: <sip:alice@{src}>",
    ]
    if body:
        head.append(f"Content-Type: {ctype}")
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def sip_response(code: int, reason: str, call_id: str, cseq: int, method: str, src: str, dst: str, body: bytes = b"") -> bytes:
    head = [
        f"SIP/2.0 {code} {reason}",
        f"Via: SIP/2.0/UDP {dst};branch=z9hG4bK{call_id[:8]}{cseq}{method}",
        f"From: <sip:alice@{dst}>;tag=a1",
        f"To: <sip:bob@{src}>;tag=b1",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
    ]
    if body:
        head.append("Content-Type: application/sdp")
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body
