"""Defaults live in the schema (what users read, and the generated reference), in
the loader (what it fills in) and in the model's dataclasses: this test holds
them together.  Every ``default`` in the schema must have a row here, and the
value a scenario that omits the key gets must equal it (and equal the dataclass
field's own default where the dataclass has one)."""

from __future__ import annotations

import dataclasses
import functools
import json
import tempfile
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from callgen.scenario import model as m
from callgen.scenario.loader import DEFAULT_WAIT_TIMEOUT, load_scenario
from callgen.scenario.model import Scenario

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "scenario.schema.json").read_text())

#: every key a scenario can leave out, in one file: callee/caller defaults, srtp, tls,
#: register, audio, a call without 'parallel', a dtmf step without method/pause_ms,
#: rtp and audio expectations without their numbers
YAML = """\
name: defaults
agents:
  alice:
    role: caller
    srtp: {use: optional}
    tls: {ca_file: x.pem, cert_file: x.pem, key_file: x.pem}
    transport: tls
    register: {registrar: "sip:127.0.0.1:5070", password: pw}
    audio: {play: tone.wav}
  bob:
    role: callee
    audio: {record: true}
  carol:
    role: callee
calls:
  - from: alice
    to: bob
    steps:
      - wait: confirmed
      - dtmf: "1"
      - transfer: {by: bob, to: carol}
      - wait: disconnected
    expect:
      rtp: {}
      audio: [{receiver: bob}]
"""


def _value(v: Any) -> Any:
    return v.value if hasattr(v, "value") else v


#: schema path (under $defs or properties) -> (what the model holds, the dataclass and its field)
ROWS: dict[str, tuple[Callable[[Scenario], Any], type | None, str | None]] = {
    "properties/timeout": (lambda s: s.timeout, None, None),
    "$defs/agent/properties/address": (lambda s: s.agent("bob").address, None, None),
    "$defs/agent/properties/port": (lambda s: "auto" if s.agent("bob").port is None else s.agent("bob").port, None, None),
    "$defs/agent/properties/answer": (lambda s: s.agent("bob").answer, type(None), "answer"),
    "$defs/agent/properties/transport": (lambda s: _value(s.agent("bob").transport), type(None), "transport"),
    "$defs/agent/properties/srtp/properties/use": (lambda s: _value(s.agent("bob").srtp.use), type(None), "srtp.use"),
    "$defs/agent/properties/srtp/properties/secure": (lambda s: s.agent("alice").srtp.secure, type(None), "srtp.secure"),
    "$defs/agent/properties/srtp/properties/keying": (lambda s: s.agent("alice").srtp.keying, type(None), "srtp.keying"),
    "$defs/agent/properties/tls/properties/verify": (lambda s: s.agent("alice").tls.verify, type(None), "tls.verify"),
    "$defs/agent/properties/register/properties/realm": (lambda s: s.agent("alice").register.realm, type(None), "register.realm"),
    "$defs/agent/properties/register/properties/expect":
        (lambda s: "success" if s.agent("alice").register.expect_success else "failure", None, None),
    "$defs/agent/properties/register/properties/timeout":
        (lambda s: s.agent("alice").register.timeout, type(None), "register.timeout"),
    "$defs/agent/properties/audio/properties/loop": (lambda s: s.agent("alice").audio.loop, type(None), "audio.loop"),
    "$defs/agent/properties/audio/properties/record": (lambda s: s.agent("alice").audio.record, type(None), "audio.record"),
    "$defs/call/properties/parallel": (lambda s: s.calls[0].parallel, type(None), "call.parallel"),
    "$defs/step/properties/method": (lambda s: _value(s.calls[0].steps[1].method), type(None), "dtmf.method"),
    "$defs/step/properties/pause_ms": (lambda s: s.calls[0].steps[1].pause_ms, type(None), "dtmf.pause_ms"),
    "$defs/step/properties/transfer/properties/attended":
        (lambda s: s.calls[0].steps[2].attended, type(None), "transfer.attended"),
    "$defs/callExpect/properties/rtp/properties/min_packets":
        (lambda s: s.calls[0].expect.rtp.min_packets, type(None), "rtp.min_packets"),
    "$defs/audioExpect/properties/min_active_s":
        (lambda s: s.calls[0].expect.audio[0].min_active_s, type(None), "audio_expect.min_active_s"),
}

