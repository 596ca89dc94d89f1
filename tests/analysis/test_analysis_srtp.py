"""SRTP: streams protected by libsrtp (pylibsrtp, an independent implementation) are
decrypted with SDES keys from the SDP, from --srtp-key, or reported as undecryptable."""

from __future__ import annotations

import base64
import os

import pytest
from capgen import CaptureWriter, RtpSender, sdp, sip_request, sip_response

from callgen.analysis import analyze_capture
from callgen.analysis.srtp import SrtpContext, SrtpKey, parse_cli_key
from callgen.errors import UsageError

pylibsrtp = pytest.importorskip("pylibsrtp")
A, B = "127.0.0.1", "127.0.0.3"
PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
}


def _protect(key: bytes, suite: str, packets):
    policy = pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=PROFILES[suite])
    session = pylibsrtp.Session(policy)
    return [(t, session.protect(p)) for t, p in packets]


def _sender(ssrc, seq, digits="3#"):
    s = RtpSender(ssrc=ssrc, seq=seq, ts=0, audio_pt=8, event_pt=101)
    t = s.audio(2.0, 10, payload=bytes(range(160)))
    for d in digits:
        t = s.digit(t, d)
        t = s.audio(t, 5, payload=bytes(range(160)))
    return s


def _write_call(path, suite, key_a, key_b, with_sip=True, seq_a=65520):
    """Caller A offers two keys (tags 1, 2); B answers tag 2. Each side protects what it sends."""
    cid = "srtp-call@test"
    def b64(k: bytes) -> str:
        return base64.b64encode(k).decode()
    other = os.urandom(30)
    offer = sdp(A, 30000, {8: "PCMA/8000", 101: "telephone-event/8000"}, "RTP/SAVP",
                crypto=[f"1 {suite} inline:{b64(other)}", f"2 {suite} inline:{b64(key_a)}"])
    answer = sdp(B, 32000, {8: "PCMA/8000", 101: "telephone-event/8000"}, "RTP/SAVP",
                 crypto=[f"2 {suite} inline:{b64(key_b)}"])
    sa = _sender(0x5A5A0001, seq_a)  # crosses the 16-bit wrap: rollover counter 1
    sb = _sender(0x5B5B0002, 1000, digits="9")
    pa = _protect(key_a, suite, sa.packets)
    pb = _protect(key_b, suite, sb.packets)
    with CaptureWriter(str(path)) as w:
        if with_sip:
            w.udp(1.0, A, 5060, B, 5060, sip_request("INVITE", cid, 1, f"{A}:5060", f"{B}:5060", offer))
            w.udp(1.1, B, 5060, A, 5060, sip_response(200, "OK", cid, 1, "INVITE", f"{B}:5060", f"{A}:5060", answer))
        rows = [(t, 0, A, 30000, B, 32000, p) for t, p in pa] + [(t + 0.005, 1, B, 32000, A, 30000, p) for t, p in pb]
        for t, _, *rest in sorted(rows, key=lambda r: (r[0], r[1])):
            w.udp(t, *rest)
    return cid, sa, sb


@pytest.mark.parametrize("suite", sorted(PROFILES))
def test_sdp_keys_decrypt_both_directions(tmp_path, suite):
    key_a, key_b = os.urandom(30), os.urandom(30)
    path = tmp_path / "srtp.pcap"
    cid, sa, sb = _write_call(path, suite, key_a, key_b)
    a = analyze_capture(str(path))
    by = {s.ssrc: s for s in a.rtp_streams}
    for ssrc, sender in ((0x5A5A0001, sa), (0x5B5B0002, sb)):
        st = by[ssrc]
        assert st.srtp and st.sdp_savp and st.decrypted, st
        assert st.auth_failures == 0 and st.decrypt_error is None
        assert st.crypto_suite == suite and st.call_id == cid
        assert st.packets == len(sender.packets) and st.lost == 0
        assert st.payload_entropy > 6.0  # ciphertext on the wire
    assert a.digits(ssrc=0x5A5A0001) == "3#"
    assert a.digits(ssrc=0x5B5B0002) == "9"


def test_wrong_key_is_reported(tmp_path):
    suite = "AES_CM_128_HMAC_SHA1_80"
    path = tmp_path / "wrong.pcap"
    _write_call(path, suite, os.urandom(30), os.urandom(30), with_sip=False)
    good = [f"{suite}:{base64.b64encode(os.urandom(30)).decode()}"]
    a = analyze_capture(str(path), srtp_keys=good)
    assert len(a.rtp_streams) == 2
    for st in a.rtp_streams:
        assert not st.decrypted and st.payload_entropy > 6.0  # not readable as plain audio
    assert a.dtmf == ()


def test_cli_keys_without_sdp_pick_the_one_that_verifies(tmp_path):
    suite = "AES_CM_128_HMAC_SHA1_32"
    key_a, key_b = os.urandom(30), os.urandom(30)
    path = tmp_path / "nosdp.pcap"
    _, sa, _ = _write_call(path, suite, key_a, key_b, with_sip=False)
    keys = [f"{suite}:{base64.b64encode(k).decode()}" for k in (os.urandom(30), key_a, key_b)]
    a = analyze_capture(str(path), srtp_keys=keys)
    by = {s.ssrc: s for s in a.rtp_streams}
    assert by[0x5A5A0001].decrypted and by[0x5B5B0002].decrypted
    assert not by[0x5A5A0001].sdp_savp and by[0x5A5A0001].srtp
    assert a.digits(ssrc=0x5A5A0001) == "3#" and a.digits(ssrc=0x5B5B0002) == "9"


