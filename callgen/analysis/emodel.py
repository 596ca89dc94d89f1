"""The E-model (ITU-T G.107) in the simplified form RTCP XR (RFC 3611 4.7) reporters use.

R = R0 - Is - Id - Ie,eff + A, with every parameter except delay, codec and loss at
its G.107 default: R0 - Is = 93.2 (Table 3/G.107 defaults give R = 93.2, MOS 4.41),
A = 0 (wired access).  What varies per stream:

* ``Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl)`` (G.107 eq. 7-29), with the
  codec's equipment impairment ``Ie`` and packet-loss robustness ``Bpl`` from the table
  below, ``Ppl`` the loss in percent and ``BurstR`` the burst ratio: the mean length of
  the observed loss bursts over the mean length random loss of the same rate would give
  (``1 / (1 - p)``).  BurstR = 1 is random loss.
* ``Id`` from the one-way mouth-to-ear delay, in the simplified form of Cole and
  Rosenbluth ("Voice over IP performance monitoring", ACM CCR 31(2), 2001), a fit to
  G.107's Id with default echo parameters: ``Id = 0.024 d + 0.11 (d - 177.3) H(d - 177.3)``.
  Jitter enters as delay: a receiver's jitter buffer sized to absorb it holds every
  packet about twice the RFC 3550 jitter (the same simplification); packets it would
  discard are not estimated (the capture shows arrival, not playout).

MOS is G.107 Annex B's ``MOS = 1 + 0.035 R + R (R - 60) (100 - R) 7e-6`` (1 below R = 0,
4.5 above R = 100): the conversational-quality MOS-CQE on the narrow-band scale.
"""

from __future__ import annotations

from dataclasses import dataclass

#: R0 - Is with every G.107 parameter at its default (Table 3/G.107): the R of a
#: G.711 call with no loss and no delay.
R_DEFAULT = 93.2


@dataclass(frozen=True)
class CodecImpairment:
    """A codec's equipment impairment factor and packet-loss robustness."""

    ie: float
    bpl: float
    source: str  #: where the figures come from


#: The figures below are G.113's as widely cited (G.711/PLC Bpl 25.1, G.729A+VAD 11/19,
#: GSM-FR Ie 20, GSM-EFR Bpl 10); the Recommendation's text was not at hand to re-check them.
_G113 = "ITU-T G.113 (11/2007) Appendix I"
#: Keyed by the lower-case RTP encoding name (SDP rtpmap).
CODECS: dict[str, CodecImpairment] = {
    # G.711 with packet-loss concealment (pjmedia conceals by default): Ie 0 (Table I.1),
    # Bpl 25.1 (Table I.3, G.711 with PLC, random loss).
    "pcma": CodecImpairment(0.0, 25.1, f"{_G113} Tables I.1, I.3 (G.711 with PLC)"),
    "pcmu": CodecImpairment(0.0, 25.1, f"{_G113} Tables I.1, I.3 (G.711 with PLC)"),
    # G.729(A) + VAD: Ie 11, Bpl 19.0 (Table I.3).
    "g729": CodecImpairment(11.0, 19.0, f"{_G113} Table I.3 (G.729A + VAD)"),
    # GSM 06.10 full rate: Ie 20 (Table I.1). G.113 gives no Bpl for it; 10.0 is the
    # GSM-EFR figure of Table I.3, borrowed: NOT a G.113 value for GSM-FR.
    "gsm": CodecImpairment(20.0, 10.0, f"{_G113} Table I.1 (Ie); Bpl borrowed from GSM-EFR (assumption)"),
    # Not in G.113 Appendix I on the narrow-band scale; assumptions, marked as such:
    # wide-band G.722 and opus are at least G.711 quality (Ie 0 is the best the narrow-band
    # scale can say) and conceal loss at least as well as G.711 with PLC.
    "g722": CodecImpairment(0.0, 25.1, "assumption (not G.113 narrow-band): as G.711 with PLC"),
    "opus": CodecImpairment(0.0, 25.1, "assumption (not in G.113): as G.711 with PLC"),
    # speex narrow-band at 15 kbit/s is usually put near G.729: assumption.
    "speex": CodecImpairment(11.0, 19.0, "assumption (not in G.113): as G.729A"),
    # G.723.1 at 6.3 kbit/s (MP-MLQ; the RTP name covers both rates, 6.3 is the default):
    # Ie 15 (Table I.1), Bpl 16.1 (Table I.3, G.723.1 + VAD). Ie 15 is also Mitel's MX-ONE
    # planning guide ("Speech compression impairment") and Nortel NN43001-563 Table 29;
    # ICAO ACP WG-I WP 306 Table B-1 gives Ie 24 at 2 % loss, which Bpl 16.1 reproduces.
    "g723": CodecImpairment(15.0, 16.1, f"{_G113} Tables I.1, I.3 (G.723.1 6.3 kbit/s + VAD)"),
    # G.726 ADPCM: Ie by rate from Table I.1 (40 kbit/s 2, 32 kbit/s 7, 24 kbit/s 25,
    # 16 kbit/s 50); the 32 kbit/s figure re-checked in Mitel's MX-ONE planning guide, the
    # others as G.113 is widely cited. G.113 gives no Bpl for ADPCM: 25.1 is G.711 with
    # PLC's, assumed because pjmedia conceals loss for codecs without their own PLC.
    "g726-40": CodecImpairment(2.0, 25.1, f"{_G113} Table I.1 (Ie); Bpl as G.711 with PLC (assumption)"),
    "g726-32": CodecImpairment(7.0, 25.1, f"{_G113} Table I.1 (Ie); Bpl as G.711 with PLC (assumption)"),
    "g721": CodecImpairment(7.0, 25.1, f"{_G113} Table I.1 (Ie, G.726 32 kbit/s); Bpl as G.711 with PLC (assumption)"),
    "g726-24": CodecImpairment(25.0, 25.1, f"{_G113} Table I.1 (Ie); Bpl as G.711 with PLC (assumption)"),
    "g726-16": CodecImpairment(50.0, 25.1, f"{_G113} Table I.1 (Ie); Bpl as G.711 with PLC (assumption)"),
}
#: G.107 defines R on 0..100: below and above are clamped (a burst of 90 % loss gives
#: Ie,eff far past R0, which is "R = 0", not a negative rating).
R_MIN, R_MAX = 0.0, 100.0


