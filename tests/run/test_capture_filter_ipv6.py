"""The run's BPF filter keeps IPv6 SIP and RTP on the run's ports (libpcap's ``udp``,
``tcp`` and ``portrange`` cover ip6 as well as ip), and drops what is not the run's;
checked by tcpdump itself applying the filter to a file scapy wrote."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from callgen.run.capture import port_filter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
from capgen import CaptureWriter  # noqa: E402

pytestmark = pytest.mark.tool("tcpdump")


def _kept(path: Path, bpf: str) -> list[str]:
    p = subprocess.run(["tcpdump", "-nn", "-r", str(path), bpf], capture_output=True, text=True, timeout=30, check=True)
    return p.stdout.splitlines()


def test_port_filter_keeps_ipv6_udp_and_tcp_of_the_run(tmp_path):
    path = tmp_path / "mix.pcap"
    with CaptureWriter(str(path)) as w:
        w.udp(1.0, "::1", 20000, "::1", 20002, b"INVITE sip:bob@[::1]:20002 SIP/2.0\r\n\r\n")  # SIP in the block
        w.udp(1.1, "::1", 20040, "::1", 20042, b"\x80\x08" + b"\0" * 170)  # RTP in the block
        w.tcp(1.2, "::1", 45000, "::1", 20004, 1, b"OPTIONS sip:x SIP/2.0\r\n\r\n")  # TCP to an agent's port
        w.udp(1.3, "::1", 40000, "::1", 40002, b"not ours")  # another run's ports
        w.udp(1.4, "127.0.0.1", 20010, "127.0.0.1", 20012, b"ipv4 still kept")
    kept = _kept(path, port_filter([(20000, 20099)]))
    assert len(kept) == 4, kept
    assert sum(" IP6 ::1." in line for line in kept) == 3
    assert not any(".40000 >" in line for line in kept)
    assert len(_kept(path, port_filter([(20000, 20099)], [40002]))) == 5
