"""Two local SBCs at once (``callgen run -j 2`` over two SBC scenarios): each call is proven
with its own digits on bob's leg.

Each run's rtpengine holds its media range (and Kamailio its SIP port) in the user's lock
folder while it runs (callgen/sut/ports.py); before, both ranges were random blocks above
60000 checked free once, and two runs relayed each other's RTP where they overlapped
(tests/sut/test_sut_port_locks.py shows the overlap on the old code; with two 64-port
ranges it is rare, so this test guards the wiring with real processes, not the odds).
"""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.tool("rtpengine", "kamailio")

#: this file's agents' loopback address (other SBC tests use others)
ADDRESS = "127.0.0.14"

SCENARIO = """\
name: {name}
timeout: 40
targets:
  SBC:
    local: {{kind: sbc}}
agents:
  alice:
    role: caller
    address: {address}
    register: {{registrar: "sip:${{SBC}}", password: x}}
    proxy: sip:${{SBC}};lr
  bob:
    role: callee
    address: {address}
    register: {{registrar: "sip:${{SBC}}", password: x}}
    proxy: sip:${{SBC}};lr
calls:
  - from: alice
    to: sip:bob@${{SBC}}
    callee: bob
    steps:
      - wait: confirmed
      - pause: 1
      - dtmf: "{digits}"
      - pause: 1
      - hangup: alice
      - wait: disconnected
    expect:
      dtmf: {{digits: "{digits}", receiver: bob}}
      rtp: {{min_packets: 50}}
"""


def test_two_sbc_runs_at_once_each_relay_their_own_call(cli, tmp_path, pjsua_bin):
    digits = {"sbc_one": "123#", "sbc_two": "9087"}
    files = []
    for name, d in digits.items():
        f = tmp_path / f"{name}.yaml"
        f.write_text(SCENARIO.format(name=name, digits=d, address=ADDRESS), encoding="utf-8")
        files.append(str(f))
    out = tmp_path / "out"
    r = cli("run", *files, "-o", str(out), "-j", "2")
    assert r.status == 0, r.out + r.err
    for name, d in digits.items():
        checks = {c["name"]: c for c in json.loads((out / name / "result.json").read_text())["checks"]}
        dtmf = checks["call1.dtmf"]
        assert dtmf["passed"] and dtmf["seen"].startswith(f"digits {d} "), (name, dtmf)
        assert "bob's leg" in dtmf["seen"], (name, dtmf)
        relayed = [checks[f"call1.relay[{way}]"] for way in ("caller->callee", "callee->caller")]
        assert all(c["passed"] for c in relayed), (name, relayed)
    # the SBCs' media ports as their SDP gave them to the agents (pjsua logs): apart
    spans = [_sbc_media_ports(out / name) for name in digits]
    assert all(spans) and (max(spans[0]) < min(spans[1]) or max(spans[1]) < min(spans[0])), spans


def _sbc_media_ports(run) -> list[int]:
    """The m=audio ports above 60000 in the SDP the agents got (the agents' own are in 20000-60000)."""
    text = "".join((run / f"{agent}.pjsua.log").read_text(errors="replace") for agent in ("alice", "bob"))
    return [int(p) for p in re.findall(r"^m=audio (\d+) ", text, re.M) if int(p) >= 60000]
