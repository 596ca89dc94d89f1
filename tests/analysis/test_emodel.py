"""The E-model against published ITU-T figures, and its R/MOS in the analyser's JSON."""

from __future__ import annotations

import json
import random

import pytest
from capgen import CaptureWriter, RtpSender

from callgen.analysis import analyze_capture, emodel

A, B = "127.0.0.1", "127.0.0.2"


def test_g107_defaults_give_r_93_2_and_mos_4_41():
    # G.107: with every parameter at its default, R = 93.2 and MOS = 4.41.
    r = emodel.rate("PCMA/8000", 0.0)
    assert r is not None
    assert r.r_factor == pytest.approx(93.2)
    assert round(r.mos, 2) == 4.41


@pytest.mark.parametrize("r, mos", [(90, 4.34), (80, 4.03), (70, 3.60), (60, 3.10), (50, 2.58)])
def test_mos_of_r_at_g107_annex_b_points(r, mos):
    # G.107 Table B.1 (R -> MOS at the user-satisfaction boundaries); the table's own
    # rounding gives 4.03 for R = 80 where the formula gives 4.024: within 0.01.
    assert emodel.mos_from_r(r) == pytest.approx(mos, abs=0.01)


def test_mos_of_r_is_clamped():
    assert emodel.mos_from_r(-5) == 1.0
    assert emodel.mos_from_r(0) == 1.0
    assert emodel.mos_from_r(100) == 4.5
    assert emodel.mos_from_r(120) == 4.5


def test_ie_eff_follows_g107_formula():
    # no loss: the codec's own Ie
    assert emodel.ie_eff(11, 19.0, 0) == 11
    # G.729A+VAD (Ie 11, Bpl 19, G.113 Table I.3) at 2 % random loss: 11 + 84*2/(2+19) = 19
    assert emodel.ie_eff(11, 19.0, 2.0) == pytest.approx(19.0)
    # G.711 with PLC at 5 %: 95*5/(5+25.1)
    assert emodel.ie_eff(0, 25.1, 5.0) == pytest.approx(95 * 5 / 30.1)
    # bursty loss hurts more than random loss of the same rate (BurstR > 1)
    assert emodel.ie_eff(0, 25.1, 5.0, burst_r=2.0) > emodel.ie_eff(0, 25.1, 5.0)
    # and the impairment tends to 95 as loss grows
    assert emodel.ie_eff(0, 25.1, 1e9) == pytest.approx(95, abs=1e-3)


def test_delay_impairment_knee_at_177_3_ms():
    assert emodel.delay_impairment(0) == 0
    assert emodel.delay_impairment(100) == pytest.approx(2.4)
    assert emodel.delay_impairment(177.3) == pytest.approx(0.024 * 177.3)
    assert emodel.delay_impairment(300) == pytest.approx(0.024 * 300 + 0.11 * (300 - 177.3))


def test_codec_table_and_unknown_codec():
    assert emodel.codec_impairment("PCMU/8000").bpl == 25.1
    assert emodel.codec_impairment("GSM/8000").ie == 20
    assert emodel.codec_impairment("opus/48000/2") is not None
    assert emodel.rate("L16/8000", 0) is None
    assert emodel.rate(None, 0) is None
    # GSM (Ie 20) rates below G.711 on a clean line
    assert emodel.rate("GSM/8000", 0).mos < emodel.rate("PCMA/8000", 0).mos


def test_burst_ratio():
    assert emodel.burst_ratio(0, 0, 0.0) == 1.0
    # 10 single-packet losses at 1 %: random loss, BurstR = 1 * 0.99
    assert emodel.burst_ratio(10, 10, 0.01) == pytest.approx(0.99)
    # the same losses in 2 bursts of 5
    assert emodel.burst_ratio(10, 2, 0.01) == pytest.approx(5 * 0.99)


def _capture(path, lose, pt=8):
    s = RtpSender(ssrc=0x1234, seq=100, ts=0, audio_pt=pt)
    s.audio(1000.0, 400)
    pkts = [p for i, p in enumerate(s.packets) if i not in lose]
    with CaptureWriter(str(path)) as w:
        for t, p in pkts:
            w.udp(t, A, 4000, B, 5000, p)


def test_analysis_json_has_r_factor_and_mos(tmp_path):
    rng = random.Random(3)
    lose = set(rng.sample(range(1, 399), 20))  # 5 % random loss inside the stream
    _capture(tmp_path / "lossy.pcap", lose)
    s = analyze_capture(str(tmp_path / "lossy.pcap")).rtp_streams[0]
    doc = json.loads(json.dumps(s.to_json()))
    assert s.codec == "PCMA/8000" and s.lost == 20 and s.expected == 400
    # the E-model of what the capture shows: 5 % loss, bursts as found, no jitter
    bursts = len(s.gaps)
    burst = emodel.burst_ratio(20, bursts, 0.05)
    want_r = 93.2 - emodel.ie_eff(0, 25.1, 5.0, burst)
    assert doc["r_factor"] == pytest.approx(want_r, abs=0.01)
    assert doc["mos"] == pytest.approx(emodel.mos_from_r(want_r), abs=0.01)
    assert doc["mos"] < 4.0  # 5 % loss costs G.711 about half a MOS point


def test_clean_stream_rates_as_g107_default(tmp_path):
    _capture(tmp_path / "clean.pcap", set())
    doc = analyze_capture(str(tmp_path / "clean.pcap")).rtp_streams[0].to_json()
    assert doc["r_factor"] == 93.2 and doc["mos"] == 4.41


def test_unknown_codec_gives_null(tmp_path):
    _capture(tmp_path / "dyn.pcap", set(), pt=99)  # dynamic PT, no SDP: codec unknown
    doc = analyze_capture(str(tmp_path / "dyn.pcap")).rtp_streams
    assert doc and all(s.to_json()["r_factor"] is None and s.to_json()["mos"] is None for s in doc)
