"""Test captures built with scapy: framing, checksums, fragments, tunnels, pcap/pcapng files.

scapy is the project's packet library where per-packet cost does not matter; it is
independent of the analyser's struct-based reader, so a framing bug in one is not
mirrored in the other.  Content (RTP headers, SDP, SIP text) comes from ``capgen``.
"""

from __future__ import annotations

from scapy.contrib.geneve import GENEVE
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import GRE, IP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, fragment6
from scapy.layers.l2 import Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Packet, Raw
from scapy.utils import PcapNgWriter, PcapWriter

ETH = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def ip(src: str, dst: str):
    return IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst)


def udp(src: str, sport: int, dst: str, dport: int, payload: bytes) -> Packet:
    """An IP/UDP packet (no link layer) carrying ``payload``."""
    return ip(src, dst) / UDP(sport=sport, dport=dport) / Raw(payload)


def eth(inner: Packet) -> Packet:
    return Ether(**ETH) / inner


def at(t: float, pkt: Packet) -> Packet:
    pkt.time = t
    return pkt


def write(path, frames, fmt: str = "pcap", snaplen: int = 65535) -> None:
    """Write scapy frames (their ``.time`` set) to a pcap or pcapng file."""
    cls = PcapNgWriter if fmt == "pcapng" else PcapWriter
    kw = {} if fmt == "pcapng" else {"snaplen": snaplen}
    w = cls(str(path), **kw)
    try:
        for f in frames:
            w.write(f)
    finally:
        w.close()


def write_cut(path, frames, keep: int, only=lambda frame: True) -> None:
    """pcap whose records carry only the first ``keep`` bytes of each frame (of those
    ``only`` selects), the original length kept in the record header, as tcpdump -s writes."""
    w = PcapWriter(str(path), linktype=1, snaplen=65535)
    try:
        w.write_header(None)
        w.header_present = True
        for f in frames:
            raw = bytes(f)
            if not only(f):
                w.write(f)
                continue
            w.write_packet(raw[:keep], sec=int(f.time), usec=int(round((f.time - int(f.time)) * 1e6)),
                           caplen=min(keep, len(raw)), wirelen=len(raw))
    finally:
        w.close()


# --- encapsulations real captures carry ---------------------------------------------

OUTER4 = ("127.0.10.1", "127.0.10.2")
OUTER6 = ("::1", "::1")


def ipip(inner: Packet) -> Packet:
    """IP-in-IP (proto 4) or IPv6-in-IPv4 (proto 41)."""
    return Ether(**ETH) / IP(src=OUTER4[0], dst=OUTER4[1]) / inner


def gre(inner: Packet) -> Packet:
    return Ether(**ETH) / IP(src=OUTER4[0], dst=OUTER4[1]) / GRE(key_present=1, key=7) / inner


def gre_eth(inner: Packet) -> Packet:
    """GRE carrying Ethernet (transparent Ethernet bridging, 0x6558)."""
    return Ether(**ETH) / IP(src=OUTER4[0], dst=OUTER4[1]) / GRE(proto=0x6558) / Ether(**ETH) / inner


def vxlan(inner: Packet) -> Packet:
    return (Ether(**ETH) / IP(src=OUTER4[0], dst=OUTER4[1]) / UDP(sport=49152, dport=4789)
            / VXLAN(vni=42) / Ether(**ETH) / inner)


def geneve(inner: Packet) -> Packet:
    return (Ether(**ETH) / IP(src=OUTER4[0], dst=OUTER4[1]) / UDP(sport=49153, dport=6081)
            / GENEVE(vni=43, proto=0x6558) / Ether(**ETH) / inner)


def mpls(inner: Packet) -> Packet:
    return Ether(**ETH, type=0x8847) / MPLS(label=100, s=0, ttl=64) / MPLS(label=200, s=1, ttl=64) / inner


def qinq(inner: Packet) -> Packet:
    return Ether(**ETH, type=0x88A8) / Dot1Q(vlan=10, type=0x8100) / Dot1Q(vlan=20) / inner


ENCAPSULATIONS = {
    "ip-in-ip": ipip,
    "gre": gre,
    "gre-ethernet": gre_eth,
    "vxlan": vxlan,
    "geneve": geneve,
    "mpls": mpls,
    "qinq": qinq,
}


def fragments4(pkt: Packet, size: int = 512) -> list[Packet]:
    return fragment(pkt, fragsize=size)


def fragments6(pkt: Packet, mtu: int = 1280) -> list[Packet]:
    """IPv6 fragments of an IPv6/UDP packet (a fragment header inserted first)."""
    v6 = pkt[IPv6]
    whole = IPv6(src=v6.src, dst=v6.dst) / IPv6ExtHdrFragment(id=0x1234) / v6.payload
    return fragment6(whole, mtu)
