"""SIP dialogs and SDP: over UDP, fragmented UDP, TCP; ladder; SIP INFO DTMF; linking streams."""

from __future__ import annotations

import oracle
import pytest
from capgen import CaptureWriter, RtpSender, sdp, sip_request, sip_response

from callgen.analysis import analyze_capture, ladder_lines

A, B = "127.0.0.1", "127.0.0.2"
PTS = {8: "PCMA/8000", 120: "telephone-event/16000"}


def _call(w, transport="udp", sport=5070, dport=5080, a=A, b=B, digits="42", final=200, big=False):
    """A whole call: INVITE/100/200/ACK, RTP both ways with digits, INFO, BYE/200."""
    cid = f"call-{transport}-{sport}@test"
    offer = sdp(a, 30000, PTS)
    if big:  # pjsua offers many codecs and crypto lines: over 1500 bytes
        offer += b"".join(f"a=x-pad{i}:{'z' * 60}\r\n".encode() for i in range(30))
    answer = sdp(b, 32000, PTS)
    msgs = [
        (1.000, a, sport, b, dport, sip_request("INVITE", cid, 1, f"{a}:{sport}", f"{b}:{dport}", offer)),
        (1.010, b, dport, a, sport, sip_response(100, "Trying", cid, 1, "INVITE", f"{b}:{dport}", f"{a}:{sport}")),
        (1.050, b, dport, a, sport, sip_response(final, "OK" if final == 200 else "Busy Here", cid, 1, "INVITE",
                                                  f"{b}:{dport}", f"{a}:{sport}", answer if final == 200 else b"")),
        (1.060, a, sport, b, dport, sip_request("ACK", cid, 1, f"{a}:{sport}", f"{b}:{dport}")),
        (3.000, a, sport, b, dport, sip_request("INFO", cid, 2, f"{a}:{sport}", f"{b}:{dport}",
                                                 b"Signal=5\r\nDuration=160\r\n", "application/dtmf-relay")),
        (3.010, b, dport, a, sport, sip_response(200, "OK", cid, 2, "INFO", f"{b}:{dport}", f"{a}:{sport}")),
        (3.100, a, sport, b, dport, sip_request("INFO", cid, 3, f"{a}:{sport}", f"{b}:{dport}", b"#",
                                                 "application/dtmf")),
        (4.000, a, sport, b, dport, sip_request("BYE", cid, 4, f"{a}:{sport}", f"{b}:{dport}")),
        (4.010, b, dport, a, sport, sip_response(200, "OK", cid, 4, "BYE", f"{b}:{dport}", f"{a}:{sport}")),
    ]
    rtp = []
    if final == 200:
        caller = RtpSender(ssrc=0xA0A0A0A0, seq=1, ts=0, audio_pt=8, event_pt=120, rate=8000)
        t = caller.audio(1.07, 20)
        for d in digits:
            t = caller.digit(t, d)
            t = caller.audio(t, 5)
        callee = RtpSender(ssrc=0xB0B0B0B0, seq=1, ts=0)
        callee.audio(1.075, 60)
        rtp = [(t, a, 30000, b, 32000, p) for t, p in caller.packets]
        rtp += [(t, b, 32000, a, 30000, p) for t, p in callee.packets]
    seqs: dict = {}
    events = sorted([(m[0], 0, m) for m in msgs] + [(r[0], 1, r) for r in rtp], key=lambda x: (x[0], x[1]))
    for t, kind, m in events:
        if kind == 1:
            w.udp(*m)
            continue
        _, src, sp, dst, dp, data = m
        if transport == "udp":
            if big and len(data) > 1400:
                w.udp_fragmented(t, src, sp, dst, dp, data)
            else:
                w.udp(t, src, sp, dst, dp, data)
        else:
            key = (src, sp)
            seq = seqs.setdefault(key, 1000)
            # split each message in three segments to exercise reassembly
            cut = [0, 17, len(data) // 2, len(data)]
            for i in range(3):
                part = data[cut[i] : cut[i + 1]]
                w.tcp(t + i * 1e-4, src, sp, dst, dp, seq, part)
                seq += len(part)
            seqs[key] = seq
    return cid


@pytest.mark.parametrize("transport,big", [("udp", False), ("udp", True), ("tcp", False)])
def test_dialog_stream_and_dtmf(tmp_path, transport, big):
    path = tmp_path / "call.pcap"
    with CaptureWriter(str(path)) as w:
        cid = _call(w, transport=transport, sport=15999, dport=7777, big=big)  # not 5060: found by content
    a = analyze_capture(str(path))
    [d] = a.dialogs
    assert d.call_id == cid and d.final_code == 200
    assert [m.summary for m in d.messages] == [
        "INVITE", "100 Trying (INVITE)", "200 OK (INVITE)", "ACK", "INFO", "200 OK (INFO)", "INFO", "BYE",
        "200 OK (BYE)",
    ]
    assert {m.transport for m in d.messages} == {transport}
    om, am = d.offer.audio(), d.answer.audio()
    assert (om.addr, om.port, am.addr, am.port) == (A, 30000, B, 32000)
    assert om.rtpmap[120] == ("telephone-event", 16000) and om.telephone_event_pts == (120,)
    assert om.proto == "RTP/AVP" and not om.crypto and om.direction == "sendrecv"
    by_ssrc = {s.ssrc: s for s in a.rtp_streams}
    assert by_ssrc[0xA0A0A0A0].call_id == cid and by_ssrc[0xB0B0B0B0].call_id == cid
    assert by_ssrc[0xA0A0A0A0].announced and by_ssrc[0xA0A0A0A0].codec == "PCMA/8000"
    rfc = [e for e in a.dtmf if e.method == "rfc4733"]
    info = [e for e in a.dtmf if e.method == "sip-info"]
    assert "".join(e.digit for e in rfc) == "42"
    # telephone-event/16000 from the SDP: 10 steps of 160 units = 1600 units = 100 ms
    assert rfc[0].duration_ms == pytest.approx(100.0) and rfc[0].call_id == cid
    assert [(e.digit, e.duration_ms) for e in info] == [("5", 160.0), ("#", 0.0)]
    lines = ladder_lines(d)
    assert len(lines) == 9
    assert lines[0].split() == ["0.000", f"{A}:15999", "->", f"{B}:7777", "INVITE", "[SDP]"]
    assert lines[2].split()[0] == "0.050" and "200 OK (INVITE)" in lines[2]
    js = a.to_json()
    assert js["dialogs"][0]["offer"]["telephone_event_pt"] == 120
    assert js["dialogs"][0]["messages"][2]["summary"] == "200 OK (INVITE)"
    if oracle.have_tshark() and transport == "udp":
        theirs = {x.ssrc: x for x in oracle.rtp_streams(str(path))}
        assert theirs[0xA0A0A0A0].packets == by_ssrc[0xA0A0A0A0].packets
        rows = oracle.rtp_events(str(path), 120)
        assert oracle.digits_by_ssrc(rows)[0xA0A0A0A0] == "42"


def test_rejected_call_and_two_dialogs(tmp_path):
    path = tmp_path / "two.pcapng"
    with CaptureWriter(str(path), fmt="pcapng") as w:
        c1 = _call(w, sport=5060, dport=5060, final=486)
    with CaptureWriter(str(tmp_path / "ok.pcap")) as w:
        _call(w, sport=5062, dport=5064)
    a = analyze_capture(str(path))
    [d] = a.dialogs
    assert d.call_id == c1 and d.final_code == 486 and d.answer is None and a.rtp_streams == ()


def test_tcp_two_messages_in_one_segment_and_keepalive(tmp_path):
    cid = "tcp-pipelined@test"
    m1 = sip_request("OPTIONS", cid, 1, f"{A}:5070", f"{B}:5080")
    m2 = sip_request("INFO", cid, 2, f"{A}:5070", f"{B}:5080", b"Signal=9\r\nDuration=250\r\n",
                     "application/dtmf-relay")
    with CaptureWriter(str(tmp_path / "p.pcap")) as w:
        w.tcp(1.0, A, 5070, B, 5080, 99, b"", flags=0x02)  # SYN
        w.tcp(1.1, A, 5070, B, 5080, 100, b"\r\n\r\n" + m1 + m2[:30])
        w.tcp(1.2, A, 5070, B, 5080, 104 + len(m1) + 30 + 10, m2[40:])  # out of order
        w.tcp(1.3, A, 5070, B, 5080, 104 + len(m1) + 30, m2[30:40])
        w.tcp(1.4, A, 5070, B, 5080, 104 + len(m1) + 30, m2[30:40])  # retransmission
        w.tcp(1.5, B, 80, A, 5555, 1, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # not SIP
    a = analyze_capture(str(tmp_path / "p.pcap"))
    [d] = a.dialogs
    assert [m.method for m in d.messages] == ["OPTIONS", "INFO"]
    assert [(e.digit, e.duration_ms, e.method) for e in a.dtmf] == [("9", 250.0, "sip-info")]


def test_auth_challenge_then_answer(tmp_path):
    """INVITE -> 407, INVITE (new CSeq, credentials) -> 200: the call was answered."""
    cid = "auth@test"
    offer, answer = sdp(A, 30000, PTS), sdp(B, 32000, PTS)
    a, b = f"{A}:5060", f"{B}:5060"
    with CaptureWriter(str(tmp_path / "auth.pcap")) as w:
        w.udp(1.0, A, 5060, B, 5060, sip_request("INVITE", cid, 1, a, b, offer))
        w.udp(1.1, B, 5060, A, 5060, sip_response(407, "Proxy Authentication Required", cid, 1, "INVITE", b, a))
        w.udp(1.2, A, 5060, B, 5060, sip_request("ACK", cid, 1, a, b))
        w.udp(1.3, A, 5060, B, 5060, sip_request("INVITE", cid, 2, a, b, offer))
        w.udp(1.4, B, 5060, A, 5060, sip_response(200, "OK", cid, 2, "INVITE", b, a, answer))
    [d] = analyze_capture(str(tmp_path / "auth.pcap")).dialogs
    assert d.final_code == 200 and d.answer is not None and d.answer.audio().port == 32000
    assert [m.summary for m in d.messages][1] == "407 Proxy Authentication Required (INVITE)"


def test_sip_times_in_pjsua_log_reads_the_tail_far_enough(tmp_path, monkeypatch):
    """The stall check asks for SIP messages a pjsua log printed after a moment; with a
    small tail it reads further back until it reaches that moment, and finds the same."""
    import datetime as dt
    import os

    import callgen.analysis.sip as sip

    log = tmp_path / "a.pjsua.log"
    lines = []
    for k in range(200):
        hh, mm, ss = 10, k // 60, k % 60
        lines.append(f"{hh:02d}:{mm:02d}:{ss:02d}.250           pjsua_core.c  ....TX 954 bytes Request msg "
                     f"OPTIONS/cseq={k} (tdta0x1) to UDP 127.0.0.1:5060:")
        lines.append("OPTIONS sip:x@127.0.0.1 SIP/2.0")
        lines.append("--end msg--")
    log.write_text("\n".join(lines) + "\n")
    day = dt.date.today()
    end = dt.datetime.combine(day, dt.time(10, 3, 20)).timestamp()
    os.utime(log, (end, end))
    every = sip.sip_times_in_pjsua_log(str(log))
    assert len(every) == 200
    cut = every[150]
    monkeypatch.setattr(sip, "TAIL_BYTES", 300)
    assert sip.sip_times_in_pjsua_log(str(log), after=cut) == every[151:]
    assert sip.sip_times_in_pjsua_log(str(log), after=every[-1]) == []
