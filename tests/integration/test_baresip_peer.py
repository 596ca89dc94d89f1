"""Verdicts against baresip, a user agent that is not pjsua (issue #9).

- SIP over TCP to an outside URI: pjsua connects from an ephemeral port, which
  the run's port filter did not cover, so the capture held none of the call's
  SIP and every SIP check passed "[capture]" on what the pjsua log said.
- A DTMF step towards an outside callee returned before the digits went out,
  so a short pause then cut them while the step said "sent".
- An RFC 2833 string longer than pjmedia's 32-digit queue was refused by pjsua
  while the step said "sent".
"""

from __future__ import annotations

import json

import pytest

from callgen.analysis import analyze_capture
from tests.integration.baresip_peer import Baresip

pytestmark = pytest.mark.tool("baresip")


def _run(cli, tmp_path, uri: str, body: str, name: str):
    scenario = tmp_path / f"{name}.yaml"
    scenario.write_text(f"name: {name}\ntimeout: 60\n{body}", encoding="utf-8")
    out = tmp_path / "out"
    r = cli("run", str(scenario), "-o", str(out), "--var", f"PEER={uri}")
    result = json.loads((out / name / "result.json").read_text())
    return r, result, {c["name"]: c for c in result["checks"]}, out / name


def test_tcp_srtp_call_to_baresip_is_proven_from_the_capture(cli, tmp_path, pjsua_bin):
    body = """
agents:
  alice: {role: caller, codecs: [PCMU], srtp: {use: mandatory, secure: 0}}
calls:
  - from: alice
    to: ${PEER}
    steps:
      - wait: confirmed
      - pause: 0.5
      - dtmf: "1234"
      - pause: 0.1
      - hangup: alice
      - wait: disconnected
    expect:
      final_code: 200
      srtp: true
      rtp: {min_packets: 20}
      dtmf: {digits: "1234", method: rfc2833}
"""
    with Baresip(tmp_path, transport="tcp", mediaenc="srtp-mand", codecs=("PCMU",)) as peer:
        r, result, checks, run = _run(cli, tmp_path, peer.uri, body, "baresip_tcp_srtp")
    assert r.status == 0, r.out + r.err
    for name in ("call1.invite", "call1.final_code", "call1.ack", "call1.bye", "call1.bye_answered"):
        assert checks[name]["evidence"] == "capture", checks[name]
    assert "call1.sip_in_capture" not in checks
    assert "the far end (sip:bob@" in checks["call1.dtmf"]["expected"]
    # the capture alone (no pjsua log to stand in) holds the call's SIP over TCP
    alone = analyze_capture(str(run / "capture.pcap"))
    invites = [m for d in alone.dialogs for m in d.messages if m.method == "INVITE"]
    assert invites and all(m.transport == "tcp" for m in invites), invites
    assert any(d.final_code == 200 for d in alone.dialogs)


def test_more_dtmf_digits_than_pjsua_queues_at_once(cli, tmp_path, pjsua_bin):
    digits = "1234567890*#" * 3 + "0147"  # 40 digits: pjmedia queues at most 32
    body = f"""
agents:
  alice: {{role: caller, codecs: [PCMU]}}
calls:
  - from: alice
    to: ${{PEER}}
    steps:
      - wait: confirmed
      - dtmf: "{digits}"
      - hangup: alice
      - wait: disconnected
    expect:
      dtmf: {{digits: "{digits}", method: rfc2833}}
"""
    with Baresip(tmp_path, codecs=("PCMU",)) as peer:
        r, result, checks, run = _run(cli, tmp_path, peer.uri, body, "baresip_long_dtmf")
    assert r.status == 0, r.out + r.err
    assert checks["call1.dtmf"]["passed"], checks["call1.dtmf"]
