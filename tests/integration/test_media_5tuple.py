"""A stream counts for a direction only when its source AND destination are the
addresses that direction negotiated (issue 20 item 2).

The far end is SIPp (not pjsua) for SIP, with an RTP sender of the test's own bound
to the port SIPp's answer announces: it sends its RTP from there, but to the caller's
SDP port + 2, where nothing listens; alice's pjsua receives nothing.  (SIPp's pcap
play cannot do this: it shifts source and destination ports alike.)  Before, "RTP callee->caller" counted those packets because their
source was announced, whatever their destination.
"""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from callgen.sut.ports import free_port
from tests.integration.sipp_far_end import far_end, run_against, uac_call

pytestmark = pytest.mark.tool("sipp")


class WrongPortSender:
    """The far end's media: bound to the port its SDP announced, it answers each packet
    alice sends there with one PCMU RTP packet from that port to alice's port + 2."""

    SSRC = 0x0BADB0D

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", free_port()))
        self.port = self.sock.getsockname()[1]
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set() and self.sent < 2000:
            try:
                _, (host, port) = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            header = struct.pack("!BBHII", 0x80, 0, 700 + self.sent, 160 * self.sent, self.SSRC)
            self.sock.sendto(header + b"\xff" * 160, (host, port + 2))
            self.sent += 1

    def __enter__(self) -> WrongPortSender:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def test_rtp_to_the_wrong_port_is_not_received(cli, tmp_path, pjsua_bin):
    media = WrongPortSender()
    body = uac_call(2, expect="    expect:\n      rtp: {min_packets: 20}\n")
    with media, far_end(tmp_path, "wrong_port.xml", ANNOUNCED_PORT=str(media.port)) as sipp:
        r, result, checks = run_against(cli, tmp_path, sipp.uri, body, "wrong_port")
    streams = result["summary"]["rtp_streams"]
    # the far end did send, from the port it announced, to a port alice never offered
    wrong = [s for s in streams if s["ssrc"] == WrongPortSender.SSRC and s["src"] == f"127.0.0.1:{media.port}"]
    assert sum(s["packets"] for s in wrong) >= 60, streams
    assert r.status == 1, r.out + r.err
    back = checks["call1.rtp[callee->caller].packets"]
    assert not back["passed"] and back["seen"].startswith("0 packets"), back
    assert checks["call1.rtp[caller->callee].packets"]["passed"]  # what alice sent went where the peer asked