LOAD_YAML = """\
name: load_defaults
agents:
  alice: {role: caller}
  bob: {role: callee}
load: {from: alice, to: bob, rate: 1, calls: 1}
"""


@functools.lru_cache(maxsize=1)
def _load() -> m.Load:
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "l.yaml").write_text(LOAD_YAML)
        return load_scenario(Path(d) / "l.yaml", environ={}).load


ROWS.update({
    "$defs/load/properties/ramp_s": (lambda s: _load().ramp_s, type(None), "load.ramp_s"),
    "$defs/load/properties/max_concurrent": (lambda s: _load().max_concurrent, type(None), "load.max_concurrent"),
    "$defs/load/properties/hold_s": (lambda s: _load().hold_s, type(None), "load.hold_s"),
    "$defs/load/properties/seed": (lambda s: _load().seed, type(None), "load.seed"),
    "$defs/load/properties/dtmf": (lambda s: "per-call" if _load().dtmf else "none", None, None),
    "$defs/load/properties/capture/properties/max_mb":
        (lambda s: _load().capture.max_mb, type(None), "load.capture.max_mb"),
    "$defs/load/properties/expect/properties/proven_pct_min":
        (lambda s: _load().expect.proven_pct_min, type(None), "load.proven_pct_min"),
})

# the dataclass that holds each field, for the third place a default lives

FIELDS = {
    "answer": (m.Agent, "answer"), "transport": (m.Agent, "transport"),
    "srtp.use": (m.SrtpConfig, "use"), "srtp.secure": (m.SrtpConfig, "secure"), "srtp.keying": (m.SrtpConfig, "keying"),
    "tls.verify": (m.TlsFiles, "verify"), "register.realm": (m.Registration, "realm"),
    "register.timeout": (m.Registration, "timeout"), "audio.loop": (m.AudioConfig, "loop"),
    "audio.record": (m.AudioConfig, "record"), "call.parallel": (m.Call, "parallel"),
    "dtmf.method": (m.DtmfStep, "method"), "dtmf.pause_ms": (m.DtmfStep, "pause_ms"),
    "transfer.attended": (m.TransferStep, "attended"),
    "rtp.min_packets": (m.RtpExpect, "min_packets"), "audio_expect.min_active_s": (m.AudioExpect, "min_active_s"),
    "load.ramp_s": (m.Load, "ramp_s"), "load.max_concurrent": (m.Load, "max_concurrent"), "load.hold_s": (m.Load, "hold_s"),
    "load.seed": (m.Load, "seed"),
    "load.proven_pct_min": (m.LoadExpect, "proven_pct_min"),
    "load.capture.max_mb": (m.LoadCapture, "max_mb"),
}


def schema_defaults() -> dict[str, Any]:
    found: dict[str, Any] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, dict):
            if "default" in node:
                found["/".join(path)] = node["default"]
            for k, v in node.items():
                walk(v, path + (k,))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, path + (str(i),))

    walk(SCHEMA, ())
    return found


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Scenario:
    d = tmp_path_factory.mktemp("defaults")
    (d / "x.pem").write_text("not read by the loader")
    with wave.open(str(d / "tone.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 800)
    (d / "s.yaml").write_text(YAML)
    return load_scenario(d / "s.yaml", environ={})


def test_every_schema_default_has_a_row():
    assert sorted(schema_defaults()) == sorted(ROWS)


@pytest.mark.parametrize("path", sorted(ROWS))
def test_schema_loader_and_model_agree(path, scenario):
    want = schema_defaults()[path]
    getter, _, field_key = ROWS[path]
    assert getter(scenario) == want, f"{path}: the schema says {want!r}, a scenario without it gets {getter(scenario)!r}"
    if field_key:
        cls, name = FIELDS[field_key]
        f = next(f for f in dataclasses.fields(cls) if f.name == name)
        if f.default is not dataclasses.MISSING:
            assert _value(f.default) == want, f"{cls.__name__}.{name} defaults to {f.default!r}, the schema to {want!r}"


def test_wait_timeout_default_matches_the_schema_text():
    """The wait timeout's default is only written in the schema's description."""
    text = SCHEMA["$defs"]["step"]["properties"]["timeout"]["description"]
    assert f"(default {DEFAULT_WAIT_TIMEOUT:g})" in text
    assert m.WaitStep.__dataclass_fields__["timeout"].default == DEFAULT_WAIT_TIMEOUT
