"""IPv6 agents on real calls: pjsua (patch 0007, --ipv6-only) on ::1 against pjsua and
against SIPp (a far end that is not pjsua), proven from the capture, which tshark
reads independently: every packet is IPv6 between ::1 ports, both SDPs carry
``c=IN IP6 ::1``, and the RFC 2833 digits are on the wire."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import SCENARIOS


def _decode_args(run: Path) -> list[str]:
    ports = re.findall(r"^--local-port=(\d+)$", "".join(p.read_text() for p in run.glob("*.cfg")), re.M)
    ports += [m for p in run.glob("sipp-*/*.out") for m in re.findall(r"-(\d+)\.out$", p.name)]
    return [a for port in ports for a in ("-d", f"udp.port=={port},sip")]


def _tshark(pcap: Path, *args: str) -> list[list[str]]:
    p = subprocess.run(["tshark", "-r", str(pcap), *args], capture_output=True, text=True, timeout=60, check=True)
    return [line.split("\t") for line in p.stdout.splitlines() if line.strip()]


def _run(cli, tmp_path: Path, pjsua_bin: str, name: str) -> tuple[Path, dict]:
    r = cli("run", str(SCENARIOS / f"{name}.yaml"), "-o", str(tmp_path), "--pjsua", pjsua_bin)
    assert r.status == 0, r.out + r.err
    assert f"{name}: PASS" in r.out
    assert "[::1]:" in r.out  # the ladder prints IPv6 endpoints as [::1]:port
    run = tmp_path / name
    return run, json.loads((run / "result.json").read_text())


def _assert_all_ipv6_on_loopback(pcap: Path) -> None:
    rows = _tshark(pcap, "-T", "fields", "-e", "ip.version", "-e", "ipv6.src", "-e", "ipv6.dst")
    assert rows, f"{pcap}: empty capture"
    assert {tuple(r) for r in rows} == {("6", "::1", "::1")}, "a packet of the run was not IPv6 between ::1 ports"


def _assert_ipv6_sdp(pcap: Path, decode: list[str]) -> None:
    rows = _tshark(pcap, *decode, "-Y", "sdp", "-T", "fields", "-e", "sip.Method", "-e", "sip.Status-Code",
                   "-e", "sdp.connection_info.address_type", "-e", "sdp.connection_info.address")
    assert [r[0] or r[1] for r in rows][:2] == ["INVITE", "200"], rows
    assert all(r[2:] == ["IP6", "::1"] for r in rows), rows


def test_pjsua_call_over_ipv6_is_proven_from_the_capture(cli, tmp_path, pjsua_bin):
    run, result = _run(cli, tmp_path, pjsua_bin, "ipv6_call")
    pcap, decode = run / "capture.pcap", _decode_args(run)
    for agent in ("alice", "bob"):
        cfg = (run / f"{agent}.cfg").read_text()
        assert "--ipv6-only\n" in cfg and "--bound-addr=::1\n" in cfg
    _assert_all_ipv6_on_loopback(pcap)
    _assert_ipv6_sdp(pcap, decode)
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["call1.dtmf"]["passed"] and "159#" in checks["call1.dtmf"]["seen"]
    assert re.search(r"BYE from \[::1\]:\d+ \(alice\)", checks["call1.bye"]["seen"])
    # the digits, read by tshark from the RTP events on the wire
    events = _tshark(pcap, *decode, "-o", "rtpevent.event_payload_type_value:120", "-Y", "rtpevent",
                     "-T", "fields", "-e", "rtp.timestamp", "-e", "rtpevent.event_id")
    digits = {}
    for ts, ev in events:
        digits.setdefault(ts, ev)
    assert "".join("0123456789*#"[int(e)] for e in digits.values()) == "159#"


def test_pjsua_caller_and_sipp_uas_over_ipv6(cli, tmp_path, pjsua_bin):
    run, result = _run(cli, tmp_path, pjsua_bin, "ipv6_sipp_uas")
    pcap = run / "capture.pcap"
    _assert_all_ipv6_on_loopback(pcap)
    _assert_ipv6_sdp(pcap, _decode_args(run))
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["sipp.uas"]["passed"] and "successful calls 1 of 1" in checks["sipp.uas"]["seen"]
    assert checks["call1.codec"]["passed"] and "RTP caller->callee PCMU" in checks["call1.codec"]["seen"]
    rtp = _tshark(pcap, "-Y", "udp", "-T", "fields", "-e", "udp.srcport", "-e", "udp.dstport", "-e", "udp.length")
    assert sum(1 for r in rtp if int(r[2]) == 8 + 12 + 160) >= 20  # 20 ms PCMU packets over IPv6


def test_sipp_uac_calls_a_pjsua_callee_over_ipv6(cli, tmp_path, pjsua_bin):
    run, result = _run(cli, tmp_path, pjsua_bin, "ipv6_sipp_uac")
    pcap = run / "capture.pcap"
    _assert_all_ipv6_on_loopback(pcap)
    _assert_ipv6_sdp(pcap, _decode_args(run))
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["call1.sipp"]["passed"] and "successful calls 1 of 1" in checks["call1.sipp"]["seen"], checks
    assert checks["call1.bye_answered"]["passed"]


def test_wrong_digits_over_ipv6_fail_the_verdict(cli, tmp_path, write_yaml, pjsua_bin):
    """No false pass over IPv6: the same call expecting other digits fails, naming what was seen."""
    text = (SCENARIOS / "ipv6_call.yaml").read_text().replace('digits: "159#", method', 'digits: "158#", method')
    path = write_yaml(text, "ipv6_wrong.yaml")
    r = cli("run", str(path), "-o", str(tmp_path / "out"), "--pjsua", pjsua_bin)
    assert r.status == 1, r.out + r.err
    assert re.search(r"FAIL call1\.dtmf: expected digits 158# at bob, seen digits 159#", r.out), r.out


def test_register_and_call_through_a_kamailio_on_ipv6(cli, tmp_path, pjsua_bin, monkeypatch):
    """A real Kamailio listening on [::1] (targets.X.local.address: ::1) as registrar and proxy."""
    monkeypatch.delenv("KAMAILIO6", raising=False)
    run, result = _run(cli, tmp_path, pjsua_bin, "ipv6_register_and_call")
    pcap = run / "capture.pcap"
    _assert_all_ipv6_on_loopback(pcap)
    port = re.search(r"sip:bob@\[::1\]:(\d+)", json.dumps(result))[1]  # the Kamailio's port, in the call's URI
    decode = _decode_args(run) + ["-d", f"udp.port=={port},sip"]
    rows = _tshark(pcap, *decode, "-Y", "sip.CSeq.method == REGISTER", "-T", "fields", "-e", "sip.Method",
                   "-e", "sip.Status-Code")
    seen = [r[0] or r[1] for r in rows]
    assert seen.count("REGISTER") >= 4 and seen.count("401") >= 2 and seen.count("200") >= 2, seen
    invites = _tshark(pcap, *decode, "-Y", "sip.Method == INVITE", "-T", "fields", "-e", "udp.srcport", "-e", "udp.dstport")
    assert len(invites) == 2 and invites[0][1] == port and invites[1][0] == port  # through the proxy
    checks = {c["name"]: c for c in result["checks"]}
    assert all(c["passed"] for c in checks.values())


def _on_ipv6(text: str, name: str) -> str:
    """A library scenario with every agent on ::1."""
    text = re.sub(r"(\n    role: (?:caller|callee)\n)", r'\1    address: "::1"\n', text)
    return text.replace(f"name: {name}\n", f"name: {name}_v6\n")


@pytest.mark.parametrize("name", ["tcp_transport", "srtp_tls"])
def test_tcp_and_tls_with_srtp_over_ipv6(cli, tmp_path, write_yaml, pjsua_bin, name):
    """SIP over TCP and over TLS (SRTP keyed in it) between ::1 agents.  Over TCP/TLS the caller's
    INVITE leaves from an ephemeral port and is known by its From, which pjsua writes as
    sip:alice@[::1]: before the fix the verdict looked for alice@::1 and found no INVITE."""
    text = _on_ipv6((SCENARIOS / f"{name}.yaml").read_text(), name)
    assert text.count('address: "::1"') == 2
    path = write_yaml(text, f"{name}_v6.yaml")
    r = cli("run", str(path), "-o", str(tmp_path / "out"), "--pjsua", pjsua_bin)
    assert r.status == 0, r.out + r.err
    assert f"{name}_v6: PASS" in r.out and "[::1]:" in r.out
    run = tmp_path / "out" / f"{name}_v6"
    _assert_all_ipv6_on_loopback(run / "capture.pcap")
    result = json.loads((run / "result.json").read_text())
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["call1.invite"]["passed"] and checks["call1.bye"]["passed"]
    proto = "tcp" if name == "tcp_transport" else "tls"
    assert "--ipv6-only" in (run / "alice.cfg").read_text()
    if proto == "tls":
        assert "--use-tls" in (run / "alice.cfg").read_text()
        assert any(c["name"].startswith("call1.srtp") and c["passed"] for c in result["checks"]), sorted(checks)


@pytest.mark.tool("baresip")
def test_pjsua_calls_baresip_over_ipv6_with_rfc2833_digits(cli, tmp_path, pjsua_bin):
    """baresip (not pjsua, its own SIP and RTP stack) on [::1] answers an IPv6 caller; the
    digits and both RTP streams are proven from the capture, every packet IPv6."""
    from tests.integration.baresip_peer import Baresip

    scenario = tmp_path / "ipv6_baresip.yaml"
    scenario.write_text("""name: ipv6_baresip
