"""Call quality on real calls (issue 14): the loss, MOS and PESQ checks pass on a clean
call and fail when an agent really drops 10 % of what it sends (pjsua --tx-drop-pct), or
throws away 10 % of what it receives (--rx-drop-pct), with figures that move the way the
models predict.

Tolerance: pjsua drops each packet independently, so over N packets the measured loss is
binomial around 10 %; 12 s of 20 ms packets is N ~ 600, sigma = sqrt(0.1*0.9/600) = 1.22 %.
The test accepts 10 % +- 4.5 sigma (3 sigma once failed a correct run), and as MOS bounds what the E-model gives for those loss
bounds (G.711 with PLC; random loss, BurstR = 1, for the upper bound, BurstR up to 1.3 for
the lower: independent drops still make an occasional pair). The sender's pjsua log names
every packet it dropped: that count must match the capture's.

Why 10 % and PESQ >= 3.0: on this shared 2-core machine a clean PCMA call's PESQ varied
from 3.3 to 4.0 (the null-audio bridges' software clocks slip under load and the receiver's
jitter buffer drops or inserts frames: really heard, and scored), and 5 % loss gave 2.9;
10 % keeps the clean and the damaged call apart by more than that spread.
"""

from __future__ import annotations

import json
import math
import subprocess

import pytest

from callgen.analysis import emodel

CALL_S = 12
SENTENCES = ("The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. "
             "It is easy to tell the depth of a well. These days a chicken leg is a rare dish.")
BODY = """\
name: {name}
timeout: 60
agents:
  alice: {{role: caller, codecs: [PCMA], audio: {{record: true}}{alice_impair}}}
  bob: {{role: callee, codecs: [PCMA], audio: {{play: speech.wav}}{impair}}}
calls:
  - from: alice
    to: bob
    steps:
      - wait: confirmed
      - pause: {secs}
      - hangup: alice
      - wait: disconnected
    expect:
      rtp: {{max_loss_pct: 1, mos_min: 4.0}}
      audio: {{receiver: alice, pesq_min: 3.0}}
"""

pytestmark = pytest.mark.tool("espeak-ng", "sox")


def speech_wav(path):
    """About 9 s of synthetic speech (Harvard sentences), 16 kHz mono 16-bit."""
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-w", str(raw), SENTENCES], check=True, timeout=60)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(path)], check=True, timeout=60)
    return path


def _run(cli, tmp_path, name: str, impair: str = "", alice_impair: str = ""):
    path = tmp_path / f"{name}.yaml"
    path.write_text(BODY.format(name=name, impair=impair, alice_impair=alice_impair, secs=CALL_S), encoding="utf-8")
    out = tmp_path / "out"
    r = cli("run", str(path), "-o", str(out))
    result = json.loads((out / name / "result.json").read_text())
    return r, result, {c["name"]: c for c in result["checks"]}, out / name


def _figure(seen: str, label: str) -> float:
    return float(seen.split(label, 1)[1].split()[0])


def _loss(seen: str) -> tuple[float, int]:
    pct, rest = seen.split("%", 1)
    return float(pct), int(rest.split("(", 1)[1].split()[0])


def test_clean_call_passes_and_injected_loss_is_caught(cli, tmp_path, pjsua_bin):
    speech_wav(tmp_path / "speech.wav")
    r, result, c, _ = _run(cli, tmp_path, "clean")
    assert r.status == 0 and result["verdict"] == "pass", r.out + r.err
    for label in ("caller->callee", "callee->caller"):
        mos = c[f"call1.rtp[{label}].mos"]
        assert mos["passed"] and mos["evidence"] == "capture", mos
        # no loss, sub-ms jitter: G.107's default rating, less a hair of jitter delay
        assert 4.38 <= _figure(mos["seen"], "MOS ") <= 4.41, mos
    clean_pesq = c["call1.audio[alice].pesq"]
    assert clean_pesq["passed"] and clean_pesq["evidence"] == "recording", clean_pesq

    r, result, c, run_dir = _run(cli, tmp_path, "lossy", ", impair: {tx_loss_pct: 10}")
    assert r.status == 1 and result["verdict"] == "fail", r.out + r.err
    loss, mos = c["call1.rtp[callee->caller].loss"], c["call1.rtp[callee->caller].mos"]
    pesq = c["call1.audio[alice].pesq"]
    assert not loss["passed"] and not mos["passed"] and not pesq["passed"], (loss, mos, pesq)
    sigma = 100 * math.sqrt(0.1 * 0.9 / (CALL_S * 50))
    # 4.5 sigma: pjmedia's drops are independent draws, and this band must not fail a correct run
    # (3 sigma failed once in a full-suite run: 6.01% of 599 packets); the exact check is the next one
    lo, hi = 10 - 4.5 * sigma, 10 + 4.5 * sigma
    pct, lost = _loss(loss["seen"])
    assert lo <= pct <= hi, loss
    # what bob's pjsua says it dropped is what the capture misses, except drops after the
    # last packet the capture holds (a gap needs a packet after it to be counted)
    dropped = (run_dir / "bob.pjsua.log").read_text(errors="replace").count("TX RTP packet dropped")
    assert lost <= dropped <= lost + 5, (dropped, lost)
    # the E-model's prediction for the loss bounds brackets the measured MOS
    mos_hi = emodel.rate("PCMA/8000", lo).mos
    mos_lo = emodel.rate("PCMA/8000", hi, burst_r=1.3).mos
    assert mos_lo <= _figure(mos["seen"], "MOS ") <= mos_hi, (mos, mos_lo, mos_hi)
    # PESQ drops too, by at least half a point (what was heard is really damaged)
    assert _figure(pesq["seen"], "MOS-LQO ") <= _figure(clean_pesq["seen"], "MOS-LQO ") - 0.5, (pesq, clean_pesq)
    # bob only damaged what he sends: alice's direction is untouched
    assert c["call1.rtp[caller->callee].loss"]["passed"] and c["call1.rtp[caller->callee].mos"]["passed"]


def test_loss_the_receiver_throws_away_is_caught_from_its_rtcp_reports(cli, tmp_path, pjsua_bin):
    """rx_loss_pct: every packet is on the wire (the capture's loss check passes, rightly),
    alice discards ~10 % before decoding; her RTCP receiver reports count them, and what
    she heard is damaged."""
    speech_wav(tmp_path / "speech.wav")
    r, result, c, run_dir = _run(cli, tmp_path, "rx", alice_impair=", impair: {rx_loss_pct: 10}")
    assert r.status == 1 and result["verdict"] == "fail", r.out + r.err
    assert c["call1.rtp[callee->caller].loss"]["passed"], c["call1.rtp[callee->caller].loss"]
    rep, mos = c["call1.rtp[callee->caller].loss_reported"], c["call1.rtp[callee->caller].mos_reported"]
    assert not rep["passed"] and rep["evidence"] == "rtcp", rep
    assert not mos["passed"] and mos["evidence"] == "rtcp", mos
    # the latest report covers ~10 of the 12 s: ~500 packets, 10 % +- 4.5 sigma (1.34 %)
    pct, lost = _loss(rep["seen"])
    assert 4.0 <= pct <= 16.0, rep
    assert lost <= (run_dir / "alice.pjsua.log").read_text(errors="replace").count("RX RTP packet dropped")
    assert not c["call1.audio[alice].pesq"]["passed"], c["call1.audio[alice].pesq"]
