"""Real calls between real pjsua processes, proven from a real capture, with
tshark as an independent reader of the same capture."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.conftest import SCENARIOS


def tshark_sip_methods(pcap: Path) -> list[str]:
    # Random ports may belong to another protocol in tshark's port table: decode the
    # agents' SIP ports (from their rendered configs) as SIP explicitly.
    ports = re.findall(r"^--local-port=(\d+)$", "".join(p.read_text() for p in pcap.parent.glob("*.cfg")), re.M)
    decode = [a for port in ports for a in ("-d", f"udp.port=={port},sip")]
    p = subprocess.run(
        ["tshark", "-r", str(pcap), *decode, "-Y", "sip", "-T", "fields", "-e", "sip.Method", "-e", "sip.Status-Code"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    out = p.stdout
    assert out.strip(), f"tshark found no SIP in {pcap}: {p.stderr}"
    return [" ".join(x for x in line.split("\t") if x) for line in out.splitlines()]


def test_basic_call_passes_and_capture_shows_the_flow(cli, tmp_path, pjsua_bin):
    r = cli("run", str(SCENARIOS / "basic_call.yaml"), "-o", str(tmp_path), "--pjsua", pjsua_bin)
    assert r.status == 0, r.out + r.err
    assert "basic_call: PASS" in r.out
    run = tmp_path / "basic_call"
    for name in ("capture.pcap", "alice.cfg", "bob.cfg", "alice.pjsua.log", "bob.pjsua.log",
                 "alice.transcript.txt", "bob.transcript.txt", "result.json"):
        assert (run / name).is_file(), name
    # the ladder printed by callgen
    assert "INVITE" in r.out and "200 OK (BYE)" in r.out
    # tshark independently sees the same flow in the same file
    methods = tshark_sip_methods(run / "capture.pcap")
    assert methods[0] == "INVITE"
    for want in ("200", "ACK", "BYE"):
        assert want in methods, methods
    assert methods.index("BYE") > methods.index("ACK")
    result = json.loads((run / "result.json").read_text())
    assert result["verdict"] == "pass"
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["call1.final_code"]["seen"] == "200"
    assert checks["call1.bye"]["passed"]
    # the pjsua log is level 5: every SIP message in clear text
    assert "INVITE sip:bob@127.0.0.1" in (run / "alice.pjsua.log").read_text(errors="replace")


def test_busy_passes_on_486(cli, tmp_path, pjsua_bin):
    r = cli("run", str(SCENARIOS / "busy.yaml"), "-o", str(tmp_path))
    assert r.status == 0, r.out + r.err
    result = json.loads((tmp_path / "busy" / "result.json").read_text())
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["call1.final_code"]["seen"] == "486"
    assert "486" in tshark_sip_methods(tmp_path / "busy" / "capture.pcap")


def test_wrong_expectation_fails_with_expected_and_seen(cli, tmp_path, write_yaml, pjsua_bin):
    text = (SCENARIOS / "busy.yaml").read_text().replace("final_code: 486", "final_code: 200")
    f = write_yaml(text, "busy_wrong.yaml")
    r = cli("run", str(f), "-o", str(tmp_path / "out"))
    assert r.status == 1, r.out + r.err
    assert "FAIL call1.final_code" in r.out
    assert "FAIL call1.final_code: expected 200, seen 486 [capture]" in r.out  # expected vs seen, once, with its evidence


def test_missing_pjsua_is_an_infrastructure_error(cli, tmp_path):
    r = cli("run", str(SCENARIOS / "basic_call.yaml"), "-o", str(tmp_path), "--pjsua", "/nonexistent/pjsua")
    assert r.status == 3
    assert "--pjsua=/nonexistent/pjsua is not an executable file" in r.out + r.err


def test_two_runs_overlap_without_clashes(cli, tmp_path, pjsua_bin):
    r = cli("run", str(SCENARIOS / "basic_call.yaml"), "-o", str(tmp_path), "--repeat", "2", "-j", "2")
    assert r.status == 0, r.out + r.err
    results = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("*/result.json"))]
    assert len(results) == 2 and all(x["verdict"] == "pass" for x in results)
    ports = {c["seen"] for x in results for c in x["checks"] if c["name"] == "call1.bye"}
    assert len(ports) == 2, "each run must use its own ports"


def test_basic_call_with_dumpcap_as_the_capture_tool(cli, tmp_path, pjsua_bin, monkeypatch):
    """What a pod with only CAP_NET_RAW uses: the same run, captured by dumpcap."""
    monkeypatch.setenv("CALLGEN_CAPTURE", "dumpcap")
    r = cli("run", str(SCENARIOS / "basic_call.yaml"), "-o", str(tmp_path))
    assert r.status == 0, r.out + r.err
    methods = tshark_sip_methods(tmp_path / "basic_call" / "capture.pcap")
    assert methods[0] == "INVITE" and "BYE" in methods


def test_default_relative_output_folder(cli, tmp_path, pjsua_bin, monkeypatch):
    """As 'make demo' runs it: no -o, so a relative ./callgen-runs/<timestamp>/."""
    monkeypatch.chdir(tmp_path)
    r = cli("run", str(SCENARIOS / "basic_call.yaml"))
    assert r.status == 0, r.out + r.err
    runs = list((tmp_path / "callgen-runs").glob("*/basic_call/capture.pcap"))
    assert len(runs) == 1 and runs[0].stat().st_size > 0


def test_sip_over_tcp_seen_as_tcp_in_the_capture(cli, tmp_path, pjsua_bin):
    r = cli("run", str(SCENARIOS / "tcp_transport.yaml"), "-o", str(tmp_path))
    assert r.status == 0, r.out + r.err
    from callgen.analysis import analyze_capture

    a = analyze_capture(str(tmp_path / "tcp_transport" / "capture.pcap"))
    transports = {m.transport for d in a.dialogs for m in d.messages}
    assert transports == {"tcp"}, transports


def test_a_call_pjsua_cannot_place_is_reported_with_pjsuas_reason(cli, tmp_path, write_yaml, pjsua_bin):
    f = write_yaml(
        "name: bad_uri\nagents:\n  alice:\n    role: caller\n  bob:\n    role: callee\n"
        "calls:\n  - from: alice\n    to: 'sip:bob@127.0.0.1:9;transport=sctp'\n"
    )
    r = cli("run", str(f), "-o", str(tmp_path / "out"))  # tmp_path holds the scenario: not callgen's folder
    assert r.status == 3, r.out + r.err
    assert "pjsua could not place the call to sip:bob@127.0.0.1:9;transport=sctp" in r.out
    assert "Unsupported transport" in r.out


def test_a_quick_stop_keeps_every_packet_and_every_log_line(cli, tmp_path, pjsua_bin):
    """The capture stops on its end marker right after pjsua's quick exit; nothing may be lost:
    every SIP message either pjsua logged as sent is in the capture, the last ones are
    the BYE and its 200 (sent right before the agents were told to quit), and each log
    ends with pjsua's own last shutdown line."""
    r = cli("run", str(SCENARIOS / "basic_call.yaml"), "-o", str(tmp_path), "--pjsua", pjsua_bin)
    assert r.status == 0, r.out + r.err
    run = tmp_path / "basic_call"
    logged = []
    for name in ("alice", "bob"):
        log = (run / f"{name}.pjsua.log").read_text(errors="replace")
        assert log.rstrip().endswith("PJSUA destroyed..."), log[-300:]
        logged += re.findall(r"\bTX \d+ bytes (?:Request|Response) msg (\S+?)/?(?:\w+)?/cseq", log)
    methods = tshark_sip_methods(run / "capture.pcap")
    assert len(methods) == len(logged), (methods, logged)
    assert methods[-2:] == ["BYE", "200"], methods
    assert b"callgen-capture-end" not in (run / "capture.pcap").read_bytes()  # the end marker is cut out
