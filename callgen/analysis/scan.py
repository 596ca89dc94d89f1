"""One pass over a capture: link/IP/UDP/TCP decoding, SIP, RTP, then the frozen result.

The per-packet loop (``_Scanner.run``) is the hot path: precompiled structs, locals,
and a dict lookup per RTP packet; SIP, TCP and IP fragments go to methods because
they are rare.
"""

from __future__ import annotations

import math
import socket
import struct
from collections.abc import Callable, Iterable, Sequence

from callgen.analysis.book import MediaBook
from callgen.analysis.model import (
    CaptureAnalysis,
    Corruption,
    Dialog,
    DtmfEvent,
    Gap,
    RtpStream,
    SipMessage,
    Timeline,
    Truncation,
)
from callgen.analysis.pcapio import PcapHeader, corrupt_record, open_capture, pcap_chunks, read_packets
from callgen.analysis.rtcp import Report, RtcpBook
from callgen.analysis.rtp import MAX_BINS, RESET_FLOOR, StreamState
from callgen.analysis.sip import (
    STATIC_PT,
    TcpSipStream,
    build_message,
    info_dtmf,
    looks_like_sip,
    parse_sip,
    sip_messages_from_pjsua_log,
    srtp_keys_from_pjsua_log,
)
from callgen.analysis.srtp import CIPHER_ENTROPY, SrtpKey
from callgen.errors import CaptureFormatError

IP4 = struct.Struct("!BxHxxHxB2x4s4s")  # ver/ihl, total length, flags/frag, proto, src, dst
IP6 = struct.Struct("!4xHBx16s16s")  # payload length, next header, src, dst
UDP = struct.Struct("!HHH")
RTP = struct.Struct("!BBHII")  # b0 (V P X CC), b1 (M PT), seq, timestamp, SSRC
PORTS = struct.Struct("!HH")
# Ethernet + IPv4 (no options) + UDP + RTP header: ethertype, ver/ihl, flags/fragment
# offset, protocol, [addresses and ports: compared in place], RTP. The IPv4 total length
# is read only off the inlined path (U16 at link + 2).
_IP4_UDP_RTP = "Bx2x2xHxB2x12x4xBBHII"
#: Link types the fast loop handles: link header length and the struct up to the RTP SSRC.
FAST_LINKS = {
    1: (14, struct.Struct("!12xH" + _IP4_UDP_RTP)),  # Ethernet (tcpdump -i lo, eth*)
    113: (16, struct.Struct("!14xH" + _IP4_UDP_RTP)),  # Linux cooked (tcpdump -i any)
    276: (20, struct.Struct("!H18x" + _IP4_UDP_RTP)),  # Linux cooked v2
}
TCP = struct.Struct("!HHIIBB")  # sport, dport, seq, ack, data offset, flags
U16 = struct.Struct("!H")
REC3 = {bo: struct.Struct(bo + "III4x") for bo in "<>"}  # pcap record header without the original length
FRAG6 = struct.Struct("!BxHI")  # IPv6 fragment header: next header, offset|M, identification
GRE = struct.Struct("!HH")  # flags and version, protocol type
VXLAN_PORT, GENEVE_PORT = 4789, 6081
MAX_TUNNEL_DEPTH = 4
NOT_RTP = "udp-rtp-like-not-rtp"  # version 2 on the wire, but the stream did not earn the name RTP
ETHERTYPE_NAMES = {0x0806: "arp", 0x88CC: "lldp", 0x8035: "rarp", 0x8863: "pppoe-discovery", 0x8864: "pppoe"}
IP_PROTO_NAMES = {1: "icmp", 2: "igmp", 58: "icmpv6", 50: "esp", 51: "ah", 89: "ospf", 112: "vrrp"}
NULL_LE = struct.Struct("<I")
NULL_BE = struct.Struct(">I")

MIN_HEURISTIC_PACKETS = 5  # an RTP stream not in any SDP needs this many packets
MAX_CANDIDATES = 20000  # unannounced candidate streams before pruning one-packet noise
KEY_PROBE_PACKETS = 3


def _fmt(ip: bytes, port: int) -> str:
    if len(ip) == 4:
        return f"{ip[0]}.{ip[1]}.{ip[2]}.{ip[3]}:{port}"
    return f"[{socket.inet_ntop(socket.AF_INET6, ip)}]:{port}"


def _ipstr(ip: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(ip) == 4 else socket.AF_INET6, ip)


