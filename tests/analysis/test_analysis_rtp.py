"""RTP stream accounting and RFC 4733 digits, checked against tshark on the same files."""

from __future__ import annotations

import random

import oracle
import pytest
from capgen import CaptureWriter, RtpSender

from callgen.analysis import analyze_capture

needs_tshark = pytest.mark.tool("tshark")
A, B = "127.0.0.1", "127.0.0.2"


def _write(path, packets_by_flow):
    rows = []
    for (src, sport, dst, dport), pkts in packets_by_flow.items():
        rows += [(t, i, src, sport, dst, dport, p) for i, (t, p) in enumerate(pkts)]
    rows.sort(key=lambda r: (r[0], r[1]))
    with CaptureWriter(str(path)) as w:
        for t, _i, src, sport, dst, dport, p in rows:
            w.udp(t, src, sport, dst, dport, p)


def _impair(pkts, rng, lose=(), dup=(), swap=()):
    """Drop, duplicate and swap packets by index, keeping capture times in order."""
    times = [t for t, _ in pkts]
    data = [p for _, p in pkts]
    for i in swap:
        data[i], data[i + 1] = data[i + 1], data[i]
    out = []
    for i, p in enumerate(data):
        if i in lose:
            continue
        out.append((times[i], p))
        if i in dup:
            out.append((times[i] + 0.001, p))
    return out


@needs_tshark
def test_loss_duplicates_reorder_wrap_against_tshark(tmp_path):
    rng = random.Random(7)
    s1 = RtpSender(ssrc=0x11111111, seq=65500, ts=4294960000, event_pt=101)  # seq and ts wrap
    t = s1.audio(1000.0, 100)
    t = s1.digit(t, "7")
    s1.audio(t, 100)
    s2 = RtpSender(ssrc=0x22222222, seq=10, ts=0, audio_pt=0)
    s2.audio(1000.01, 150)
    lose1, dup1, swap1 = {5, 40, 41, 42, 150}, {7, 60, 61}, (20, 90)
    lose2, dup2, swap2 = {0, 149}, {3}, (100,)
    p1 = _impair(s1.packets, rng, lose1, dup1, swap1)
    p2 = _impair(s2.packets, rng, lose2, dup2, swap2)
    path = tmp_path / "impaired.pcap"
    _write(path, {(A, 4000, B, 5000): p1, (B, 6000, A, 7000): p2})

    a = analyze_capture(str(path))
    ours = {s.ssrc: s for s in a.rtp_streams}
    assert set(ours) == {0x11111111, 0x22222222}
    s = ours[0x11111111]
    total1 = len(s1.packets)
    assert s.packets == total1 - len(lose1) + len(dup1)
    assert s.duplicates == len(dup1)
    assert s.lost == len(lose1)  # never received, duplicates not netted out
    assert s.expected == total1
    assert s.out_of_order == len(swap1)
    # the first and last packets of stream 2 are lost: expected spans what was seen
    s = ours[0x22222222]
    assert s.expected == 148 and s.lost == len(lose2) - 2 and s.duplicates == 1

    theirs = {x.ssrc: x for x in oracle.rtp_streams(str(path), heuristic=True)}
    for ssrc, st in ours.items():
        assert theirs[ssrc].packets == st.packets
        assert theirs[ssrc].lost == st.expected - st.packets  # tshark nets duplicates out
        assert theirs[ssrc].src == st.src and theirs[ssrc].dst == st.dst