def codec_impairment(codec: str | None) -> CodecImpairment | None:
    """The table entry for ``name/rate`` (e.g. ``PCMA/8000``); None when unknown."""
    if not codec:
        return None
    return CODECS.get(codec.split("/", 1)[0].strip().lower())


def ie_eff(ie: float, bpl: float, ppl: float, burst_r: float = 1.0) -> float:
    """Effective equipment impairment under ``ppl`` percent loss (G.107 eq. 7-29)."""
    if ppl <= 0:
        return ie
    return ie + (95.0 - ie) * ppl / (ppl / burst_r + bpl)


def delay_impairment(one_way_ms: float) -> float:
    """Id for a one-way delay in ms (Cole-Rosenbluth fit of G.107 with default echo)."""
    d = max(0.0, one_way_ms)
    return 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)


def mos_from_r(r: float) -> float:
    """G.107 Annex B: MOS-CQE for a rating factor R."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6


def burst_ratio(lost: int, bursts: int, loss_fraction: float) -> float:
    """Observed mean burst length over the mean random loss of that rate would give
    (G.107: 1 / (1 - p)); 1.0 when nothing was lost."""
    if lost <= 0 or bursts <= 0 or loss_fraction >= 1.0:
        return 1.0
    return (lost / bursts) * (1.0 - loss_fraction)


@dataclass(frozen=True)
class Rating:
    r_factor: float
    mos: float


def rate(codec: str | None, loss_pct: float, *, burst_r: float = 1.0,
         one_way_ms: float = 0.0, jitter_ms: float = 0.0) -> Rating | None:
    """R and MOS of one stream; None when the codec is not in the table."""
    imp = codec_impairment(codec)
    if imp is None:
        return None
    delay = one_way_ms + 2.0 * max(0.0, jitter_ms)
    r = R_DEFAULT - delay_impairment(delay) - ie_eff(imp.ie, imp.bpl, max(0.0, loss_pct), burst_r)
    r = min(R_MAX, max(R_MIN, r))
    return Rating(r_factor=r, mos=mos_from_r(r))