def test_savp_with_wrong_sdp_key_counts_auth_failures(tmp_path):
    suite = "AES_CM_128_HMAC_SHA1_80"
    path = tmp_path / "badsdp.pcap"
    key_a, key_b = os.urandom(30), os.urandom(30)
    cid, sa, _ = _write_call(path, suite, key_a, key_b)
    # rewrite: A's packets protected with a key the SDP does not carry
    data = path.read_bytes()
    path2 = tmp_path / "badsdp2.pcap"
    _write_call(path2, suite, key_a, key_b)
    a = analyze_capture(str(path2), srtp_keys=[])
    assert all(s.decrypted for s in a.rtp_streams)
    # same capture, but the analyser is given a capture whose SDP key for A is replaced
    bad = data.replace(base64.b64encode(key_a), base64.b64encode(os.urandom(30)))
    path.write_bytes(bad)
    a = analyze_capture(str(path))
    st = {s.ssrc: s for s in a.rtp_streams}[0x5A5A0001]
    assert st.srtp and not st.decrypted and st.auth_failures == st.packets
    assert "wrong key" in st.decrypt_error
    assert a.digits(ssrc=0x5A5A0001) == ""


def test_key_derivation_matches_libsrtp_for_one_packet():
    """Our context verifies and decrypts a packet libsrtp protected (ROC 0)."""
    key = os.urandom(30)
    s = RtpSender(ssrc=77, seq=5, ts=0)
    s.audio(0.0, 1, payload=b"hello world " * 10)
    [(_, plain)] = s.packets
    [(_, prot)] = _protect(key, "AES_CM_128_HMAC_SHA1_80", s.packets)
    ctx = SrtpContext(SrtpKey("AES_CM_128_HMAC_SHA1_80", base64.b64encode(key).decode(), "test"))
    assert ctx.verify(prot, 0) and not ctx.verify(prot, 1)
    assert prot[:12] + ctx.decrypt_payload(prot, 12, 77, 5) == plain


@pytest.mark.parametrize("text", ["nope", "AES_CM_128_HMAC_SHA1_80:", "FOO:AAAA", "AES_CM_128_HMAC_SHA1_80:AAAA"])
def test_bad_cli_key(text):
    with pytest.raises(UsageError, match="--srtp-key"):
        parse_cli_key(text)


def _optional_srtp_call(path, key_b, protected: int, plain: int):
    """A offers RTP/AVP with a=crypto (optional SRTP); B answers with its key, then sends
    ``protected`` SRTP packets (pylibsrtp) and ``plain`` clear ones on the same SSRC."""
    suite = "AES_CM_128_HMAC_SHA1_80"
    def b64(k: bytes) -> str:
        return base64.b64encode(k).decode()
    cid = "optional-srtp@test"
    offer = sdp(A, 30000, {8: "PCMA/8000", 101: "telephone-event/8000"}, crypto=[f"1 {suite} inline:{b64(os.urandom(30))}"])
    answer = sdp(B, 32000, {8: "PCMA/8000", 101: "telephone-event/8000"}, crypto=[f"1 {suite} inline:{b64(key_b)}"])
    s = RtpSender(ssrc=0x2A2A0070, seq=5000, ts=0, audio_pt=8, event_pt=101)
    s.audio(2.0, protected + plain, payload=bytes((0xD5 ^ (i % 16)) for i in range(160)))
    sent = _protect(key_b, suite, s.packets[:protected]) + s.packets[protected:]
    with CaptureWriter(str(path)) as w:
        w.udp(1.0, A, 5060, B, 5060, sip_request("INVITE", cid, 1, f"{A}:5060", f"{B}:5060", offer))
        w.udp(1.1, B, 5060, A, 5060, sip_response(200, "OK", cid, 1, "INVITE", f"{B}:5060", f"{A}:5060", answer))
        for t, p in sent:
            w.udp(t, B, 32000, A, 30000, p)


def test_srtp_then_plain_on_one_ssrc_is_not_decrypted(tmp_path):
    """70 SRTP then 166 plain packets: one authenticated packet does not make the stream
    decrypted; the 166 are counted, read as plain RTP, and not usable by the receiver."""
    path = tmp_path / "mixed.pcap"
    _optional_srtp_call(path, os.urandom(30), 70, 166)
    st = analyze_capture(str(path)).rtp_streams[0]
    assert st.srtp and not st.decrypted
    assert (st.authenticated, st.auth_failures, st.discarded, st.usable) == (70, 166, 166, 70)
    assert st.failed_entropy is not None and st.failed_entropy < 7.0
    assert "166 of 236" in st.decrypt_error and "plain RTP" in st.decrypt_error
    assert st.payload_entropy < 7.0  # judged on every packet, not on the 70 encrypted first ones


def test_plain_rtp_where_srtp_was_negotiated_is_plain_not_a_wrong_key(tmp_path):
    path = tmp_path / "plain.pcap"
    _optional_srtp_call(path, os.urandom(30), 0, 100)
    st = analyze_capture(str(path)).rtp_streams[0]
    assert not st.decrypted and st.auth_failures == 100
    assert "plain RTP" in st.decrypt_error and "wrong key" not in st.decrypt_error
