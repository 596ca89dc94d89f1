"""SIPp on ::1: its sockets are found in /proc/net/udp6, its URI is bracketed, and its
remote-control socket (IPv4 only in SIPp) stays on the IPv4 loopback."""

from __future__ import annotations

import socket
import sys

from callgen.sut.sipp import SippConfig, SippProcess, owns_udp_socket, proc_net_address


def test_proc_net_address_forms():
    if sys.byteorder == "little":
        assert proc_net_address("127.0.0.1", 5060) == "0100007F:13C4"
        assert proc_net_address("::1", 5060) == "00000000000000000000000001000000:13C4"


def test_owns_an_ipv6_udp_socket_of_this_process():
    import os

    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        port = s.getsockname()[1]
        assert owns_udp_socket(os.getpid(), "::1", port)
        assert not owns_udp_socket(os.getpid(), "127.0.0.1", port)


def test_ipv6_sipp_argv_and_uri(tmp_path):
    p = SippProcess(SippConfig(workdir=tmp_path, scenario="uas", address="::1", service="service"))
    argv = p.argv()
    assert argv[argv.index("-i") + 1] == "::1" and argv[argv.index("-mi") + 1] == "::1"
    assert argv[argv.index("-ci") + 1] == "127.0.0.1"
    assert p.uri == f"sip:service@[::1]:{p.port}"