@needs_tshark
def test_digits_repeated_long_and_without_sdp_against_tshark(tmp_path):
    s = RtpSender(ssrc=0xABCDEF01, seq=1, ts=1000, event_pt=101)
    t = s.audio(50.0, 20)
    for d in "1 1 2 # * 9 A D 0".split():
        t = s.digit(t, d)
        t = s.audio(t, 3)
    t = s.digit(t, "8", duration_steps=23, segment_max=800)  # long event in 5 segments
    t = s.audio(t, 3)
    t = s.digit(t, "8", duration_steps=4)
    s.audio(t, 5)
    path = tmp_path / "digits.pcap"
    _write(path, {(A, 4000, B, 5000): s.packets})
    a = analyze_capture(str(path))
    assert a.digits() == "112#*9AD088"
    long_ev = [e for e in a.dtmf if e.digit == "8"][0]
    assert long_ev.duration_ms == pytest.approx(23 * 20.0)
    assert long_ev.end_seen and long_ev.volume == 10 and long_ev.method == "rfc4733"
    first = a.dtmf[0]
    assert first.duration_ms == pytest.approx(200.0) and first.ssrc == 0xABCDEF01
    assert first.src == f"{A}:4000" and first.payload_type == 101 and first.call_id is None
    [st] = a.rtp_streams
    assert st.payload_types == (8, 101) and st.codec == "PCMA/8000"
    assert st.jitter_ms_max < 0.01  # perfectly paced audio; DTMF timestamps must not distort it

    rows = oracle.rtp_events(str(path), 101, heuristic=True)
    assert len(rows) == sum(1 for _, p in s.packets if p[1] & 0x7F == 101)
    tdigits = oracle.digits_by_ssrc(rows)[0xABCDEF01]
    # tshark sees the long event's five segments as five timestamps: fold them as we do
    assert tdigits == "112#*9AD0" + "8" * 5 + "8"


def test_jitter_of_a_jittery_stream():
    """RFC 3550 jitter of arrival times shifted by known amounts."""
    import os
    import tempfile

    s = RtpSender(ssrc=5, seq=0, ts=0)
    s.audio(10.0, 200)
    pk = [(t + (0.004 if i % 2 else 0.0), p) for i, (t, p) in enumerate(s.packets)]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "j.pcap")
        _write(path, {(A, 1, B, 2): pk})
        [st] = analyze_capture(path).rtp_streams
    # alternating +4 ms: |D| = 4 ms each packet, so J converges to 4 ms
    assert st.jitter_ms_max == pytest.approx(4.0, abs=0.05)
    assert 3.0 < st.jitter_ms_mean < 4.0
    assert st.max_delta_ms == pytest.approx(24.0, abs=0.01)


def test_noise_is_not_a_stream(tmp_path):
    rng = random.Random(1)
    path = tmp_path / "noise.pcap"
    with CaptureWriter(str(path)) as w:
        for i in range(300):
            w.udp(1.0 + i / 100, A, 5353, B, 5353, bytes([0x80]) + rng.randbytes(40))
    a = analyze_capture(str(path))
    assert a.rtp_streams == () and a.packets == 300


def test_event_pt_is_the_receivers(tmp_path):
    """A offers telephone-event 120, B answers 101. What B sends must use A's 120: events
    B sends with 101 are dropped by A, so they are no digits; A's events with 101 count."""
    from capgen import CaptureWriter, RtpSender, sdp, sip_request, sip_response

    from callgen.analysis import analyze_capture

    a, b, cid = "127.0.0.1", "127.0.0.3", "te-pt@test"
    offer = sdp(a, 30000, {0: "PCMU/8000", 120: "telephone-event/8000"})
    answer = sdp(b, 32000, {0: "PCMU/8000", 101: "telephone-event/8000"})
    from_b = RtpSender(ssrc=0xB0B, seq=1, ts=0, audio_pt=0, event_pt=101)
    from_a = RtpSender(ssrc=0xA1A, seq=1, ts=0, audio_pt=0, event_pt=101)
    for s in (from_b, from_a):
        t = s.audio(2.0, 5)
        t = s.digit(t, "1")
        s.audio(t, 5)
    path = tmp_path / "tept.pcap"
    with CaptureWriter(str(path)) as w:
        w.udp(1.0, a, 5060, b, 5060, sip_request("INVITE", cid, 1, f"{a}:5060", f"{b}:5060", offer))
        w.udp(1.1, b, 5060, a, 5060, sip_response(200, "OK", cid, 1, "INVITE", f"{b}:5060", f"{a}:5060", answer))
        for t, p in from_b.packets:
            w.udp(t, b, 32000, a, 30000, p)
        for t, p in from_a.packets:
            w.udp(t + 0.001, a, 30000, b, 32000, p)
    got = analyze_capture(str(path))
    assert got.digits(ssrc=0xB0B) == "" and got.digits(ssrc=0xA1A) == "1"
