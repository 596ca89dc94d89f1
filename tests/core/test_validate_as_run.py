"""What ``run`` would refuse about a scenario, ``validate`` refuses first,
with file:line: key: message (issue #9 item 9)."""

from __future__ import annotations

import wave

import pytest

from callgen.errors import ScenarioError, ScenarioErrors
from callgen.run.plan import plan_run
from callgen.run.preflight import load_checked


def load_scenario(path):
    """What validate and run load: the scenario and what a run would refuse (no pjsua: no codec list)."""
    return load_checked(path, None)


BASE = """\
name: t
agents:
  alice: {role: caller}
  bob: {role: callee}
calls:
  - from: alice
    to: bob
"""


def _lines(write_yaml, text: str) -> list[str]:
    with pytest.raises(ScenarioError) as ei:
        load_scenario(write_yaml(text))
    e = ei.value
    return e.lines() if isinstance(e, ScenarioErrors) else [str(e)]


def test_ipv6_uri_from_an_ipv4_agent_is_refused(write_yaml):
    (line,) = _lines(write_yaml, BASE.replace("to: bob", "to: 'sip:bob@[::1]:5070'"))
    assert "s.yaml:7: calls[0].to: 'sip:bob@[::1]:5070': 'alice' is an IPv4 agent (127.0.0.1) and has no IPv6" in line


def test_ipv6_registrar_of_an_ipv4_agent_is_refused(write_yaml):
    text = BASE.replace("alice: {role: caller}", "alice: {role: caller, register: {registrar: 'sip:[::1]:5060', password: x}}")
    (line,) = _lines(write_yaml, text)
    assert "agents.alice.register.registrar: 'sip:[::1]:5060': 'alice' is an IPv4 agent (127.0.0.1)" in line


def test_expected_codec_the_caller_never_offers(write_yaml):
    text = BASE.replace("alice: {role: caller}", "alice: {role: caller, codecs: [PCMA]}") + "    expect: {codec: PCMU}\n"
    (line,) = _lines(write_yaml, text)
    assert "s.yaml:8: calls[0].expect.codec: 'PCMU' can never be selected: 'alice' offers only PCMA" in line


def test_expected_codec_the_callee_never_accepts(write_yaml):
    text = BASE.replace("bob: {role: callee}", "bob: {role: callee, codecs: [G722, PCMA]}") + "    expect: {codec: PCMU}\n"
    (line,) = _lines(write_yaml, text)
    assert "'PCMU' can never be selected: 'bob' accepts only G722, PCMA" in line


def test_expected_codec_offered_with_rate_is_fine(write_yaml):
    text = BASE.replace("alice: {role: caller}", "alice: {role: caller, codecs: [speex/16000, pcma]}") + "    expect: {codec: speex}\n"
    assert load_scenario(write_yaml(text)).calls[0].expect.codec == "speex"


def test_more_than_ten_calls_per_agent(write_yaml):
    calls = "".join("  - from: alice\n    to: bob\n" for _ in range(11))
    lines = _lines(write_yaml, BASE.split("calls:")[0] + "calls:\n" + calls)
    assert any("calls[10]: agent 'alice' takes part in 11 calls; at most 10" in ln for ln in lines)


def test_ten_calls_per_agent_plan(write_yaml, tmp_path):
    calls = "".join("  - from: alice\n    to: bob\n" for _ in range(10))
    s = load_scenario(write_yaml(BASE.split("calls:")[0] + "calls:\n" + calls))
    assert len(plan_run(s, tmp_path, 20000, 400).calls) == 10


def _wav(path, frames: int, width: int = 2) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(8000)
        w.writeframes(b"\0" * width * frames)


@pytest.mark.parametrize("content, reason", [
    (b"", "not a PCM WAV file"),
    (b"this is not audio\n", "not a PCM WAV file"),
    ("empty-wav", "the WAV file holds no samples"),
    ("8bit", "8-bit samples; pjsua plays 16-bit PCM WAV files"),
])
def test_play_file_that_pjsua_refuses(content, reason, write_yaml, tmp_path):
    f = tmp_path / "a.wav"
    if content == "empty-wav":
        _wav(f, 0)
    elif content == "8bit":
        _wav(f, 800, width=1)
    else:
        f.write_bytes(content)
    text = BASE.replace("bob: {role: callee}", "bob: {role: callee, audio: {play: a.wav}}")
    (line,) = _lines(write_yaml, text)
    assert "s.yaml:4: agents.bob.audio.play: a.wav: " + reason in line