class _Scanner:
    chunk_bytes: int | None = None  #: read this much of a pcap file at a time (None: pcapio.CHUNK)
    pace: Callable[[], None] | None = None  #: called after each chunk (a background scan gives way there)

    def __init__(self, path: str, extra_keys: Sequence[SrtpKey], log_messages: Sequence[SipMessage]):
        self.path = path
        self.extra_keys = tuple(extra_keys)
        self.book = MediaBook()
        self.streams: dict[tuple, StreamState] = {}
        self.sip: list[SipMessage] = []
        self.tcp: dict[tuple, TcpSipStream] = {}
        self.frags: dict[tuple, dict[int, bytes]] = {}
        self.frag_meta: dict[tuple, list] = {}
        self.packets = 0
        self.first: float | None = None
        self.last: float | None = None
        self.candidates = 0
        self.truncated: Truncation | None = None
        self.corrupt: list[Corruption] = []  # corrupt record/block headers skipped, in file order
        self.skipped: dict[str, int] = {}
        self.rtcp = RtcpBook(self._keys_for)
        for m in sorted(log_messages, key=lambda m: m.time):
            self.book.add(m)
        self.log_calls = set(self.book.dialogs)

    # --- hot path -----------------------------------------------------------------

    def run(self) -> None:
        kind, f, hdr = open_capture(self.path)
        with f:
            if kind == "pcap" and hdr is not None and hdr.linktype in FAST_LINKS:
                self._run_pcap_fast(f, hdr)
                return
        self._run_any()

    def _run_any(self) -> None:
        """pcapng and other link types: plain IPv4/UDP/RTP on a known link still skips ``_decode``."""
        decode = self._decode
        get = self.streams.get
        last_on_flow: dict[bytes, StreamState] = {}
        last_on = last_on_flow.get
        npk = 0
        t = 0.0
        for t, lt, buf, s, e in read_packets(self.path, self._cut, self._corrupt):
            if not npk:
                self.first = t
            npk += 1
            fast = FAST_LINKS.get(lt)
            if fast is not None and e - s >= fast[0] + 40:
                ll = fast[0]
                et, vihl, frag, proto, b0, b1, seq, rts, ssrc = fast[1].unpack_from(buf, s)
                if (
                    et == 0x0800 and vihl == 0x45 and proto == 17 and not frag & 0x3FFF
                    and b0 & 0xC0 == 0x80 and not 192 <= b1 <= 223
                ):
                    addrs = buf[s + ll + 12 : s + ll + 24]
                    st = last_on(addrs)
                    if st is None or st.ssrc != ssrc:
                        key = (addrs, ssrc)
                        st = get(key)
                        if st is None:
                            st = self._new_stream(key, t, seq)
                        last_on_flow[addrs] = st
                    end = s + ll + U16.unpack_from(buf, s + ll + 2)[0]
                    if end > e:  # snaplen cut the packet short of its IP length
                        end = e
                        st.cut += 1
                    st.add(t, b0, b1, seq, rts, buf, s + ll + 28, end)
                    continue
            decode(t, lt, buf, s, e)
        self.packets = npk
        self.last = t if npk else None

    def _run_pcap_fast(self, f, hdr: PcapHeader) -> None:
        """The common case (tcpdump on a Linux interface, lo included), in one tight loop.

        One struct call reads the record header, one reads link+IPv4+UDP+RTP;
        a packet that is anything but plain IPv4/UDP/RTP goes to ``_decode``.
        """
        path = self.path
        rec = REC3[hdr.bo].unpack_from
        lt = hdr.linktype
        ll, frame_struct = FAST_LINKS[lt]
        frame = frame_struct.unpack_from
        min_len = ll + 40
        a0, a1, rtp_at = ll + 12, ll + 24, ll + 28
        get = self.streams.get
        # the stream last seen with each SSRC: checked against the packet's addresses in place
        # (bytes.startswith at an offset), so the common packet slices nothing and hashes an int
        last_by_ssrc: dict[int, StreamState] = {}
        last_of = last_by_ssrc.get
        new_stream = self._new_stream
        decode = self._decode
        frac = 1e-9 if hdr.nano else 1e-6
        limit = hdr.limit
        state = [0, None, 0.0]  # packets, first time, last time
        on_corrupt = self._corrupt

        def consume(buf: bytes, base: int) -> int:
            same = buf.startswith
            n = len(buf)
            off = 0
            npk = 0
            t = 0.0
            while off + 16 <= n:
                sec, sub, incl = rec(buf, off)
                if incl > limit:
                    last = int(t) if npk else int(state[2]) if state[0] else None
                    nxt = corrupt_record(path, buf, base, off, hdr, last, on_corrupt)
                    if nxt < 0:
                        break
                    off = nxt
                    continue
                s = off + 16
                e = s + incl
                if e > n:
                    break
                off = e
                npk += 1
                t = sec + sub * frac
                if incl >= min_len:
                    et, vihl, frag, proto, b0, b1, seq, rts, ssrc = frame(buf, s)
                    if (
                        et == 0x0800 and vihl == 0x45 and proto == 17 and not frag & 0x3FFF
                        and b0 & 0xC0 == 0x80 and not 192 <= b1 <= 223
                    ):
                        st = last_of(ssrc)
                        if st is None or not same(st.addrs, s + a0):
                            key = (buf[s + a0 : s + a1], ssrc)  # src, dst, sport, dport; SSRC
                            st = get(key)
                            if st is None:
                                st = new_stream(key, t, seq)
                            last_by_ssrc[ssrc] = st
                        me = st.max_ext
                        if b1 == st.fast_b1 and (seq - me) & 0xFFFF == 1:
                            # StreamState.add's in-order audio path, inlined: most packets end here.
                            # A stream takes it only after ENTROPY_SAMPLES audio packets went through
                            # StreamState._slow, so the jitter's previous packet (prev_t) is set.
                            be = st.bin_end
                            if t >= be:  # timeline: the next 100 ms bin opens (the common case inlined)
                                be += st.bin_s
                                cum = st.cum
                                if t < be and len(cum) < MAX_BINS:
                                    cum.append(st.packets)
                                    st.bin_end = be
                                else:
                                    st.next_bin(t)
                            st.packets += 1
                            d = t - st.last_time
                            if d > st.max_delta:
                                st.max_delta = d
                            st.last_time = t
                            st.max_ext = me + 1
                            dd = (t - st.prev_t) * st.rate - (
                                (((rts - st.prev_ts) + 0x80000000) & 0xFFFFFFFF) - 0x80000000
                            )
                            if dd < 0:
                                dd = -dd
                            if dd < RESET_FLOOR or dd < st.reset_lim:
                                j = st.j
                                j += (dd - j) * 0.0625
                                st.j = j
                                if j > st.jmax:
                                    st.jmax = j
                                st.jsum += j
                                st.jn += 1
                            else:
                                st.timestamp_reset(t, rts)
                            st.prev_t = t
                            st.prev_ts = rts
                            continue
                        end = s + ll + U16.unpack_from(buf, s + ll + 2)[0]
                        if end > e:  # snaplen cut the packet short of its IP length
                            end = e
                            st.cut += 1
                        st.add(t, b0, b1, seq, rts, buf, s + rtp_at, end)
                        continue
                decode(t, lt, buf, s, e)
            if npk:
                if state[1] is None:
                    # first packet of the file: the first record of the first chunk
                    sec, sub, _i = rec(buf, 0)
                    state[1] = sec + sub * frac
                state[0] += npk
                state[2] = t
            return off

        pace = self.pace
        for _ in pcap_chunks(path, f, consume, self._cut, self.chunk_bytes):
            if pace is not None:
                pace()
        self.packets, self.first, self.last = state[0], state[1], (state[2] if state[0] else None)

    def _decode(self, t: float, lt: int, buf: bytes, s: int, e: int) -> None:
        """Any link type; then ``_net`` (VLAN/QinQ, MPLS, IPv4, IPv6 and the tunnels in them)."""
        u16 = U16.unpack_from
        if lt == 1:
            if e - s < 14:
                return self._skip("short-frame")
            self._net(t, u16(buf, s + 12)[0], buf, s + 14, e, 0)
            return
        if lt == 113:
            if e - s < 16:
                return self._skip("short-frame")
            et, p = u16(buf, s + 14)[0], s + 16
        elif lt == 276:
            if e - s < 20:
                return self._skip("short-frame")
            et, p = u16(buf, s)[0], s + 20
        elif lt in (101, 12, 14, 228, 229):
            v = buf[s] >> 4 if e > s else 0
            et = 0x0800 if v == 4 else 0x86DD if v == 6 else 0
            p = s
        elif lt == 0 or lt == 108:
            if e - s < 4:
                return self._skip("short-frame")
            af = NULL_BE.unpack_from(buf, s)[0] if lt == 108 else NULL_LE.unpack_from(buf, s)[0]
            if af > 0xFFFF:  # written on a host of the other byte order
                af = NULL_BE.unpack_from(buf, s)[0] if lt == 0 else NULL_LE.unpack_from(buf, s)[0]
            et = 0x0800 if af == 2 else 0x86DD if af in (10, 24, 28, 30) else 0
            p = s + 4
        else:
            return self._skip(f"linktype-{lt}")
        self._net(t, et, buf, p, e, 0)

    def _net(self, t: float, et: int, buf: bytes, p: int, e: int, depth: int) -> None:
        """A network-layer packet by ethertype at ``buf[p:e]``; ``depth`` counts tunnels."""
        u16 = U16.unpack_from
        while et in (0x8100, 0x88A8, 0x9100) and p + 4 <= e:  # 802.1Q, QinQ
            et = u16(buf, p + 2)[0]
            p += 4
        if et in (0x8847, 0x8848):  # MPLS: pop to the bottom of the stack, then IPv4/IPv6 by version
            while p + 4 <= e:
                bottom = buf[p + 2] & 1
                p += 4
                if bottom:
                    break
            v = buf[p] >> 4 if p < e else 0
            et = 0x0800 if v == 4 else 0x86DD if v == 6 else -1
            if et < 0:
                return self._skip("mpls-not-ip")
        elif et == 0x6558:  # an Ethernet frame (GRE bridging, VXLAN, Geneve)
            if e - p < 14:
                return self._skip("short-frame")
            self._net(t, u16(buf, p + 12)[0], buf, p + 14, e, depth)
            return
        if et == 0x0800:
            self._ip4(t, buf, p, e, depth)
        elif et == 0x86DD:
            self._ip6(t, buf, p, e, depth)
        else:
            self._skip(ETHERTYPE_NAMES.get(et) or f"ethertype-0x{et:04x}")

    def _ip4(self, t: float, buf: bytes, p: int, e: int, depth: int) -> None:
        if e - p < 20:
            return self._skip("short-ipv4")
        vihl, tot, frag, proto, src, dst = IP4.unpack_from(buf, p)
        end = p + tot
        if end > e or tot < 20:
            end = e
        l4 = p + (vihl & 15) * 4
        if frag & 0x3FFF:
            whole = self._fragment((src, dst, U16.unpack_from(buf, p + 4)[0], proto), frag, buf[l4:end])
            if whole is None:
                return
            buf, l4, end = whole, 0, len(whole)
        self._l4(t, proto, src, dst, buf, l4, end, depth)

    def _ip6(self, t: float, buf: bytes, p: int, e: int, depth: int) -> None:
        if e - p < 40:
            return self._skip("short-ipv6")
        plen, proto, src, dst = IP6.unpack_from(buf, p)
        l4 = p + 40
        end = l4 + plen
        if end > e:
            end = e
        while proto in (0, 43, 60, 44) and l4 + 8 <= end:
            if proto == 44:  # fragment header: next header, offset (8-byte units) << 3 | M, 32-bit id
                nxt, offm, ident = FRAG6.unpack_from(buf, l4)
                frag = (0x2000 if offm & 1 else 0) | (offm >> 3)
                whole = self._fragment((src, dst, ident, nxt), frag, buf[l4 + 8 : end])
                if whole is None:
                    return
                buf, l4, end, proto = whole, 0, len(whole), nxt
                continue
            proto = buf[l4]
            l4 += (buf[l4 + 1] + 1) * 8
        self._l4(t, proto, src, dst, buf, l4, end, depth)

    def _l4(self, t: float, proto: int, src: bytes, dst: bytes, buf: bytes, l4: int, end: int, depth: int) -> None:
        if proto == 17:
            self._udp(t, src, dst, buf, l4, end, depth)
        elif proto == 6:
            if end - l4 >= 20:
                self._tcp(t, src, dst, buf, l4, end)
            else:
                self._skip("short-tcp")
        elif proto in (4, 41, 47):
            if depth >= MAX_TUNNEL_DEPTH:
                return self._skip("tunnel-too-deep")
            if proto == 4:
                self._ip4(t, buf, l4, end, depth + 1)
            elif proto == 41:
                self._ip6(t, buf, l4, end, depth + 1)
            else:
                self._gre(t, buf, l4, end, depth + 1)
        else:
            self._skip(IP_PROTO_NAMES.get(proto) or f"ip-proto-{proto}")

    def _gre(self, t: float, buf: bytes, p: int, end: int, depth: int) -> None:
        """GRE (RFC 2784/2890): checksum, key and sequence fields, then the ethertype's payload."""
        if end - p < 4:
            return self._skip("short-gre")
        flags, et = GRE.unpack_from(buf, p)
        if flags & 7:  # version 1 is PPTP's enhanced GRE (PPP inside)
            return self._skip("gre-v1")
        p += 4 + 4 * (bool(flags & 0x8000) + bool(flags & 0x2000) + bool(flags & 0x1000))
        self._net(t, et, buf, p, end, depth)

    def _udp(self, t: float, src: bytes, dst: bytes, buf: bytes, l4: int, end: int, depth: int) -> None:
        if end - l4 < 8:
            return self._skip("short-udp")
        sport, dport, ulen = UDP.unpack_from(buf, l4)
        ps = l4 + 8
        cut = l4 + ulen > end  # snaplen kept less than the UDP length says
        if 8 <= ulen and l4 + ulen < end:
            end = l4 + ulen
        if dport in (VXLAN_PORT, GENEVE_PORT) and end - ps >= 8 and depth < MAX_TUNNEL_DEPTH:
            if dport == VXLAN_PORT and buf[ps] & 0x08:  # I flag: a VNI follows; Ethernet inside
                self._net(t, 0x6558, buf, ps + 8, end, depth + 1)
                return
            if dport == GENEVE_PORT and buf[ps] >> 6 == 0:  # version 0: options, then the protocol type
                self._net(t, U16.unpack_from(buf, ps + 2)[0], buf, ps + 8 + (buf[ps] & 0x3F) * 4, end, depth + 1)
                return
        if end - ps >= 8 and buf[ps] & 0xC0 == 0x80 and 200 <= buf[ps + 1] <= 207:  # RTCP SR..XR
            why = self.rtcp.packet(t, bytes(buf[ps:end]), (_ipstr(src), sport, _ipstr(dst), dport))
            if why is not None:
                self._skip(why)
            return
        if end - ps >= 12:
            b0, b1, seq, rts, ssrc = RTP.unpack_from(buf, ps)
            if b0 & 0xC0 == 0x80 and not 192 <= b1 <= 223:
                key = (src + dst + PORTS.pack(sport, dport), ssrc)
                st = self.streams.get(key)
                if st is None:
                    st = self._new_stream(key, t, seq)
                if cut:
                    st.cut += 1
                st.add(t, b0, b1, seq, rts, buf, ps, end)
                return
        if ps < end and 65 <= buf[ps] <= 90:
            payload = bytes(buf[ps:end])
            if looks_like_sip(payload):
                self._sip_datagram(t, src, sport, dst, dport, payload)
                return
        self._skip("udp-not-sip-or-rtp")

    # --- rare paths -------------------------------------------------------------

    def _skip(self, reason: str) -> None:
        """Count a packet the analysis cannot use: reported, never dropped silently."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


    def _keys_for(self, ssrc: int, flow: tuple[str, int, str, int]) -> list[SrtpKey]:
        """SRTP keys that may protect what ``ssrc`` sends over RTCP ``flow`` (src, sport, dst, dport):
        its RTP stream's key; else the SDP's key for the RTP ports (RTCP on port + 1, or muxed),
        as RTCP may come before the first RTP packet; then the given keys."""
        keys = [st.srtp.key for st in self.streams.values() if st.ssrc == ssrc and st.srtp is not None]
        src, sport, dst, dport = flow
        for delta in (1, 0):
            info = self.book.lookup((src, sport - delta), (dst, dport - delta), ssrc)
            if info is not None and info.key is not None and info.key not in keys:
                keys.append(info.key)
        return keys + [k for k in self.extra_keys if k not in keys]

    def _cut(self, offset: int, bytes_left: int) -> None:
        self.truncated = Truncation(offset, bytes_left)

    def _corrupt(self, offset: int, bytes_skipped: int) -> None:
        self.corrupt.append(Corruption(offset, bytes_skipped))

    def _fragment(self, key: tuple, frag: int, data: bytes) -> bytes | None:
        """Reassemble IPv4 or IPv6 fragments (big INVITEs over UDP are fragmented on Ethernet).

        ``frag`` is in IPv4's form (0x2000 more fragments, low 13 bits the offset in
        8-byte units); ``key`` is (src, dst, id, protocol).  Datagrams never completed
        are counted as skipped at the end.
        """
        parts = self.frags.setdefault(key, {})
        offset = (frag & 0x1FFF) * 8
        parts[offset] = bytes(data)
        if not frag & 0x2000:
            self.frag_meta[key] = [offset + len(data)]
        total = self.frag_meta.get(key)
        if len(self.frags) > 1024:  # drop incomplete leftovers, bound memory
            oldest = next(iter(self.frags))
            self.frags.pop(oldest, None)
            self.frag_meta.pop(oldest, None)
            self._skip(_frag_reason(oldest))
        if total is None:
            return None
        have = bytearray()
        for off in sorted(parts):
            if off != len(have):
                return None
            have += parts[off]
        if len(have) != total[0]:
            return None
        del self.frags[key]
        del self.frag_meta[key]
        return bytes(have)

    def _sip_datagram(self, t: float, src: bytes, sport: int, dst: bytes, dport: int, payload: bytes) -> None:
        raw = parse_sip(payload)
        if raw is not None:
            self._sip(build_message(raw, t, _fmt(src, sport), _fmt(dst, dport), "udp"))

    def _sip(self, msg: SipMessage) -> None:
        self.sip.append(msg)
        self.book.add(msg)

    def _tcp(self, t: float, src: bytes, dst: bytes, buf: bytes, l4: int, end: int) -> None:
        sport, dport, seq, _ack, doff, flags = TCP.unpack_from(buf, l4)
        ps = l4 + (doff >> 4) * 4
        key = (src, sport, dst, dport)
        flow = self.tcp.get(key)
        payload = bytes(buf[ps:end]) if end > ps else b""
        if flow is None:
            if not payload and not flags & 0x02:
                return self._skip("tcp-not-sip")
            flow = self.tcp[key] = TcpSipStream()
        for when, raw in flow.feed(t, seq, bool(flags & 0x02), payload):
            self._sip(build_message(raw, when, _fmt(src, sport), _fmt(dst, dport), "tcp"))
        if flow.is_sip is False:
            self._skip("tcp-not-sip")
            if len(self.tcp) > 4096:
                del self.tcp[key]

    def _new_stream(self, key: tuple[bytes, int], t: float, seq: int) -> StreamState:
        addrs, ssrc = key
        la = (len(addrs) - 4) // 2
        src, dst = addrs[:la], addrs[la : 2 * la]
        sport, dport = PORTS.unpack_from(addrs, 2 * la)
        st = StreamState(_fmt(src, sport), _fmt(dst, dport), ssrc, t, seq)
        st.addrs = addrs
        self._describe(st, (_ipstr(src), sport), (_ipstr(dst), dport))
        if not st.announced:
            self.candidates += 1
            if self.candidates > MAX_CANDIDATES:
                self._prune()
        self.streams[key] = st
        return st

    def _describe(self, st: StreamState, src: tuple[str, int], dst: tuple[str, int]) -> None:
        """Give a new stream what the SDP knows: call, PTs, clock rates, SRTP key."""
        info = self.book.lookup(src, dst, st.ssrc)
        if info is None:
            st.rtpmap = dict(STATIC_PT)
            if self.extra_keys:
                st.keys_tried = self.extra_keys
                st.protected = True
                st.tries_left = KEY_PROBE_PACKETS
            return
        st.announced = True
        st.call_id = info.call_id
        st.rtpmap = info.rtpmap()
        ev = info.event_pts()
        if ev or info.receiver is not None:  # the receiver's SDP says which PTs are events (maybe none)
            st.event_pts = ev
            st.guess_events = False
            if ev:
                st.event_rate = st.rtpmap.get(min(ev), ("", 8000))[1] or 8000
        st.sdp_savp = info.savp
        if info.key is not None:
            st.set_key(info.key)
            st.tries_left = 0
        elif info.savp:
            st.protected = True
            st.keys_tried = self.extra_keys
            st.tries_left = 50
            if info.key_pending:
                st.resolver = self._resolver(src, dst)

    def _resolver(self, src: tuple[str, int], dst: tuple[str, int]):
        def resolve(st: StreamState) -> None:
            info = self.book.lookup(src, dst, st.ssrc)
            if info is not None and info.key is not None:
                st.set_key(info.key)
                st.resolver = None

        return resolve

    def _prune(self) -> None:
        for k in [k for k, s in self.streams.items() if not s.announced and s.packets < 2]:
            self._skip(NOT_RTP)
            del self.streams[k]
        self.candidates = sum(1 for s in self.streams.values() if not s.announced)

    # --- results ----------------------------------------------------------------

    def _skipped_total(self) -> dict[str, int]:
        out = dict(self.skipped)
        for why, n in self.rtcp.unread.items():
            out[why] = out.get(why, 0) + n
        for key in self.frags:  # datagrams whose fragments never all arrived
            r = _frag_reason(key)
            out[r] = out.get(r, 0) + 1
        return dict(sorted(out.items()))

    def result(self, log_messages: Sequence[SipMessage]) -> CaptureAnalysis:
        book = self.book
        capture_calls = {m.call_id for m in self.sip}
        # Log messages stand in only for calls the capture shows no SIP for (TLS).
        seen_log: set[tuple] = set()
        final_book = MediaBook()
        for m in sorted(list(self.sip) + [m for m in log_messages if m.call_id not in capture_calls],
                        key=lambda m: m.time):
            if m.transport == "log":
                k = (m.call_id, m.cseq, m.cseq_method, m.method, m.status, m.body)
                if k in seen_log:
                    continue
                seen_log.add(k)
            final_book.add(m)
        dialogs = tuple(final_book.dialogs[c].freeze() for c in final_book.order)
        self.rtcp.finish()
        streams = []
        dtmf: list[DtmfEvent] = []
        for st in self.streams.values():
            st.finish_inference()
            src_ip, _, sport = st.src.rpartition(":")
            dst_ip, _, dport = st.dst.rpartition(":")
            if not st.announced and not _plausible_rtp(st, int(sport), int(dport)):
                self.skipped[NOT_RTP] = self.skipped.get(NOT_RTP, 0) + st.packets
                continue
            call_id = st.call_id or book.call_for(
                (src_ip.strip("[]"), int(sport)), (dst_ip.strip("[]"), int(dport)), st.ssrc
            )
            streams.append(_freeze_stream(st, call_id, self.rtcp.about.get(st.ssrc)))
            dtmf += stream_dtmf(st, call_id)
        for d in dialogs:
            dtmf.extend(_info_events(d))
        streams.sort(key=lambda s: (s.first_time, s.src, s.dst, s.ssrc))
        dtmf.sort(key=lambda e: (e.start, e.src))
        return CaptureAnalysis(
            dialogs=dialogs,
            rtp_streams=tuple(streams),
            dtmf=tuple(dtmf),
            packets=self.packets,
            first_time=self.first,
            last_time=self.last,
            source=self.path,
            warnings=_file_warnings(self.path, self.corrupt, self.truncated),
            skipped=self._skipped_total(),
            truncated=self.truncated,
            corrupt=tuple(self.corrupt),
        )


def stream_dtmf(st: StreamState, call_id: str | None) -> list[DtmfEvent]:
    """The RFC 4733 events one stream carried."""
    out = []
    for ev in st.dtmf_events():
        rate = st.rtpmap.get(ev.pt, ("", 0))[1] if not st.guess_events else 0
        rate = rate or st.event_rate or 8000
        out.append(
            DtmfEvent(
                digit=ev.digit,
                method="rfc4733",
                start=ev.first_time,
                duration_ms=ev.total * 1000.0 / rate,
                volume=ev.volume,
                end_seen=ev.end_seen,
                ssrc=st.ssrc,
                call_id=call_id,
                src=st.src,
                dst=st.dst,
                payload_type=ev.pt,
                rtp_timestamp=ev.timestamp,
            )
        )
    return out


def _info_events(d: Dialog) -> list[DtmfEvent]:
    """One event per DTMF INFO transaction (sender, CSeq): its retransmissions folded in and
    counted, and the final response it got, which says whether the digit was delivered."""
    first: dict[tuple[str, int], tuple[SipMessage, tuple[str, float]]] = {}
    sent: dict[tuple[str, int], int] = {}
    for m in d.messages:
        got = info_dtmf(m)
        if got:
            key = (m.src, m.cseq)
            first.setdefault(key, (m, got))
            sent[key] = sent.get(key, 0) + 1
    out = []
    for key, (m, (digit, duration)) in first.items():
        final = next((r for r in d.messages if r.status is not None and r.status >= 200 and r.cseq_method == "INFO"
                      and r.cseq == m.cseq and (r.dst == m.src or r.src == m.dst)), None)  # a log's near end may be "local"
        out.append(DtmfEvent(digit, "sip-info", m.time, duration, None, True, None, d.call_id, m.src, m.dst,
                             status=final.status if final else None, retransmissions=sent[key] - 1))
    return out


#: UDP ports of protocols that are not RTP but whose headers can pass RTP's version test
#: (DNS and NetBIOS ids in 0x8000-0xBFFF, say): an unannounced stream there is not RTP.
NON_RTP_PORTS = frozenset({
    53, 67, 68, 69, 123, 137, 138, 161, 162, 389, 427, 443, 500, 514, 520, 546, 547, 1194, 1812, 1813,
    1900, 3702, 4500, 4789, 5353, 5355, 6081, 11211,
})
MIN_CLOCK, MAX_CLOCK = 1000.0, 200000.0  # plausible RTP clock rates (units per second)


MAX_CORRUPT_WARNINGS = 10


def _file_warnings(path: str, corrupt: list[Corruption], cut: Truncation | None) -> tuple[str, ...]:
    out = [c.message(path) for c in corrupt[:MAX_CORRUPT_WARNINGS]]
    if len(corrupt) > MAX_CORRUPT_WARNINGS:
        skipped = sum(c.bytes_skipped for c in corrupt)
        out.append(f"{path}: {len(corrupt)} corrupt regions in all ({skipped} bytes skipped)")
    if cut is not None:
        out.append(cut.message(path))
    return tuple(out)


def _frag_reason(key: tuple) -> str:
    return "ipv6-fragment-incomplete" if len(key[0]) == 16 else "ipv4-fragment-incomplete"


def _plausible_rtp(st: StreamState, sport: int, dport: int) -> bool:
    """A stream no SDP announced must earn the name RTP, from the flow as a whole (checked
    once, at the end): never on a port of a well-known non-RTP protocol; enough distinct
    sequence numbers (duplicates and event repeats do not count); sequence numbers that
    advance (packets from before the first, jumps of thousands and restarts are rare);
    a payload type that stays (a handful of PTs, switching rarely: audio and an event PT
    alternate per digit, not per packet), PTs outside RTCP's 64-95 (RFC 5761); timestamps
    that advance at a plausible clock rate, with few resets. Loss, duplicates and a
    restart are measured, not held against the stream; SSRC 0 is legal.
    """
    if sport in NON_RTP_PORTS or dport in NON_RTP_PORTS:
        return False
    distinct = st.packets - st.duplicates - st.event_repeats
    if distinct < MIN_HEURISTIC_PACKETS:
        return False
    if (st.out_of_order + st.jumps + st.restarts) * 4 > distinct:
        return False
    if len(st.pts) > 3 or st.pt_changes * 4 > st.packets + 8:
        return False
    if all(64 <= pt <= 95 for pt in st.pts):
        return False
    rate = st.clock_estimate()
    if rate is not None and not MIN_CLOCK <= rate <= MAX_CLOCK:
        return False
    return st.resets * 8 <= distinct


def _rtcp_view(st: StreamState, r: Report | None, known: bool, rate: int) -> dict:
    """The far end's RTCP view of this stream, as RtpStream keyword arguments."""
    if r is None:
        return {}
    view: dict = {"rtcp_sender_packets": r.sender_packets, "rtcp_xr": r.xr, "rtcp_evidence": r.evidence}
    if r.reports:
        expected = r.ext_highest - st.min_ext + 1
        view.update(
            rtcp_reports=r.reports,
            rtcp_reported_lost=r.cumulative,
            rtcp_reported_loss_pct=100.0 * r.cumulative / expected if expected > 0 else None,
            rtcp_fraction_lost_pct=r.fraction * 100.0 / 256,
            rtcp_reported_jitter_ms=r.jitter * 1000.0 / rate if known else None,
            rtcp_rtt_ms=r.rtt * 1000.0 if r.rtt is not None else None,
        )
    return view