timeout: 60
agents:
  alice: {role: caller, address: "::1", codecs: [PCMU]}
calls:
  - from: alice
    to: ${PEER}
    steps:
      - wait: confirmed
      - pause: 0.5
      - dtmf: "2580"
      - pause: 0.5
      - hangup: alice
      - wait: disconnected
    expect:
      final_code: 200
      codec: PCMU
      rtp: {min_packets: 20}
      dtmf: {digits: "2580", method: rfc2833}
""", encoding="utf-8")
    with Baresip(tmp_path / "peer", address="::1", codecs=("PCMU",)) as peer:
        assert peer.uri.startswith("sip:bob@[::1]:")
        r = cli("run", str(scenario), "-o", str(tmp_path / "out"), "--pjsua", pjsua_bin, "--var", f"PEER={peer.uri}")
    assert r.status == 0, r.out + r.err
    run = tmp_path / "out" / "ipv6_baresip"
    _assert_all_ipv6_on_loopback(run / "capture.pcap")
    checks = {c["name"]: c for c in json.loads((run / "result.json").read_text())["checks"]}
    assert checks["call1.dtmf"]["passed"] and checks["call1.dtmf"]["evidence"] == "capture"
    assert checks["call1.rtp[callee->caller].packets"]["passed"], sorted(checks)
    sdp = _tshark(run / "capture.pcap", "-Y", "sdp", "-T", "fields", "-e", "sdp.connection_info.address_type",
                  "-e", "sdp.connection_info.address", "-e", "sdp.owner.username")
    assert len(sdp) >= 2 and all(r[:2] == ["IP6", "::1"] for r in sdp), sdp