def test_good_play_file_loads(write_yaml, tmp_path):
    _wav(tmp_path / "a.wav", 800)
    s = load_scenario(write_yaml(BASE.replace("bob: {role: callee}", "bob: {role: callee, audio: {play: a.wav}}")))
    assert s.agent("bob").audio.play == (tmp_path / "a.wav").resolve()


def test_pause_longer_than_the_scenario_timeout(write_yaml):
    text = BASE.replace("name: t", "name: t\ntimeout: 5") + "    steps: [{wait: confirmed}, {pause: 6}, {hangup: alice}]\n"
    (line,) = _lines(write_yaml, text)
    assert "calls[0].steps[1].pause: pause 6 s is not shorter than the scenario timeout (5 s)" in line


def test_pauses_together_longer_than_the_scenario_timeout(write_yaml):
    call = "  - from: alice\n    to: bob\n    steps: [{wait: confirmed}, {pause: 3}, {hangup: alice}]\n"
    (line,) = _lines(write_yaml, "name: t\ntimeout: 5\n" + BASE.split("\n", 1)[1].split("calls:")[0] + "calls:\n" + call * 2)
    assert "s.yaml:2: timeout: the pauses alone take 6 s, not less than the scenario timeout (5 s)" in line


def test_value_pjsua_config_cannot_carry_is_refused_at_load(write_yaml, tmp_path):
    deep = tmp_path / ("d" * 100) / ("e" * 100)
    deep.mkdir(parents=True)
    _wav(deep / "a.wav", 800)
    (deep / "s.yaml").write_text(BASE.replace("bob: {role: callee}", "bob: {role: callee, audio: {play: a.wav}}"))
    with pytest.raises(ScenarioError) as ei:
        load_scenario(deep / "s.yaml")  # a short value, but its absolute path is longer than a pjsua config line
    line = str(ei.value)
    assert "s.yaml:4: agents.bob.audio.play: cannot pass to pjsua: --play-file: value" in line
    assert "is too long" in line


def test_sipp_caller_to_a_uri_without_port(write_yaml):
    text = BASE.replace("alice: {role: caller}", "alice: {role: caller, sipp: {scenario: uac}}").replace(
        "to: bob", "to: 'sip:bob@127.0.0.1'")
    (line,) = _lines(write_yaml, text)
    assert "s.yaml:7: calls[0].to: 'alice' is a SIPp uac, which dials host:port" in line


def test_sipp_caller_to_a_uri_with_port_loads(write_yaml):
    text = BASE.replace("alice: {role: caller}", "alice: {role: caller, sipp: {scenario: uac}}").replace(
        "to: bob", "to: 'sip:bob@127.0.0.1:5099'")
    assert load_scenario(write_yaml(text)).calls[0].uri == "sip:bob@127.0.0.1:5099"


def test_expected_codec_this_pjsua_does_not_have(write_yaml):
    from callgen.run.preflight import check_codecs

    s = load_scenario(write_yaml(BASE + "    expect: {codec: AMR}\n"))  # no codec lists: pjsua's own set
    with pytest.raises(ScenarioError) as ei:
        check_codecs(s, ("PCMA/8000/1", "PCMU/8000/1", "opus/48000/2"))
    assert "s.yaml:8: calls[0].expect.codec: 'AMR' can never be selected: this pjsua has no such codec" in str(ei.value)
    assert check_codecs(load_scenario(write_yaml(BASE + "    expect: {codec: opus}\n")), ("opus/48000/2",))


def test_play_file_that_is_a_fifo(write_yaml, tmp_path):
    import os

    os.mkfifo(tmp_path / "a.wav")
    (line,) = _lines(write_yaml, BASE.replace("bob: {role: callee}", "bob: {role: callee, audio: {play: a.wav}}"))
    assert f"agents.bob.audio.play: {tmp_path / 'a.wav'}: not a regular file" in line