def _codec_name(st: StreamState, pt: int) -> str | None:
    """``name/rate`` of a PT from the SDP or the static table; None when unknown."""
    if pt < 0:
        return None
    name, rate = st.rtpmap.get(pt) or STATIC_PT.get(pt) or ("", 0)
    return f"{name}/{rate}" if name else None


def _freeze_stream(st: StreamState, call_id: str | None, report: Report | None = None) -> RtpStream:
    expected = st.expected()
    received = st.packets - st.duplicates - st.event_repeats
    by_pt = st.packets_by_pt()
    codec = _codec_name(st, st.dominant_pt())
    srtp = st.sdp_savp or st.srtp is not None
    # decrypted means every packet: one that fails is discarded by the receiver
    decrypted = st.srtp is not None and st.auth_ok > 0 and st.auth_failures == 0
    err = st.decrypt_error
    failed = st.failed_entropy()
    plain = failed is not None and failed < CIPHER_ENTROPY  # what failed reads as audio, not ciphertext
    if st.srtp is not None and st.auth_failures and (plain or st.auth_ok):
        what = "every packet" if not st.auth_ok else f"{st.auth_failures} of {st.auth_ok + st.auth_failures} packets"
        err = (f"{what} failed SRTP authentication, and their payloads read as plain RTP"
               f" ({failed:.2f} bits/byte): sent unencrypted, discarded by an SRTP receiver" if plain
               else f"{what} failed SRTP authentication (another key, or corrupted): discarded by the receiver")
    elif st.srtp is None and srtp and plain:
        err = f"{err or 'no key known'}; the payloads read as plain RTP ({failed:.2f} bits/byte): sent unencrypted"
    elif srtp and not decrypted and err is None:
        err = "authentication failed on every packet: wrong key" if st.srtp is not None else "no key known"
    if decrypted:
        err = None
    elif st.cut and (srtp or st.keys_tried):
        err = (
            f"snaplen cut {st.cut} of {st.packets} packets short of their IP length: the SRTP payload and auth tag"
            " are not all in the capture, so no key can be verified (capture with a larger snaplen, e.g. tcpdump -s 0)"
        )
    elif st.keys_tried and not srtp:
        n = len(st.keys_tried)
        err = (
            f"the {n} given key{'s' if n > 1 else ''} did not verify on this stream's first packets"
            f" (wrong key, or not SRTP): shown as plain RTP, payload entropy {st.entropy():.2f} bits/byte"
        )
    rate = st.rate or 8000
    bin_s, counts = st.timeline()
    known = st.clock_known or st.codec_pt < 0
    jmean = (st.jsum / st.jn) * 1000.0 / rate if st.jn else 0.0
    jmax = st.jmax * 1000.0 / rate
    if not known:
        jmean = jmax = math.nan
    return RtpStream(
        src=st.src,
        dst=st.dst,
        ssrc=st.ssrc,
        payload_types=tuple(st.pts),
        codec=codec,
        clock_rate=rate if known else 0,
        packets=st.packets,
        expected=expected,
        lost=max(0, expected - received),
        duplicates=st.duplicates,
        out_of_order=st.out_of_order,
        jitter_ms_mean=jmean,
        jitter_ms_max=jmax,
        max_delta_ms=st.max_delta * 1000.0,
        first_time=st.first_time,
        last_time=st.last_time,
        srtp=srtp,
        sdp_savp=st.sdp_savp,
        decrypted=decrypted,
        decrypt_error=err if srtp or st.keys_tried else None,
        auth_failures=st.auth_failures,
        crypto_suite=st.srtp.suite.name if st.srtp is not None else None,
        payload_entropy=st.entropy(),
        authenticated=st.auth_ok,
        failed_entropy=failed,
        call_id=call_id,
        announced=st.announced,
        clock_known=known,
        timestamp_resets=st.resets,
        restarts=st.restarts,
        event_repeats=st.event_repeats,
        clock_inferred=st.clock_inferred and known,
        payload_type_packets=tuple(by_pt.items()),
        pt_codecs=tuple((pt, _codec_name(st, pt)) for pt in by_pt),
        timeline=Timeline(round(bin_s * 1000), st.first_time, counts),
        gaps=tuple(Gap(t, n) for t, n in st.gaps),
        **_rtcp_view(st, report, known, rate),
    )


