"""pjsua patch 0006: pjsua starts without generating an RSA key, and DTLS-SRTP still
works with its EC certificate against a peer that is not pjsua (baresip)."""

from __future__ import annotations

import json
import os
import subprocess
import threading

import pytest

from tests.integration.baresip_peer import Baresip

READY = b"You have 0 active call"


def _cpu_to_ready(pjsua: str) -> float:
    """CPU seconds (user + system) one pjsua spends until its menu is up."""
    p = subprocess.Popen([pjsua, "--null-audio", "--ip-addr=127.0.0.1", "--bound-addr=127.0.0.1", "--local-port=0",
                          "--no-tcp", "--log-level=3", "--app-log-level=3"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out = b""
        timer = threading.Timer(15, p.kill)  # bounded: a pjsua that never gets ready fails below
        timer.start()
        while READY not in out:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            out += chunk
        timer.cancel()
        assert READY in out, out[-500:]
        with open(f"/proc/{p.pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    finally:
        p.kill()
        p.wait(10)


def test_pjsua_gets_ready_without_a_quarter_second_of_key_generation(pjsua_bin):
    """pjmedia makes its DTLS certificate at start-up: with RSA 2048 that cost 0.10-0.31 s
    of CPU in every start (every agent of every scenario), with P-256 about 0.02 s."""
    cpu = min(_cpu_to_ready(pjsua_bin) for _ in range(3))
    assert cpu < 0.07, f"pjsua used {cpu:.2f} s of CPU to get ready"


@pytest.mark.tool("baresip")
def test_dtls_srtp_call_to_baresip(cli, tmp_path, pjsua_bin):
    scenario = tmp_path / "baresip_dtls.yaml"
    scenario.write_text("""name: baresip_dtls
timeout: 60
agents:
  alice: {role: caller, codecs: [PCMU], srtp: {use: mandatory, keying: dtls}}
calls:
  - from: alice
    to: ${PEER}
    steps:
      - wait: confirmed
      - pause: 1
      - hangup: alice
      - wait: disconnected
    expect:
      final_code: 200
      srtp: true
      rtp: {min_packets: 20}
""", encoding="utf-8")
    out = tmp_path / "out"
    with Baresip(tmp_path, mediaenc="dtls_srtp", codecs=("PCMU",)) as peer:
        r = cli("run", str(scenario), "-o", str(out), "--var", f"PEER={peer.uri}")
        lines = list(peer.lines)
    assert r.status == 0, r.out + r.err + "\n".join(lines[-20:])
    result = json.loads((out / "baresip_dtls" / "result.json").read_text())
    assert result["verdict"] == "pass"
    log = (out / "baresip_dtls" / "alice.pjsua.log").read_text(errors="replace")
    assert "DTLS-SRTP negotiation for RTP channel completed" in log
    # baresip checked the fingerprint of pjsua's (EC) certificate and keyed SRTP from DTLS
    assert "dtls_srtp: verified SHA-256 fingerprint OK" in lines, lines[-30:]
    assert any(ln.startswith("dtls_srtp: ---> DTLS-SRTP complete (audio/RTP)") for ln in lines), lines[-30:]
