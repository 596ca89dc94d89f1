"""PESQ of a recording against a looped reference: alignment and scores that move."""

from __future__ import annotations

import random
import subprocess
import wave

import pytest

np = pytest.importorskip("numpy")

from callgen.analysis.pesqscore import is_wideband, score  # noqa: E402

pytestmark = pytest.mark.tool("espeak-ng", "sox")

TEXT = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background."


def _write(path, y, rate=16000):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(np.clip(y, -32768, 32767).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    d = tmp_path_factory.mktemp("speech")
    subprocess.run(["espeak-ng", "-w", str(d / "raw.wav"), TEXT], check=True, timeout=60)
    subprocess.run(["sox", str(d / "raw.wav"), "-r", "16000", "-c", "1", "-b", "16", str(d / "s.wav")], check=True, timeout=60)
    with wave.open(str(d / "s.wav")) as f:
        return d / "s.wav", np.frombuffer(f.readframes(f.getnframes()), "<i2").astype(float)


def _loop_from(x, phase_s, seconds, lead_s=0.3):
    """What a receiver records of a looped file: a little silence, then the loop from ``phase_s``."""
    start = int(phase_s * 16000)
    looped = np.tile(x, 4)[start: start + int(seconds * 16000)]
    return np.concatenate([np.zeros(int(lead_s * 16000)), looped])


def test_recording_that_starts_mid_loop_scores_high(speech, tmp_path):
    ref, x = speech
    rec = _write(tmp_path / "rec.wav", _loop_from(x, 2.5, len(x) / 16000 + 1.0))
    got = score(ref, rec, wideband=False)
    assert got.error is None and got.correlation > 0.99
    assert got.offset_s == pytest.approx(0.3, abs=0.021)
    assert got.mos_lqo > 4.4  # identical audio: P.862.1's ceiling is about 4.55


def test_lost_frames_lower_the_score(speech, tmp_path):
    ref, x = speech
    clean = _loop_from(x, 1.0, len(x) / 16000)
    rng = random.Random(5)
    lossy = clean.copy()
    for i in range(0, len(lossy), 320):  # 5 % of 20 ms frames silenced, as lost packets without concealment
        if rng.random() < 0.05:
            lossy[i: i + 320] = 0
    good = score(ref, _write(tmp_path / "a.wav", clean), wideband=False).mos_lqo
    bad = score(ref, _write(tmp_path / "b.wav", lossy), wideband=False).mos_lqo
    assert bad < good - 1.0, (good, bad)


def test_narrow_band_recording_of_an_8k_reference(speech, tmp_path):
    ref, x = speech
    ref8 = _write(tmp_path / "ref8.wav", x[::2], 8000)  # crude decimation: the reference is what it is
    got = score(ref8, _write(tmp_path / "rec.wav", _loop_from(x[::2], 0.0, len(x) / 32000), 8000), wideband=False)
    assert got.mos_lqo > 4.4


def test_too_short_or_silent_recording_is_not_scored(speech, tmp_path):
    ref, x = speech
    got = score(ref, _write(tmp_path / "short.wav", x[: 16000 * 2]), wideband=False)
    assert got.mos_lqo is None and "at least 4 s" in got.error
    got = score(ref, _write(tmp_path / "silent.wav", np.zeros(16000 * 10)), wideband=False)
    assert got.mos_lqo is None


def test_wideband_codecs():
    assert is_wideband("G722/8000") and is_wideband("opus/48000/2") and is_wideband("speex/16000")
    assert not is_wideband("PCMA/8000") and not is_wideband("speex/8000") and not is_wideband(None)
