"""pjsua's own RTP counters against the capture on a real call (``callN.rtp_counters[A]``).

A real call between two pjsua processes: each agent's check passes, and the counts it
shows for the capture are the ones tshark, an independent reader, counts in the same file
toward and from the agent's RTP port; pjsua's are the ones its log printed.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from callgen.pjsua.calldump import call_dumps
from tests.conftest import SCENARIOS

pytestmark = [pytest.mark.integration, pytest.mark.tool("tshark")]


def _tshark_rtp(pcap, port: int, field: str) -> int:
    p = subprocess.run(["tshark", "-r", str(pcap), "-d", f"udp.port=={port},rtp", "-Y", f"rtp && {field} == {port}",
                        "-T", "fields", "-e", "frame.number"], capture_output=True, text=True, timeout=60, check=True)
    return len(p.stdout.split())


def test_a_real_calls_counters_agree_with_the_capture(cli, tmp_path, pjsua_bin):
    r = cli("run", str(SCENARIOS / "basic_call.yaml"), "-o", str(tmp_path), "--pjsua", pjsua_bin)
    assert r.status == 0, r.out + r.err
    run = tmp_path / "basic_call"
    checks = {c["name"]: c for c in json.loads((run / "result.json").read_text())["checks"]}
    for agent in ("alice", "bob"):
        c = checks[f"call1.rtp_counters[{agent}]"]
        assert c["passed"] and c["evidence"] == f"pjsua log {agent} vs capture", c
        port = int(re.search(r"^--rtp-port=(\d+)$", (run / f"{agent}.cfg").read_text(), re.M)[1])
        rx, tx = _tshark_rtp(run / "capture.pcap", port, "udp.dstport"), _tshark_rtp(run / "capture.pcap", port, "udp.srcport")
        assert rx > 50 and tx > 50
        (dump,) = call_dumps(run / f"{agent}.pjsua.log")
        audio = dump.audio()
        assert c["seen"] == (f"pjsua log: received {audio.rx_packets}, sent {audio.tx_packets}; "
                             f"capture: {rx} toward {agent}, {tx} from {agent}"), c