def analyze_capture(
    path: str, *, srtp_keys: Iterable[SrtpKey | str] = (), key_logs: Iterable[str] = (), partial: bool = False
) -> CaptureAnalysis:
    """Analyse one pcap/pcapng file: dialogs, RTP streams, DTMF.

    A file cut inside a record raises ``CaptureFormatError`` naming the offset, unless
    ``partial``: then every complete record is analysed and ``CaptureAnalysis.truncated``
    says where the file ends (``callgen analyze`` does this; a scenario's own capture
    must be whole, so the checks keep the error).

    ``srtp_keys``: ``SrtpKey`` objects or ``SUITE:BASE64`` strings, tried on SRTP
    streams whose key the SDP does not give.  ``key_logs``: pjsua level-5 log
    files; their SIP messages (and SDES keys) stand in for SIP the capture cannot
    show (TLS), and the SRTP keys they print are tried as well.
    """
    from callgen.analysis.srtp import parse_cli_key

    keys: list[SrtpKey] = [k if isinstance(k, SrtpKey) else parse_cli_key(k) for k in srtp_keys]
    log_messages: list[SipMessage] = []
    for log in key_logs:
        log_messages.extend(sip_messages_from_pjsua_log(log))
        for lk in srtp_keys_from_pjsua_log(log):
            k = SrtpKey(lk.suite, lk.key_b64, "log")
            if k not in keys:
                keys.append(k)
    scanner = _Scanner(path, keys, log_messages)
    scanner.run()
    if not partial:
        refuse_damage(scanner)
    return scanner.result(log_messages)


def refuse_damage(scanner: _Scanner) -> None:
    """A scenario's own capture must be whole: a corrupt or cut record is an error naming the offset."""
    path = scanner.path
    if scanner.corrupt:
        bad = scanner.corrupt[0]
        raise CaptureFormatError(
            f"{path}: garbage record header (corrupt, {bad.bytes_skipped} bytes to the next valid record)"
            f" at byte offset {bad.offset}"
        )
    if scanner.truncated is not None:
        cut = scanner.truncated
        raise CaptureFormatError(
            f"{path}: truncated packet record at byte offset {cut.offset} ({cut.bytes_left} bytes left, record incomplete)"
        )
