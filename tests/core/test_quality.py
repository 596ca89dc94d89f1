"""Issue 14's scenario language: impair (pjsua packet-loss simulation), expect.rtp.mos_min,
expect.audio.pesq_min; and the MOS check on streams with and without loss."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_checks import A_RTP, B_RTP, answered_dialog, stream

from callgen.analysis import emodel
from callgen.errors import ScenarioError, ScenarioErrors
from callgen.pjsua.render import parse_config
from callgen.run.plan import plan_run
from callgen.scenario.loader import load_scenario
from callgen.scenario.model import RtpExpect
from callgen.verdict.media import CallMedia, rtp_checks

BASE = """\
name: t
agents:
  alice: {role: caller}
  bob: {role: callee}
calls:
  - from: alice
    to: bob
"""


def _error(write_yaml, text: str) -> str:
    with pytest.raises(ScenarioError) as ei:
        load_scenario(write_yaml(text))
    e = ei.value
    lines = e.lines() if isinstance(e, ScenarioErrors) else [str(e)]
    assert len(lines) == 1, lines
    return lines[0]


def _options(s, tmp_path, name):
    return parse_config(plan_run(s, tmp_path, 20000, 400).agent(name).config_text(s))


def test_impair_reaches_pjsua_one_less(write_yaml, tmp_path):
    # pjmedia drops when pj_rand() % 100 <= PCT, i.e. PCT+1 percent: 5 % is --tx-drop-pct=4
    s = load_scenario(write_yaml(BASE.replace("alice: {role: caller}",
                                              "alice: {role: caller, impair: {tx_loss_pct: 5, rx_loss_pct: 10}}")))
    assert s.agent("alice").impair.tx_loss_pct == 5 and s.agent("bob").impair.tx_loss_pct == 0
    alice = _options(s, tmp_path, "alice")
    assert "--tx-drop-pct=4" in alice and "--rx-drop-pct=9" in alice
    assert not any("drop-pct" in t for t in _options(s, tmp_path, "bob"))


def test_impair_of_one_percent_is_refused_with_the_line(write_yaml):
    line = _error(write_yaml, BASE.replace("alice: {role: caller}", "alice: {role: caller, impair: {tx_loss_pct: 1}}"))
    assert ":3: agents.alice.impair.tx_loss_pct:" in line


def test_impair_does_not_apply_to_sipp(write_yaml):
    line = _error(write_yaml, BASE.replace("bob: {role: callee}",
                                           "bob: {role: callee, sipp: {scenario: uas}, impair: {tx_loss_pct: 5}}"))
    assert "agents.bob.impair" in line and "SIPp" in line


def test_mos_min_and_pesq_min_load(write_yaml, tmp_path):
    from callgen.analysis.audio import write_tone_wav

    write_tone_wav(tmp_path / "speech.wav", 440, 1.0, rate=16000)
    text = BASE.replace("bob: {role: callee}", "bob: {role: callee, audio: {play: speech.wav}}").replace(
        "alice: {role: caller}", "alice: {role: caller, audio: {record: true}}")
    # the default call (hung up 1 s after the answer) is too short for PESQ: validate refuses it
    text += ("    steps: [{wait: confirmed}, {pause: 5}, {hangup: alice}, {wait: disconnected}]\n"
             "    expect:\n      rtp: {mos_min: 4.0}\n      audio: {receiver: alice, pesq_min: 3.5}\n")
    s = load_scenario(write_yaml(text))
    e = s.calls[0].expect
    assert e.rtp.mos_min == 4.0
    a = e.audio[0]
    assert (a.pesq_min, a.sender, a.reference.name) == (3.5, "bob", "speech.wav")


def test_pesq_min_needs_a_played_file(write_yaml):
    text = BASE.replace("alice: {role: caller}", "alice: {role: caller, audio: {record: true}}")
    text += "    expect:\n      audio: {receiver: alice, pesq_min: 3.5}\n"
    line = _error(write_yaml, text)
    assert ":9: calls[0].expect.audio.pesq_min:" in line and "'bob' plays no file" in line


def _checks(fwd_lost: int, bwd_lost: int, mos_min: float, codec="PCMA/8000"):
    d = answered_dialog()
    f = replace(stream(A_RTP, B_RTP, packets=1000 - fwd_lost, lost=fwd_lost), codec=codec)
    b = replace(stream(B_RTP, A_RTP, packets=1000 - bwd_lost, lost=bwd_lost), codec=codec)
    return {c.name: c for c in rtp_checks("call1", CallMedia((f,), (b,)), RtpExpect(max_loss_pct=1, mos_min=mos_min), d)}


def test_mos_check_passes_clean_and_fails_under_loss_per_direction():
    c = _checks(fwd_lost=50, bwd_lost=0, mos_min=4.0)
    fwd, bwd = c["call1.rtp[caller->callee].mos"], c["call1.rtp[callee->caller].mos"]
    assert not fwd.passed and bwd.passed
    assert fwd.evidence == "capture" and fwd.expected == "E-model MOS >= 4"
    # the figure in 'seen' is the E-model of 5 % random loss with 0.1 ms jitter (as 0.2 ms delay)
    want = emodel.rate("PCMA/8000", 5.0, jitter_ms=0.1).mos
    assert f"MOS {want:.2f}" in fwd.seen and "loss 5.00%" in fwd.seen
    assert not c["call1.rtp[caller->callee].loss"].passed


def test_mos_check_fails_when_the_codec_cannot_be_rated():
    c = _checks(0, 0, mos_min=1.0, codec="L16/8000")
    assert not c["call1.rtp[caller->callee].mos"].passed
    assert "not rated" in c["call1.rtp[caller->callee].mos"].seen


def test_loss_only_the_receiver_saw_is_caught_from_its_rtcp_reports():
    """rx_loss_pct: packets arrive (the capture shows no loss) and are thrown away by the
    receiver, whose RTCP receiver reports count them: a real call with 5 % rx loss at
    alice passed every capture check before this."""
    d = answered_dialog()
    f = stream(A_RTP, B_RTP, packets=600)
    b = replace(stream(B_RTP, A_RTP, packets=600), rtcp_reports=5, rtcp_reported_lost=24,
                rtcp_reported_loss_pct=3.98, rtcp_evidence="rtcp")
    c = {x.name: x for x in rtp_checks("call1", CallMedia((f,), (b,)), RtpExpect(max_loss_pct=1, mos_min=4.3), d)}
    assert c["call1.rtp[callee->caller].loss"].passed  # the capture really shows none
    rep = c["call1.rtp[callee->caller].loss_reported"]
    assert not rep.passed and rep.evidence == "rtcp" and "3.98%" in rep.seen, rep
    mos = c["call1.rtp[callee->caller].mos_reported"]
    want = emodel.rate("PCMA/8000", 3.98, jitter_ms=0.1).mos
    assert not mos.passed and mos.evidence == "rtcp" and f"MOS {want:.2f}" in mos.seen, mos
    # no RTCP about the other direction: no reported-loss checks, nothing claimed
    assert "call1.rtp[caller->callee].loss_reported" not in c and "call1.rtp[caller->callee].mos_reported" not in c


def test_srtcp_reports_are_labelled_srtcp():
    d = answered_dialog()
    b = replace(stream(B_RTP, A_RTP), rtcp_reports=2, rtcp_reported_lost=0, rtcp_reported_loss_pct=0.0,
                rtcp_evidence="srtcp")
    c = {x.name: x for x in rtp_checks("call1", CallMedia((stream(A_RTP, B_RTP),), (b,)), RtpExpect(max_loss_pct=1), d)}
    assert c["call1.rtp[callee->caller].loss_reported"].passed
    assert c["call1.rtp[callee->caller].loss_reported"].evidence == "srtcp"


def _pesq_scenario(write_yaml, tmp_path, rate=16000, extra=""):
    from callgen.analysis.audio import write_tone_wav

    write_tone_wav(tmp_path / "speech.wav", 440, 1.0, rate=rate)
    text = BASE.replace("bob: {role: callee}", "bob: {role: callee, audio: {play: speech.wav}}").replace(
        "alice: {role: caller}", "alice: {role: caller, audio: {record: true}}")
    return text + f"    expect:\n      audio: {{receiver: alice, pesq_min: 3.5{extra}}}\n"


def test_pesq_reference_rate_pesq_cannot_use_is_refused_at_load(write_yaml, tmp_path):
    line = _error(write_yaml, _pesq_scenario(write_yaml, tmp_path, rate=44100))
    assert ":9: calls[0].expect.audio.pesq_min:" in line and "44100 Hz" in line, line


def test_pesq_from_must_be_the_other_party(write_yaml, tmp_path):
    line = _error(write_yaml, _pesq_scenario(write_yaml, tmp_path, extra=", from: alice"))
    assert "calls[0].expect.audio.from:" in line and "not the other party" in line, line
