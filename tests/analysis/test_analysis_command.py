"""``callgen analyze``: registration, text and JSON output, errors as one line, flat memory."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tracemalloc

import pytest
from capgen import CaptureWriter, RtpSender, sdp, sip_request, sip_response

from callgen.analysis import analyze_capture
from callgen.analysis.command import register
from callgen.cli.main import IO
from callgen.errors import ExitStatus

A, B = "127.0.0.1", "127.0.0.2"


def _capture(path, n_audio=40):
    cid = "cmd@test"
    offer = sdp(A, 30000, {0: "PCMU/8000", 101: "telephone-event/8000"})
    answer = sdp(B, 32000, {0: "PCMU/8000", 101: "telephone-event/8000"})
    s = RtpSender(ssrc=0x01020304, seq=9, ts=0, audio_pt=0, event_pt=101)
    t = s.audio(1.1, n_audio)
    t = s.digit(t, "*")
    s.audio(t, 5)
    with CaptureWriter(str(path)) as w:
        w.udp(1.0, A, 5060, B, 5060, sip_request("INVITE", cid, 1, f"{A}:5060", f"{B}:5060", offer))
        w.udp(1.05, B, 5060, A, 5060, sip_response(200, "OK", cid, 1, "INVITE", f"{B}:5060", f"{A}:5060", answer))
        for when, p in s.packets:
            w.udp(when, A, 30000, B, 32000, p)
    return cid


def _run(argv):
    parser = argparse.ArgumentParser(prog="callgen")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    return args.func(args, IO(out, err)), out.getvalue()


def test_text_summary(tmp_path):
    path = tmp_path / "c.pcap"
    cid = _capture(path)
    rc, out = _run(["analyze", str(path)])
    assert rc == 0
    assert f"Call-ID {cid}  final 200" in out
    assert "INVITE [SDP]" in out and "200 OK (INVITE) [SDP]" in out
    assert "ssrc 0x01020304 pt 0,101 PCMU/8000: 57 pkts, expected 57, lost 0" in out
    assert "(rfc4733): *" in out


def test_json_document(tmp_path):
    path = tmp_path / "c.pcap"
    cid = _capture(path)
    rc, out = _run(["analyze", str(path), "--json"])
    assert rc == 0
    doc = json.loads(out)
    assert doc["format"] == "callgen-analysis/1" and doc["packets"] == 59
    [d] = doc["dialogs"]
    assert d["call_id"] == cid and d["final_code"] == 200
    assert [m["summary"] for m in d["messages"]] == ["INVITE", "200 OK (INVITE)"]
    assert d["offer"]["codecs"] == ["PCMU/8000", "telephone-event/8000"] and d["offer"]["proto"] == "RTP/AVP"
    assert d["answer"]["telephone_event_pt"] == 101 and d["answer"]["crypto_present"] is False
    [s] = doc["rtp_streams"]
    for k in ("src", "dst", "ssrc", "payload_types", "codec", "packets", "expected", "lost", "duplicates",
              "out_of_order", "jitter_ms_mean", "jitter_ms_max", "max_delta_ms", "srtp", "decrypted",
              "auth_failures", "call_id", "payload_entropy"):
        assert k in s
    assert s["call_id"] == cid and s["codec"] == "PCMU/8000" and s["srtp"] is False
    [e] = doc["dtmf"]
    assert (e["digit"], e["method"], e["ssrc"], e["call_id"], e["src"]) == ("*", "rfc4733", 0x01020304, cid, f"{A}:30000")
    assert e["start"] == pytest.approx(1.1 + 40 * 0.02) and e["duration_ms"] == pytest.approx(200.0)
    assert e["end_seen"] is True and e["volume"] == 10


def test_bad_file_is_one_line_error(tmp_path):
    path = tmp_path / "junk.pcap"
    path.write_bytes(b"\x00" * 100)
    proc = subprocess.run([sys.executable, "-m", "callgen.analysis", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == ExitStatus.INVALID_INPUT
    assert proc.stderr.strip().count("\n") == 0
    assert str(path) in proc.stderr and "byte offset 0" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "callgen.analysis", str(path), "--srtp-key", "nope"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == ExitStatus.INVALID_INPUT and "--srtp-key" in proc.stderr


def test_memory_stays_flat_as_the_file_grows(tmp_path, monkeypatch):
    import callgen.analysis.pcapio as pcapio

    monkeypatch.setattr(pcapio, "CHUNK", 1 << 16)
    peaks = []
    for n in (5_000, 40_000):
        path = tmp_path / f"m{n}.pcap"
        _capture(path, n_audio=n)
        tracemalloc.start()
        a = analyze_capture(str(path))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert a.rtp_streams[0].packets == n + 17
    assert peaks[1] < peaks[0] * 1.5 + 200_000, peaks
