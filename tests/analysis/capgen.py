"""Test capture generator: pcap/pcapng files packet by packet, framed by scapy.

scapy builds every frame (link layers, IPv4/IPv6 with checksums, UDP, TCP, IPv4
fragments) and writes pcap files in either byte order and time resolution, and
little-endian microsecond pcapng.  scapy writes no big-endian or nanosecond
pcapng, so those two variants keep a small block writer here.  Either way the
files come from code independent of the analyser's reader, so a bug in one is
not mirrored in the other; tshark reads the same files as oracle.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Ether, Loopback, LoopbackOpenBSD
from scapy.packet import Packet, Raw
from scapy.utils import RawPcapNgWriter, RawPcapWriter

LINKS = {"ether": 1, "raw": 101, "null": 0, "loop": 108, "sll": 113, "sll2": 276}
SNAPLEN = 262144


class CaptureWriter:
    """Write packets to a pcap (``fmt='pcap'``) or pcapng file on a chosen link type."""

    def __init__(self, path: str, fmt: str = "pcap", link: str = "ether", nano: bool = False, big_endian: bool = False):
        self.fmt = fmt
        self.link = link
        self.nano = nano
        self.bo = ">" if big_endian else "<"
        self.ident = 1
        self.lt = LINKS[link]
        self.prefixes: dict[tuple, bytes] = {}  # framed headers scapy built, per IPv4 UDP flow and length
        self.f = None
        self.w = None
        if fmt == "pcap":
            self.w = RawPcapWriter(path, linktype=self.lt, endianness=self.bo, nano=nano, snaplen=SNAPLEN)
            self.w.linktype = self.lt  # scapy takes linktype 0 (DLT_NULL) for "not given"
            self.w.write_header(None)
        elif not nano and not big_endian:
            self.w = RawPcapNgWriter(path)
            self.w.linktype = self.lt
            self.w.write_header(None)
            self.w._write_block_idb(linktype=self.lt)
        else:  # scapy's pcapng writer is little-endian, microseconds only
            self.f = open(path, "wb")
            self._ng_block(0x0A0D0D0A, struct.pack(self.bo + "IHHq", 0x1A2B3C4D, 1, 0, -1))
            opts = struct.pack(self.bo + "HHB3x", 9, 1, 9) if nano else b""
            opts += struct.pack(self.bo + "HH", 0, 0)
            self._ng_block(1, struct.pack(self.bo + "HHI", self.lt, 0, SNAPLEN) + opts)

    def _ng_block(self, btype: int, body: bytes) -> None:
        body += b"\x00" * (-len(body) % 4)
        n = len(body) + 12
        self.f.write(struct.pack(self.bo + "II", btype, n) + body + struct.pack(self.bo + "I", n))

    def close(self) -> None:
        if self.w is not None:
            self.w.close()
        if self.f is not None:
            self.f.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- framing ---------------------------------------------------------------

    def frame(self, t: float, pkt: Packet, record: bool = True) -> None:
        """Put an IP packet (scapy) on the writer's link type and record it."""
        v6 = isinstance(pkt, IPv6)
        et = 0x86DD if v6 else 0x0800
        af = 30 if v6 else 2
        link = {
            "ether": lambda: Ether(src="00:00:00:00:00:00", dst="00:00:00:00:00:00", type=et) / pkt,
            "sll": lambda: CookedLinux(pkttype=0, lladdrtype=772, lladdrlen=6, proto=et) / pkt,
            "sll2": lambda: CookedLinuxV2(proto=et, ifindex=1, lladdrtype=772, pkttype=0, lladdrlen=6) / pkt,
            "raw": lambda: pkt,
            "null": lambda: Loopback(type=af) / pkt,
            "loop": lambda: LoopbackOpenBSD(type=af) / pkt,
        }[self.link]()
        self.last_frame = bytes(link)
        if record:
            self.raw(t, self.last_frame)

    def raw(self, t: float, data: bytes, orig_len: int | None = None) -> None:
        scale = 10**9 if self.nano else 10**6
        units = round(t * scale)
        if self.w is not None:
            sec, frac = divmod(units, scale)
            if self.fmt == "pcapng":  # scapy's EPB takes a float time: hand it the exact microsecond
                self.w._write_block_epb(data, ifid=0, timestamp=units / scale, caplen=len(data),
                                        orglen=orig_len or len(data))
            else:
                self.w.write_packet(data, sec=sec, usec=frac, caplen=len(data), wirelen=orig_len or len(data))
        else:
            body = struct.pack(self.bo + "IIIII", 0, units >> 32, units & 0xFFFFFFFF, len(data), orig_len or len(data))
            self._ng_block(6, body + data)

    def ip(self, src: str, dst: str, proto: int, payload: Packet) -> Packet:
        if ":" in src:
            return IPv6(src=src, dst=dst, nh=proto, hlim=64) / payload
        self.ident = (self.ident + 1) & 0xFFFF
        return IP(src=src, dst=dst, id=self.ident, ttl=64, proto=proto) / payload

    def udp(self, t: float, src: str, sport: int, dst: str, dport: int, payload: bytes) -> None:
        if ":" in src:  # the UDP checksum is mandatory over IPv6: scapy builds every packet
            self.frame(t, self.ip(src, dst, 17, UDP(sport=sport, dport=dport) / Raw(payload)))
            return
        # IPv4 allows UDP checksum 0, so the link/IP/UDP headers scapy builds for one flow
        # and payload length serve every packet of that shape (scapy takes ~1 ms a packet)
        key = (src, sport, dst, dport, len(payload))
        prefix = self.prefixes.get(key)
        if prefix is None:
            self.frame(0.0, IP(src=src, dst=dst, ttl=64) / UDP(sport=sport, dport=dport, chksum=0) / Raw(payload),
                       record=False)
            prefix = self.prefixes[key] = self.last_frame[: len(self.last_frame) - len(payload)]
        self.raw(t, prefix + payload)

    def udp_fragmented(self, t: float, src: str, sport: int, dst: str, dport: int, payload: bytes, mtu: int = 576) -> None:
        """IPv4 fragments as an Ethernet host would send a big INVITE."""
        whole = self.ip(src, dst, 17, UDP(sport=sport, dport=dport) / Raw(payload))
        for part in fragment(whole, fragsize=(mtu - 20) // 8 * 8):
            self.frame(t, part)

    def tcp(self, t: float, src: str, sport: int, dst: str, dport: int, seq: int, payload: bytes, flags: int = 0x18) -> None:
        seg = TCP(sport=sport, dport=dport, seq=seq & 0xFFFFFFFF, ack=0, flags=flags, window=65535) / Raw(payload)
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


def sip_request(method: str, call_id: str, cseq: int, src: str, dst: str,
                 body: bytes = b"", ctype: str = "application/sdp", cseq_method: str | None = None) -> bytes:
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
