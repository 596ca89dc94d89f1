"""Integration: real pjsua processes, mandatory SRTP, real tcpdump; the analyser must
report the digits the callee's pjsua says it received."""

from __future__ import annotations

import contextlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from callgen.analysis import analyze_capture, ladder_lines
from callgen.errors import AgentTimeout
from callgen.pjsua.driver import EventKind, PjsuaAgent, loopback_argv, stop_all
from callgen.pjsua.toolpaths import find_pjsua
from callgen.run.callflow import DIGIT_TAIL_S
from callgen.run.capture import Tcpdump
from callgen.sut.ports import free_port_block

pytestmark = [
    pytest.mark.integration,
    pytest.mark.tool("pjsua", "tcpdump"),
]

DIGITS = "1123#*9"


@dataclass
class Side:
    """One pjsua of the call, with the ports and SIP log the assertions need."""

    agent: PjsuaAgent
    sip_port: int
    rtp_port: int
    log_file: str

    def received_digits(self) -> list[tuple[str, str]]:
        """(digit, method) as this pjsua logged them: "Incoming DTMF on call N: D, using M method"."""
        return [(e.digit, e.method) for e in self.agent.events(EventKind.DTMF)]


def _side(tmp_path: Path, name: str, *extra: str) -> Side:
    sip, rtp, log = free_port_block(1), free_port_block(4), str(tmp_path / f"{name}.log")
    argv = loopback_argv(find_pjsua(), "--no-tcp", f"--local-port={sip}", f"--rtp-port={rtp}", f"--log-file={log}",
                         "--log-level=5", "--app-log-level=3", *extra)  # fmt: skip
    return Side(PjsuaAgent(name, argv, tmp_path / f"{name}.out", cwd=tmp_path), sip, rtp, log)


def _call_with_digits(tmp_path, digits: str, info_digit: str = ""):
    pcap = tmp_path / "call.pcap"
    srtp = ["--use-srtp=2", "--srtp-secure=0"]
    alice = _side(tmp_path, "alice", *srtp)
    bob = _side(tmp_path, "bob", *srtp, "--auto-answer=200")
    bpf = f"udp and host 127.0.0.1 and (port {alice.sip_port} or port {bob.sip_port} or portrange " \
          f"{alice.rtp_port}-{alice.rtp_port + 3} or portrange {bob.rtp_port}-{bob.rtp_port + 3})"
    dump = Tcpdump(pcap, bpf)
    dump.start()
    a, b = alice.agent, bob.agent
    try:
        b.start()
        a.start()
        since = a.mark()
        call = a.make_call(f"sip:bob@127.0.0.1:{bob.sip_port}")
        assert a.wait_call_outcome("alice's call", 10, call=call, since=since).kind is EventKind.CALL_STATE
        assert b.wait_call_outcome("bob's call", 10, since=0).kind is EventKind.CALL_STATE
        since = b.mark()
        a.send_dtmf(digits)
        b.wait_for_all(lambda e: e.kind is EventKind.DTMF and e.method == "RFC2833", len(digits),
                       "bob's RFC 2833 digits", 15, since=since)  # fmt: skip
        # bob logs a digit as it starts; the last one still plays out (as the runner's _digit_tail waits)
        with contextlib.suppress(AgentTimeout):
            a.wait_for(lambda e: e.kind is EventKind.DISCONNECTED, "the last digit's end", DIGIT_TAIL_S)
        if info_digit:
            since = b.mark()
            a.send_dtmf(info_digit, info=True)
            b.wait_for(lambda e: e.kind is EventKind.DTMF and e.method == "SIP INFO", "bob's SIP INFO digit", 15,
                       since=since)  # fmt: skip
        a.hangup()
        a.wait_for(lambda e: e.kind is EventKind.DISCONNECTED, "alice's call to end", 10, since=0)
        b.wait_for(lambda e: e.kind is EventKind.DISCONNECTED, "bob's call to end", 10, since=0)
    finally:
        stop_all([a, b])
        dump.stop()
    return str(pcap), alice, bob


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
    # pjsua's SRTCP (AES_256_CM by default) decrypts with the same keys; what it reports
    # must agree with the capture (no loss on loopback)
    reported = [s for s in streams if s.rtcp_reports]
    assert reported, "no RTCP report read from pjsua's SRTCP"
    for s in reported:
        assert s.rtcp_evidence == "srtcp" and s.rtcp_reported_lost == s.lost == 0, s
        assert s.rtcp_reported_jitter_ms is not None and s.rtcp_reported_jitter_ms < 20
    assert not any(k.startswith(("srtcp", "rtcp")) for k in a.skipped), a.skipped
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
