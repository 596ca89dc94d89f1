"""WAV helpers: make test tones for pjsua to play, and judge what pjsua recorded.

Why this exists: a scenario that says "bob hears alice's 1 kHz tone" must be
proven from the recording, not from the fact that a ``cc`` command was typed
(a wrong conference port gives a perfectly valid, silent WAV).  So the checks
here measure: how long the signal is non-silent, and whether the energy sits at
the expected frequency rather than at the other candidate frequencies.

Only the standard library (``wave``, ``array``, ``math``) here: numpy comes in only
with PESQ (``callgen.analysis.pesqscore``).  Goertzel is O(n) per frequency, cheap enough
for a few seconds of 16 kHz audio.

Generate the shipped WAVs with ``python -m callgen.analysis.audio scenarios/audio``.
"""

from __future__ import annotations

import argparse
import array
import math
import sys
import wave
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from callgen.errors import CaptureFormatError, UsageError

FULL_SCALE = 32767
SUPPORTED_RATES = (8000, 16000, 32000, 44100, 48000)
SILENCE_FLOOR_DBFS = -150.0  #: returned instead of -inf, so results stay JSON-friendly

#: DTMF (row, column) frequencies, ITU-T Q.23
DTMF_FREQS: dict[str, tuple[int, int]] = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633),
}  # fmt: skip

#: Frequencies compared against by default when asking "is this tone present?"
DEFAULT_CANDIDATES = (440.0, 697.0, 1000.0, 1336.0, 2000.0, 3000.0)


class WavAudio(NamedTuple):
    """Mono 16-bit samples of a WAV file; unpacks as ``rate, samples``."""

    rate: int
    samples: array.array


@dataclass(frozen=True)
class ToneReport:
    """How strongly ``freq`` dominates a recording, for check results to quote."""

    path: str
    freq: float
    power: float  #: Goertzel power at ``freq`` (normalised, full-scale sine ~ 0.25)
    strongest_other: float  #: the candidate frequency with the most power besides ``freq``
    strongest_other_power: float
    ratio: float  #: power / strongest_other_power (inf when the others are exactly 0)
    level_dbfs: float  #: RMS level of the whole file
    present: bool

    def describe(self) -> str:
        ratio = "inf" if math.isinf(self.ratio) else f"{self.ratio:.3g}"
        return (
            f"{self.freq:g} Hz power {self.power:.3g}, strongest other {self.strongest_other:g} Hz "
            f"power {self.strongest_other_power:.3g}, ratio {ratio}, level {self.level_dbfs:.1f} dBFS"
        )


# ---------------------------------------------------------------------------
# generation


def _check_rate(rate: int) -> None:
    if rate not in SUPPORTED_RATES:
        raise UsageError(f"sample rate {rate} not supported (use one of {', '.join(map(str, SUPPORTED_RATES))})")


def _check_amplitude(amplitude: float) -> None:
    if not 0.0 < amplitude <= 1.0:
        raise UsageError(f"amplitude {amplitude} must be in (0, 1] of full scale")


def _tone_samples(freqs: Sequence[float], seconds: float, rate: int, amplitude: float) -> array.array:
    """Sum of sines (equal share of ``amplitude`` each); empty ``freqs`` = silence.

    Short 5 ms fades at both ends avoid clicks that would smear energy over all
    frequencies at segment boundaries.
    """
    n = int(round(seconds * rate))
    out = array.array("h", bytes(2 * n))
    if not freqs or n == 0:
        return out
    fade = min(int(0.005 * rate), n // 2)
    share = amplitude / len(freqs)
    steps = [2.0 * math.pi * f / rate for f in freqs]
    for i in range(n):
        v = share * sum(math.sin(s * i) for s in steps)
        if i < fade:
            v *= i / fade
        elif i >= n - fade:
            v *= (n - 1 - i) / fade
        out[i] = int(round(v * FULL_SCALE))
    return out


def _write(path: Path, samples: array.array, rate: int) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = samples if sys.byteorder == "little" else _swapped(samples)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())
    return path


def _swapped(samples: array.array) -> array.array:
    copy = array.array("h", samples)
    copy.byteswap()
    return copy


def write_tone_wav(path: Path, freq_hz: float, seconds: float, rate: int = 8000, amplitude: float = 0.5) -> Path:
    """A mono 16-bit sine at ``freq_hz``; ``amplitude`` is a fraction of full scale."""
    return write_tone_sequence_wav(path, [(freq_hz, seconds)], rate=rate, amplitude=amplitude)


def write_tone_sequence_wav(
    path: Path, segments: Iterable[tuple[float, float]], rate: int = 8000, amplitude: float = 0.5
) -> Path:
    """Consecutive ``(freq_hz, seconds)`` segments; ``freq_hz == 0`` is silence."""
    _check_rate(rate)
    _check_amplitude(amplitude)
    out = array.array("h")
    for freq, seconds in segments:
        if seconds < 0 or freq < 0:
            raise UsageError(f"tone segment ({freq}, {seconds}): frequency and duration must be >= 0")
        if freq >= rate / 2:
            raise UsageError(f"tone {freq:g} Hz is at or above the Nyquist frequency of {rate} Hz")
        out.extend(_tone_samples([freq] if freq else [], seconds, rate, amplitude))
    return _write(path, out, rate)


