"""A stream counts for a direction only when its source AND destination are the
addresses that direction negotiated (issue 20 item 2).

The far end is SIPp (not pjsua) for SIP, with an RTP sender of the test's own bound
to the port SIPp's answer announces: it sends its RTP from there, but to the caller's
SDP port + 2, where nothing listens; alice's pjsua receives nothing.  (SIPp's pcap
play cannot do this: it shifts source and destination ports alike.)  Before, "RTP callee->caller" counted those packets because their
source was announced, whatever their destination.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from pathlib import Path

import pytest

from callgen.sut.ports import free_port
from callgen.sut.sipp import start_sipp

SIPP_XML = Path(__file__).resolve().parent.parent / "data" / "sipp"

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
    xml = tmp_path / "wrong_port.xml"
    xml.write_text((SIPP_XML / "wrong_port.xml").read_text().replace("ANNOUNCED_PORT", str(media.port)), encoding="utf-8")
    scenario = tmp_path / "wrong_port.yaml"
    scenario.write_text("""name: wrong_port
timeout: 60
agents:
  alice: {role: caller, codecs: [PCMU]}
calls:
  - from: alice
    to: ${PEER}
    steps:
      - wait: confirmed
      - pause: 2
      - hangup: alice
      - wait: disconnected
    expect:
      rtp: {min_packets: 20}
""", encoding="utf-8")
    out = tmp_path / "out"
    with media, start_sipp(tmp_path, scenario_file=xml, service="peer", calls=1, timeout_s=60) as sipp:
        r = cli("run", str(scenario), "-o", str(out), "--var", f"PEER={sipp.uri}")
    result = json.loads((out / "wrong_port" / "result.json").read_text())
    checks = {c["name"]: c for c in result["checks"]}
    streams = result["summary"]["rtp_streams"]
    # the far end did send, from the port it announced, to a port alice never offered
    wrong = [s for s in streams if s["ssrc"] == WrongPortSender.SSRC and s["src"] == f"127.0.0.1:{media.port}"]
    assert sum(s["packets"] for s in wrong) >= 60, streams
    assert r.status == 1, r.out + r.err
    back = checks["call1.rtp[callee->caller].packets"]
    assert not back["passed"] and back["seen"].startswith("0 packets"), back
    assert checks["call1.rtp[caller->callee].packets"]["passed"]  # what alice sent went where the peer asked
