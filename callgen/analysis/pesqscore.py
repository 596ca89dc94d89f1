"""PESQ (ITU-T P.862) of what a call's receiver recorded against the file the sender played.

pjsua records at its conference bridge's 16 kHz and loops the played file, starting
wherever the call connected: the reference is found in the recording by
cross-correlation (FFT), the matching stretch is cut out, both are brought to 8 kHz
(narrow-band P.862 / P.862.1 MOS-LQO) or 16 kHz (wide-band P.862.2) and scored with the
``pesq`` package (the ITU reference implementation wrapped for Python), which does its own
fine, per-utterance time alignment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from callgen.analysis.audio import read_wav

#: Codecs that carry 7 kHz audio: PESQ scores their calls wide-band.
WIDEBAND = frozenset({"g722", "opus", "speex/16000", "speex/32000", "l16/16000"})


def is_wideband(codec: str | None) -> bool:
    if not codec:
        return False
    c = codec.lower()
    return c.split("/", 1)[0] in {"g722", "opus"} or "/".join(c.split("/")[:2]) in WIDEBAND


@dataclass(frozen=True)
class PesqResult:
    mos_lqo: float | None  #: None: not scorable (see ``error``)
    mode: str  #: "nb" (8 kHz, P.862.1) or "wb" (16 kHz, P.862.2)
    offset_s: float  #: where the sound starts in the recording
    correlation: float  #: normalised cross-correlation at that offset (1.0 = identical shape)
    error: str | None = None


def _resample(x, rate: int, target: int):
    """Rational resampling (up by L, windowed-sinc low-pass, down by M) with numpy."""
    import numpy as np

    if rate == target:
        return x
    g = math.gcd(rate, target)
    up, down = target // g, rate // g
    if up * down > 48:
        raise ValueError(f"cannot resample {rate} Hz to {target} Hz (use 8, 16, 32 or 48 kHz)")
    if up > 1:
        y = np.zeros(len(x) * up)
        y[::up] = x * up
    else:
        y = x
    cutoff = 0.5 / max(up, down) * 0.95  # in cycles per (upsampled) sample
    half = 32 * max(up, down)
    n = np.arange(-half, half + 1)
    taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.kaiser(len(n), 8.0)
    y = np.convolve(y, taps, mode="same")
    return y[::down]


MIN_HEARD_S = 4.0  #: seconds of heard sound PESQ needs (validate refuses a scripted call shorter than this)


def _align(ref, rec) -> tuple[int, float]:
    """The offset of ``ref`` in ``rec`` with the largest cross-correlation, and its
    normalised value."""
    import numpy as np

    n = 1 << int(math.ceil(math.log2(len(rec) + len(ref))))
    corr = np.fft.irfft(np.fft.rfft(rec, n) * np.conj(np.fft.rfft(ref, n)), n)
    valid = corr[: len(rec) - len(ref) + 1]
    lag = int(np.argmax(valid))
    seg = rec[lag: lag + len(ref)]
    denom = float(np.sqrt(np.dot(ref, ref) * np.dot(seg, seg))) or 1.0
    return lag, float(valid[lag]) / denom


def _first_active(x, fs: int, threshold_dbfs: float = -40.0) -> int:
    """The first sample of the first 20 ms frame above ``threshold_dbfs``."""
    import numpy as np

    frame = fs // 50
    floor = (10 ** (threshold_dbfs / 20) * 32767) ** 2
    for i in range(0, len(x) - frame + 1, frame):
        if float(np.mean(x[i: i + frame] ** 2)) > floor:
            return i
    return len(x)


def score(reference: Path, recording: Path, *, wideband: bool) -> PesqResult:
    """PESQ MOS-LQO of ``recording`` against ``reference`` (both mono 16-bit WAV).

    The sender loops the file and the recording starts wherever the loop was, so the
    recording (from its first non-silent frame, at most one loop long) is located in the
    looped reference, and the matching stretch of the loop is the reference PESQ gets."""
    import numpy as np
    from pesq import PesqError, pesq

    mode, fs = ("wb", 16000) if wideband else ("nb", 8000)
    ref_wav, rec_wav = read_wav(reference), read_wav(recording)
    try:
        ref = _resample(np.asarray(ref_wav.samples, dtype=np.float64), ref_wav.rate, fs)
        rec = _resample(np.asarray(rec_wav.samples, dtype=np.float64), rec_wav.rate, fs)
    except ValueError as exc:
        return PesqResult(None, mode, 0.0, 0.0, str(exc))
    start = _first_active(rec, fs)
    heard = rec[start: start + len(ref)]
    if len(heard) < MIN_HEARD_S * fs:
        return PesqResult(None, mode, start / fs, 0.0, f"only {len(heard) / fs:.2f} s of the recording after its first"
                          f" sound: PESQ needs at least {MIN_HEARD_S:g} s")
    looped = np.tile(ref, len(heard) // len(ref) + 2)
    lag, corr = _align(heard, looped)
    played = looped[lag: lag + len(heard)]
    try:
        mos = float(pesq(fs, played.astype(np.float32), heard.astype(np.float32), mode))
    except PesqError as exc:
        return PesqResult(None, mode, start / fs, corr, f"PESQ: {type(exc).__name__}")
    return PesqResult(mos, mode, start / fs, corr)