def write_dtmf_wav(
    path: Path, digits: str, tone_s: float = 0.1, gap_s: float = 0.1, rate: int = 8000, amplitude: float = 0.5
) -> Path:
    """In-band DTMF (Q.23 dual tones) for ``digits``, each ``tone_s`` long, ``gap_s`` apart."""
    _check_rate(rate)
    _check_amplitude(amplitude)
    out = array.array("h")
    for d in digits.upper():
        if d not in DTMF_FREQS:
            raise UsageError(f"DTMF digit {d!r} not one of 0-9 * # A-D")
        out.extend(_tone_samples(DTMF_FREQS[d], tone_s, rate, amplitude))
        out.extend(_tone_samples([], gap_s, rate, amplitude))
    return _write(path, out, rate)


# ---------------------------------------------------------------------------
# analysis


def read_wav(path: Path) -> WavAudio:
    """Read a PCM WAV; 16-bit only (what pjsua writes); multi-channel is reduced to channel 0.

    Raises ``CaptureFormatError`` naming the file when it is not a readable 16-bit PCM WAV.
    """
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as w:
            width, channels, rate, nframes = w.getsampwidth(), w.getnchannels(), w.getframerate(), w.getnframes()
            raw = w.readframes(nframes)
    except FileNotFoundError:
        raise CaptureFormatError(f"{path}: no such WAV file") from None
    except (wave.Error, EOFError) as exc:
        raise CaptureFormatError(f"{path}: not a PCM WAV file ({exc})") from None
    if width != 2:
        raise CaptureFormatError(f"{path}: {8 * width}-bit samples; only 16-bit PCM is supported")
    if channels < 1 or rate <= 0:
        raise CaptureFormatError(f"{path}: invalid header ({channels} channels, {rate} Hz)")
    usable = len(raw) - len(raw) % (2 * channels)
    samples = array.array("h")
    samples.frombytes(raw[:usable])
    if sys.byteorder != "little":
        samples.byteswap()
    if channels > 1:
        samples = samples[::channels]
    return WavAudio(rate, samples)


def rms_dbfs(samples: Sequence[int]) -> float:
    """RMS level relative to full scale (a full-scale sine is about -3 dBFS)."""
    if not samples:
        return SILENCE_FLOOR_DBFS
    mean_sq = sum(s * s for s in samples) / len(samples)
    if mean_sq <= 0:
        return SILENCE_FLOOR_DBFS
    return max(SILENCE_FLOOR_DBFS, 10.0 * math.log10(mean_sq / (FULL_SCALE * FULL_SCALE)))


