"""validate refuses exactly the WAV files pjsua refuses: an honest WAV with fewer bytes of
samples than 20 ms (pjmedia's wav_player: data bytes < ptime * rate * channels / 1000) stops
pjsua with "WAVE file too short" (before: it validated, then the run failed with exit 3).
The oracle is the real pjsua, started with each file."""

from __future__ import annotations

import subprocess
import wave

import pytest

BASE = """\
name: w
agents:
  alice: {role: caller}
  bob: {role: callee, audio: {play: a.wav}}
calls:
  - from: alice
    to: bob
"""


def _wav(path, rate: int, channels: int, nbytes: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\1" * nbytes)


def _pjsua_refuses(pjsua: str, wav) -> bool:
    p = subprocess.run([pjsua, "--null-audio", f"--play-file={wav}", "--ip-addr=127.0.0.1", "--bound-addr=127.0.0.1",
                        "--local-port=0", "--no-tcp", "--log-level=3"], input="q\n", capture_output=True, text=True,
                       timeout=30)
    return "WAVE file too short" in p.stdout + p.stderr


@pytest.mark.parametrize("rate, channels, nbytes", [
    (8000, 1, 100), (8000, 1, 158), (8000, 1, 160), (16000, 2, 638), (16000, 2, 640), (48000, 1, 958), (48000, 1, 960),
])
def test_validate_refuses_what_pjsua_refuses(cli, tmp_path, pjsua_bin, rate, channels, nbytes):
    wav = tmp_path / "a.wav"
    _wav(wav, rate, channels, nbytes)
    (tmp_path / "s.yaml").write_text(BASE)
    r = cli("validate", str(tmp_path / "s.yaml"))
    refused = _pjsua_refuses(pjsua_bin, wav)
    assert (r.status == 2) == refused, (refused, r.err)
    if refused:
        assert "agents.bob.audio.play: a.wav: " in r.err and "WAVE file too short" in r.err, r.err
