"""WAV generation/analysis, the shipped WAVs, and a real pjsua play -> record proof."""

from __future__ import annotations

import argparse
import io
import math
import os
import wave
from pathlib import Path

import pytest

from callgen.analysis import audio
from callgen.errors import CaptureFormatError, UsageError
from callgen.pjsua.driver import EventKind, PjsuaAgent, loopback_argv, stop_all
from callgen.pjsua.toolpaths import find_pjsua
from callgen.sut.ports import free_port_block

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "scenarios" / "audio"


def test_tone_roundtrip_and_level(tmp_path):
    p = audio.write_tone_wav(tmp_path / "t.wav", 1000, 0.5, rate=16000, amplitude=1.0)
    rate, samples = audio.read_wav(p)
    assert rate == 16000 and len(samples) == 8000
    with wave.open(str(p)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
    assert audio.rms_dbfs(samples) == pytest.approx(-3.0, abs=0.2)  # a full-scale sine
    assert max(samples) > 32000


def test_goertzel_separates_frequencies(tmp_path):
    rate, samples = audio.read_wav(audio.write_tone_wav(tmp_path / "t.wav", 1000, 1.0, amplitude=1.0))
    at = audio.goertzel_power(samples, rate, 1000)
    assert at == pytest.approx(0.25, rel=0.05)
    for other in (440, 697, 2000, 3000):
        assert audio.goertzel_power(samples, rate, other) < at / 1e4
    assert audio.goertzel_power([], rate, 1000) == 0.0


@pytest.mark.parametrize("freq", [440, 1000, 2000])
def test_tone_present_only_at_its_own_frequency(tmp_path, freq):
    p = audio.write_tone_wav(tmp_path / "t.wav", freq, 1.0)
    report = audio.tone_report(p, freq)
    assert report.present and report.ratio >= 100, report.describe()
    for other in set(audio.DEFAULT_CANDIDATES) - {freq}:
        assert not audio.tone_present(p, other)
    assert audio.dominant_frequency(p, audio.DEFAULT_CANDIDATES) == freq


def test_mixture_is_not_a_present_tone(tmp_path):
    p = audio.write_tone_sequence_wav(tmp_path / "m.wav", [(440, 1.0), (1000, 1.0)])
    report = audio.tone_report(p, 1000, (440, 2000))
    assert not report.present and report.strongest_other == 440
    assert 0.3 < report.ratio < 3


def test_active_seconds_counts_signal_not_silence(tmp_path):
    p = audio.write_tone_sequence_wav(tmp_path / "s.wav", [(0, 1.0), (1000, 2.0), (0, 0.5), (440, 0.5)])
    assert audio.active_seconds(p) == pytest.approx(2.5, abs=0.05)
    assert audio.active_seconds(p, threshold_dbfs=0.0) == 0.0


def test_silence_is_silent(tmp_path):
    p = audio.write_tone_sequence_wav(tmp_path / "z.wav", [(0, 2.0)])
    assert audio.active_seconds(p) == 0.0
    assert audio.rms_dbfs(audio.read_wav(p).samples) == audio.SILENCE_FLOOR_DBFS
    assert audio.dominant_frequency(p, (440, 1000)) is None
    report = audio.tone_report(p, 1000)
    assert not report.present and report.power == 0.0


def test_quiet_tone_below_threshold_counts_as_silence(tmp_path):
    p = audio.write_tone_wav(tmp_path / "q.wav", 1000, 1.0, amplitude=0.001)  # about -63 dBFS
    assert audio.active_seconds(p) == 0.0
    assert not audio.tone_present(p, 1000)
    assert audio.tone_present(p, 1000, threshold_dbfs=-80)


def test_dtmf_digits_carry_both_q23_frequencies(tmp_path):
    p = audio.write_dtmf_wav(tmp_path / "d.wav", "5", tone_s=0.2, gap_s=0.1)
    assert audio.active_seconds(p) == pytest.approx(0.2, abs=0.03)
    rate, samples = audio.read_wav(p)
    powers = {f: audio.goertzel_power(samples, rate, f) for f in (697, 770, 852, 941, 1209, 1336, 1477)}
    assert sorted(powers, key=powers.get)[-2:] in ([770, 1336], [1336, 770])
    with pytest.raises(UsageError):
        audio.write_dtmf_wav(tmp_path / "x.wav", "5X")


@pytest.mark.parametrize(
    "kwargs",
    [dict(freq_hz=5000, seconds=1.0, rate=8000), dict(freq_hz=1000, seconds=1.0, rate=11025),
     dict(freq_hz=1000, seconds=1.0, amplitude=1.5), dict(freq_hz=-1, seconds=1.0)],
)  # fmt: skip
def test_bad_generation_parameters(tmp_path, kwargs):
    with pytest.raises(UsageError):
        audio.write_tone_wav(tmp_path / "bad.wav", **kwargs)


def test_unreadable_files_name_the_file(tmp_path):
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF\x00\x00\x00\x00nope")
    with pytest.raises(CaptureFormatError, match="garbage.wav"):
        audio.read_wav(garbage)
    with pytest.raises(CaptureFormatError, match="missing.wav"):
        audio.read_wav(tmp_path / "missing.wav")
    eight = tmp_path / "eight.wav"
    with wave.open(str(eight), "wb") as w:
        w.setnchannels(1), w.setsampwidth(1), w.setframerate(8000), w.writeframes(b"\x80" * 800)
    with pytest.raises(CaptureFormatError, match="8-bit"):
        audio.read_wav(eight)


def test_stereo_is_reduced_to_first_channel(tmp_path):
    mono = audio.read_wav(audio.write_tone_wav(tmp_path / "m.wav", 1000, 0.2)).samples
    stereo = tmp_path / "st.wav"
    interleaved = bytearray()
    for s in mono:
        interleaved += s.to_bytes(2, "little", signed=True) + b"\x00\x00"
    with wave.open(str(stereo), "wb") as w:
        w.setnchannels(2), w.setsampwidth(2), w.setframerate(8000), w.writeframes(bytes(interleaved))
    assert list(audio.read_wav(stereo).samples) == list(mono)


def test_shipped_wavs_are_small_and_reproducible(tmp_path):
    made = audio.make_shipped(tmp_path)
    assert {p.name for p in made} == {p.name for p in SHIPPED_DIR.glob("*.wav")}
    for p in made:
        shipped = SHIPPED_DIR / p.name
        assert shipped.stat().st_size < 100_000
        assert shipped.read_bytes() == p.read_bytes(), f"{shipped} differs from the generator; rerun python -m callgen.analysis.audio"
    assert audio.tone_present(SHIPPED_DIR / "tone_1000hz_3s.wav", 1000)
    assert audio.tone_present(SHIPPED_DIR / "tone_440hz_3s.wav", 440)
    assert audio.active_seconds(SHIPPED_DIR / "tones_3s.wav") == pytest.approx(3.0, abs=0.05)


def test_cli_analyze_exit_status(tmp_path):
    parser = argparse.ArgumentParser()
    audio.register(parser.add_subparsers(dest="command"))
    wav = audio.write_tone_wav(tmp_path / "t.wav", 1000, 1.0)

    class IO:
        out = io.StringIO()
        err = io.StringIO()

    args = parser.parse_args(["audio", "analyze", str(wav), "--freq", "1000"])
    assert args.func(args, IO) == 0
    assert "tone present" in IO.out.getvalue()
    args = parser.parse_args(["audio", "analyze", str(wav), "--freq", "440"])
    assert args.func(args, IO) == 1
    assert "tone absent" in IO.out.getvalue()


# ---------------------------------------------------------------------------
# real pjsua: the caller plays, the callee records

HOLD_S = 3  #: how long the tone is sent: the caller's pjsua ends the call itself after this (--duration)
#: pjsua's default VAD (on, with the default speex/16000 codec) suppresses a steady tone after
#: about 0.9 s -- measured: 2.2 s of 3 s active with VAD, 3.0 s with --no-vad.
NO_VAD = "--no-vad"


def _play_and_record(tmp_path: Path, play: Path, connect_to_call: bool) -> tuple[Path, dict[int, str]]:
    """Call from a pjsua playing ``play`` to one recording with --auto-rec; return (recording, caller ports)."""
    rec = tmp_path / "rec.wav"
    bob_sip, alice_sip = free_port_block(1), free_port_block(1)
    pjsua = find_pjsua()
    bob = PjsuaAgent("bob", loopback_argv(pjsua, f"--local-port={bob_sip}", f"--rtp-port={free_port_block(4)}", "--no-tcp",
                                          "--auto-answer=200", f"--rec-file={rec}", "--auto-rec", NO_VAD),
                     tmp_path / "bob.out", cwd=tmp_path)  # fmt: skip
    # --duration: pjsua hangs up HOLD_S after CONFIRMED, so the tone's length needs no sleep here
    alice = PjsuaAgent("alice", loopback_argv(pjsua, f"--local-port={alice_sip}", f"--rtp-port={free_port_block(4)}",
                                              "--no-tcp", f"--play-file={play}", NO_VAD, f"--duration={HOLD_S}"),
                       tmp_path / "alice.out", cwd=tmp_path)  # fmt: skip
    pids: list[int] = []
    try:
        bob.start()
        alice.start()
        pids = [bob.pid, alice.pid]
        since = alice.mark()
        call_id = alice.make_call(f"sip:bob@127.0.0.1:{bob_sip}")
        assert alice.wait_call_outcome("alice's call", 10, call=call_id, since=since).kind is EventKind.CALL_STATE
        assert bob.wait_call_outcome("bob's call", 10, since=0).kind is EventKind.CALL_STATE
        ports = alice.conference_ports()
        player = next(slot for slot, name in ports.items() if name == str(play))
        call = next(slot for slot, name in ports.items() if name.startswith("sip:bob@"))
        dst = call if connect_to_call else 0
        lines_before = len(alice.output_lines())
        alice.connect_ports(player, dst)  # returns once pjsua has read it; pjsua logs the connect while handling it
        assert f"Conf connect: {player} --> {dst}" in "\n".join(alice.output_lines()[lines_before:])
        alice.wait_for(lambda e: e.kind is EventKind.DISCONNECTED, "alice's call to end (--duration)", HOLD_S + 10, since=0)
        bob.wait_for(lambda e: e.kind is EventKind.DISCONNECTED, "bob's call to end", 10, since=0)
    finally:
        stop_all([alice, bob])
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    return rec, ports


@pytest.mark.integration
def test_pjsua_recording_carries_the_played_1khz_tone(tmp_path):
    rec, ports = _play_and_record(tmp_path, SHIPPED_DIR / "tone_1000hz_3s.wav", connect_to_call=True)
    assert sorted(ports) == [0, 1, 2, 3, 4]  # sound, player, ringback, ring, the call
    rate, samples = audio.read_wav(rec)
    assert rate == 16000  # the bridge's rate, whatever the played file's rate
    assert audio.active_seconds(rec) >= 2.5
    report = audio.tone_report(rec, 1000)
    assert report.present, report.describe()
    assert not audio.tone_present(rec, 440)
    assert audio.dominant_frequency(rec, (440, 1000, 2000)) == 1000


@pytest.mark.integration
def test_pjsua_recording_is_silent_when_the_wrong_port_is_connected(tmp_path):
    rec, _ = _play_and_record(tmp_path, SHIPPED_DIR / "tone_1000hz_3s.wav", connect_to_call=False)
    assert rec.is_file()
    assert audio.active_seconds(rec) == 0.0
    assert not audio.tone_present(rec, 1000)
    assert audio.rms_dbfs(audio.read_wav(rec).samples) < -60 or math.isclose(
        audio.rms_dbfs(audio.read_wav(rec).samples), audio.SILENCE_FLOOR_DBFS
    )