def goertzel_power(samples: Sequence[int], rate: int, freq: float) -> float:
    """Power of ``freq`` in ``samples``, normalised by length and full scale.

    A full-scale sine at exactly ``freq`` gives about 0.25; silence gives 0.
    """
    n = len(samples)
    if n == 0:
        return 0.0
    coeff = 2.0 * math.cos(2.0 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s0 = x + coeff * s1 - s2
        s2, s1 = s1, s0
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return max(0.0, power) / (n * n * FULL_SCALE * FULL_SCALE)


def _frames(samples: Sequence[int], rate: int, frame_ms: float) -> tuple[int, list[Sequence[int]]]:
    size = max(1, int(rate * frame_ms / 1000))
    return size, [samples[i : i + size] for i in range(0, len(samples) - size + 1, size)]


def active_seconds(path: Path, threshold_dbfs: float = -40.0, frame_ms: float = 20.0) -> float:
    """Total length of the frames whose RMS level is at or above ``threshold_dbfs``."""
    rate, samples = read_wav(path)
    size, frames = _frames(samples, rate, frame_ms)
    active = sum(1 for f in frames if rms_dbfs(f) >= threshold_dbfs)
    return active * size / rate


def _active_samples(samples: array.array, rate: int, threshold_dbfs: float, frame_ms: float = 20.0) -> array.array:
    """Only the non-silent frames: silence before answer would dilute Goertzel powers."""
    _, frames = _frames(samples, rate, frame_ms)
    out = array.array("h")
    for f in frames:
        if rms_dbfs(f) >= threshold_dbfs:
            out.extend(f)
    return out


def tone_report(
    path: Path,
    freq: float,
    candidates: Sequence[float] = DEFAULT_CANDIDATES,
    *,
    min_ratio: float = 100.0,
    threshold_dbfs: float = -40.0,
) -> ToneReport:
    """Measure ``freq`` against the other ``candidates`` over the non-silent part of a WAV.

    ``present`` needs signal above ``threshold_dbfs`` and power at ``freq`` at least
    ``min_ratio`` times the strongest other candidate.
    """
    rate, samples = read_wav(path)
    others = [c for c in candidates if abs(c - freq) > 1e-6 and 0 < c < rate / 2]
    if not others:
        raise UsageError(f"tone check at {freq:g} Hz needs at least one other candidate frequency below {rate / 2:g} Hz")
    active = _active_samples(samples, rate, threshold_dbfs)
    level = rms_dbfs(active) if active else rms_dbfs(samples)
    power = goertzel_power(active, rate, freq)
    other_powers = {c: goertzel_power(active, rate, c) for c in others}
    strongest = max(other_powers, key=lambda c: other_powers[c])
    other_power = other_powers[strongest]
    if other_power > 0:
        ratio = power / other_power
    else:
        ratio = math.inf if power > 0 else 0.0
    present = bool(active) and power > 0 and ratio >= min_ratio
    return ToneReport(str(path), float(freq), power, float(strongest), other_power, ratio, level, present)


def tone_present(
    path: Path,
    freq: float,
    candidates: Sequence[float] = DEFAULT_CANDIDATES,
    *,
    min_ratio: float = 100.0,
    threshold_dbfs: float = -40.0,
) -> bool:
    """True when ``freq`` dominates the other candidates by ``min_ratio`` in the non-silent part."""
    return tone_report(path, freq, candidates, min_ratio=min_ratio, threshold_dbfs=threshold_dbfs).present


def dominant_frequency(path: Path, candidates: Sequence[float], threshold_dbfs: float = -40.0) -> float | None:
    """The candidate with the most power in the non-silent part, or None for a silent file."""
    if not candidates:
        raise UsageError("dominant_frequency needs at least one candidate frequency")
    rate, samples = read_wav(path)
    active = _active_samples(samples, rate, threshold_dbfs)
    if not active:
        return None
    powers = {c: goertzel_power(active, rate, c) for c in candidates}
    best = max(powers, key=lambda c: powers[c])
    return float(best) if powers[best] > 0 else None


# ---------------------------------------------------------------------------
# shipped files and CLI

#: name -> (segments, rate): the WAVs committed under scenarios/audio/
SHIPPED: dict[str, tuple[tuple[tuple[float, float], ...], int]] = {
    "tone_1000hz_3s.wav": (((1000.0, 3.0),), 8000),
    "tone_440hz_3s.wav": (((440.0, 3.0),), 8000),
    "tone_2000hz_3s.wav": (((2000.0, 3.0),), 8000),
    "tones_3s.wav": (((440.0, 1.0), (1000.0, 1.0), (2000.0, 1.0)), 8000),
    "silence_3s.wav": (((0.0, 3.0),), 8000),
}


def make_shipped(directory: Path) -> list[Path]:
    """(Re)generate the committed WAVs; deterministic, so a rerun changes no byte."""
    made = [write_tone_sequence_wav(Path(directory) / name, segs, rate=rate) for name, (segs, rate) in SHIPPED.items()]
    made.append(write_dtmf_wav(Path(directory) / "dtmf_123.wav", "123", tone_s=0.2, gap_s=0.2))
    return made


def _cmd_analyze(args: argparse.Namespace, io) -> int:
    rate, samples = read_wav(args.wav)
    active = active_seconds(args.wav, threshold_dbfs=args.threshold)
    print(f"{args.wav}: {rate} Hz, {len(samples) / rate:.2f} s, active {active:.2f} s, level {rms_dbfs(samples):.1f} dBFS", file=io.out)
    if args.freq is None:
        return 0
    report = tone_report(args.wav, args.freq, args.candidates, min_ratio=args.min_ratio, threshold_dbfs=args.threshold)
    print(f"tone {'present' if report.present else 'absent'}: {report.describe()}", file=io.out)
    return 0 if report.present else 1


def _cmd_make(args: argparse.Namespace, io) -> int:
    for p in make_shipped(args.directory):
        print(p, file=io.out)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``callgen audio analyze|make``."""
    p = subparsers.add_parser("audio", help="make test WAVs or analyse a recording")
    sub = p.add_subparsers(dest="audio_command", metavar="ACTION")
    sub.required = True
    a = sub.add_parser("analyze", help="active seconds and, with --freq, whether a tone dominates (exit 1 if not)")
    a.add_argument("wav", type=Path)
    a.add_argument("--freq", type=float, help="expected tone in Hz")
    a.add_argument("--candidates", type=float, nargs="+", default=list(DEFAULT_CANDIDATES))
    a.add_argument("--min-ratio", type=float, default=100.0)
    a.add_argument("--threshold", type=float, default=-40.0, help="silence threshold in dBFS")
    a.set_defaults(func=_cmd_analyze)
    m = sub.add_parser("make", help="write the standard test WAVs into a directory")
    m.add_argument("directory", type=Path)
    m.set_defaults(func=_cmd_make)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m callgen.analysis.audio [DIR]`` regenerates the shipped WAVs (default scenarios/audio)."""
    args = list(sys.argv[1:] if argv is None else argv)
    directory = Path(args[0]) if args else Path(__file__).resolve().parents[2] / "scenarios" / "audio"
    for p in make_shipped(directory):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
