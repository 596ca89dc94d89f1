"""validate refuses an audio expectation the scripted call is too short to meet: more seconds
of signal than the call lasts, or PESQ (which needs 4 s of heard sound) on a shorter call."""

from __future__ import annotations

from pathlib import Path

import pytest

AUDIO = Path(__file__).resolve().parents[2] / "scenarios" / "audio"

BODY = """name: short_call
agents:
  alice: {{role: caller, codecs: [PCMA], audio: {{play: {play}}}}}
  bob: {{role: callee, codecs: [PCMA], audio: {{record: true}}}}
calls:
  - from: alice
    to: bob
    steps:
{steps}
    expect:
      audio: {audio}
"""
SCRIPTED = "      - wait: confirmed\n      - pause: {pause}\n      - hangup: alice\n      - wait: disconnected"


def scenario(write_yaml, pause: float | None, audio: str) -> Path:
    steps = SCRIPTED.format(pause=pause) if pause is not None else "      - wait: confirmed\n      - wait: disconnected"
    return write_yaml(BODY.format(play=AUDIO / "tone_1000hz_3s.wav", steps=steps, audio=audio))


def test_more_signal_than_the_call_lasts_is_refused(cli, write_yaml):
    path = scenario(write_yaml, 2, "{receiver: bob, min_active_s: 4}")
    r = cli("validate", str(path))
    assert r.status == 2
    line = r.err.strip().splitlines()[0]
    assert line.startswith(f"callgen: error: {path}:14: calls[0].expect.audio.min_active_s:")
    assert "4 s of signal" in line and "2 s" in line


def test_pesq_on_a_call_shorter_than_4_seconds_is_refused(cli, write_yaml):
    path = scenario(write_yaml, 3, "{receiver: bob, pesq_min: 3}")
    r = cli("validate", str(path))
    assert r.status == 2
    assert "calls[0].expect.audio.pesq_min:" in r.err and "PESQ needs at least 4 s" in r.err


@pytest.mark.parametrize("pause, audio", [
    (5, "{receiver: bob, min_active_s: 4}"),
    (6, "{receiver: bob, pesq_min: 3}"),
    (None, "{receiver: bob, min_active_s: 30}"),  # the callee ends it: its length is not known
])
def test_a_call_long_enough_or_of_unknown_length_is_accepted(cli, write_yaml, pause, audio):
    r = cli("validate", str(scenario(write_yaml, pause, audio)))
    assert r.status == 0, r.err
