"""Integration: real pjsua processes, mandatory SRTP, real tcpdump; the analyser must
report the digits the callee's pjsua says it received."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from callgen.analysis import analyze_capture, ladder_lines

from pjsua_harness import PJSUA, Agent, Tcpdump, free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.access(PJSUA, os.X_OK), reason="pjsua not built (scripts/setup.sh)"),
    pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump missing"),
]

DIGITS = "1123#*9"


def _call_with_digits(tmp_path, digits: str, info_digit: str = ""):
    pcap = str(tmp_path / "call.pcap")
    srtp = ["--use-srtp=2", "--srtp-secure=0"]
    alice = Agent("alice", free_port(), free_port(even_pair=True), str(tmp_path / "alice.log"), srtp)
    bob = Agent("bob", free_port(), free_port(even_pair=True), str(tmp_path / "bob.log"), srtp + ["--auto-answer=200"])
    bpf = f"udp and host 127.0.0.1 and (port {alice.sip_port} or port {bob.sip_port} or portrange " \
          f"{alice.rtp_port}-{alice.rtp_port + 3} or portrange {bob.rtp_port}-{bob.rtp_port + 3})"
    dump = Tcpdump(pcap, bpf)
    try:
        bob.start()
        alice.start()
        alice.send("m")
        alice.expect("Make call")
        alice.send(f"sip:bob@127.0.0.1:{bob.sip_port}")
        alice.expect("state changed to CONFIRMED")
        bob.expect("state changed to CONFIRMED")
        alice.send("#")
        alice.expect("DTMF")
        alice.send(digits)
        for _ in digits:
            bob.expect(r"Incoming DTMF on call \d+: \S+, using RFC2833 method", timeout=15)
        if info_digit:
            alice.send("*")
            alice.expect("DTMF")
            alice.send(info_digit)
            bob.expect(r"Incoming DTMF on call \d+: \S+, using SIP INFO method", timeout=15)
        alice.send("h")
        alice.expect("DISCONNECTED")
        bob.expect("DISCONNECTED")
    finally:
        alice.quit()
        bob.quit()
        dump.stop()
    return pcap, alice, bob


def test_real_srtp_call_digits_match_callee(tmp_path):
    pcap, alice, bob = _call_with_digits(tmp_path, DIGITS, info_digit="5")
    said = bob.received_digits()
    assert said == [(d, "RFC2833") for d in DIGITS] + [("5", "SIP INFO")]

    a = analyze_capture(pcap)
    [d] = a.dialogs
    assert d.final_code == 200
    assert [m.summary for m in d.messages][:1] == ["INVITE"]
    assert any(line.endswith("200 OK (INVITE) [SDP]") for line in ladder_lines(d))
    offer, answer = d.offer.audio(), d.answer.audio()
    assert offer.proto == answer.proto == "RTP/SAVP" and offer.crypto and len(answer.crypto) == 1
    assert answer.telephone_event_pts == (120,)
    streams = [s for s in a.rtp_streams if s.call_id == d.call_id]
    assert len(streams) == 2
    for s in streams:
        assert s.srtp and s.decrypted and s.auth_failures == 0, s
        assert s.crypto_suite == answer.crypto[0].suite
    from_alice = [s for s in streams if s.src.endswith(f":{alice.rtp_port}")]
    assert len(from_alice) == 1
    assert a.digits(ssrc=from_alice[0].ssrc) == DIGITS
    assert a.digits(method="sip-info") == "5"
    assert a.digits() == DIGITS + "5"
    for e in (e for e in a.dtmf if e.method == "rfc4733"):
        assert e.end_seen and e.volume == 10 and 50 <= e.duration_ms <= 400 and e.call_id == d.call_id

    # The same call as if SIP had run over TLS: media only, SIP and keys from pjsua's logs.
    media_only = str(tmp_path / "media.pcap")
    subprocess.run(["tcpdump", "-r", pcap, "-w", media_only, f"not port {alice.sip_port} and not port {bob.sip_port}"],
                   check=True, capture_output=True, timeout=30)
    blind = analyze_capture(media_only)
    assert blind.dialogs == () and blind.dtmf == ()
    assert all(not s.decrypted for s in blind.rtp_streams) and blind.rtp_streams
    assert all(s.payload_entropy > 6.0 for s in blind.rtp_streams)  # ciphertext, not audio
    seen = analyze_capture(media_only, key_logs=[alice.log_file, bob.log_file])
    [d2] = seen.dialogs
    assert d2.call_id == d.call_id and d2.final_code == 200 and d2.answer is not None
    assert {m.transport for m in d2.messages} == {"log"}
    assert seen.digits(method="rfc4733") == DIGITS and seen.digits(method="sip-info") == "5"
    assert all(s.decrypted for s in seen.rtp_streams)


def test_cli_reports_callee_digits(tmp_path):
    pcap, _alice, bob = _call_with_digits(tmp_path, "47")
    import json
    import sys

    proc = subprocess.run([sys.executable, "-m", "callgen.analysis", pcap, "--json"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert "".join(e["digit"] for e in doc["dtmf"]) == "".join(d for d, _ in bob.received_digits()) == "47"
    assert all(s["decrypted"] for s in doc["rtp_streams"])
