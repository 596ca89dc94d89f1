"""Impossible load numbers are refused at validate time with file:line: key (issue #15)."""

from __future__ import annotations

import pytest

BASE = """\
name: l
timeout: 600
agents:
  alice: {{role: caller}}
  bob: {{role: callee}}
load:
  from: alice
  to: {to}
{extra}"""


@pytest.mark.parametrize("to,extra,where,says", [
    ("bob", "  rate: 0\n  calls: 10\n", ":9: load.rate", "0"),
    ("bob", "  rate: -5\n  calls: 10\n", ":9: load.rate", "-5"),
    ("bob", "  rate: 5\n", ":6: load", "calls"),  # neither calls nor duration_s
    ("bob", "  rate: 5\n  calls: 10\n  max_concurrent: 501\n", ":11: load.max_concurrent", "500"),
    ("bob", "  rate: 5\n  calls: 10\n  hold_s: 1\n  dtmf: per-call\n", ":11: load.hold_s", "too short"),
    ("alice", "  rate: 5\n  calls: 10\n", ":8: load.to", "role callee"),
    ("bob", "  rate: 100\n  calls: 6000\n", ":6: load", "RTP ports"),  # pjsua never reuses its RTP ports
    ("bob", "  rate: 0.01\n  calls: 100\n", ":6: load", "raise 'timeout'"),
])  # fmt: skip
def test_impossible_load_is_refused(cli, write_yaml, to, extra, where, says):
    r = cli("validate", str(write_yaml(BASE.format(to=to, extra=extra))))
    assert r.status == 2, r.out + r.err
    line = r.err.splitlines()[0]
    assert where in line and says in line, r.err


def test_calls_and_load_together_are_refused(cli, write_yaml):
    text = BASE.format(to="bob", extra="  rate: 5\n  calls: 10\ncalls:\n  - {from: alice, to: bob}\n")
    r = cli("validate", str(write_yaml(text)))
    assert r.status == 2 and "calls" in r.err and "load" in r.err, r.err


def test_a_good_load_validates_and_renders_its_size(cli, write_yaml, tmp_path):
    f = write_yaml(BASE.format(to="bob", extra="  rate: 20\n  calls: 200\n  max_concurrent: 150\n  hold_s: 5\n"))
    assert cli("validate", str(f)).status == 0
    r = cli("render", str(f), "-o", str(tmp_path / "cfg"))
    assert r.status == 0, r.err
    alice = (tmp_path / "cfg" / "alice.cfg").read_text()
    assert "--max-calls=158" in alice and "--duration=5" in alice and "--clock-rate=8000" in alice
    assert "--max-calls=158" in (tmp_path / "cfg" / "bob.cfg").read_text()
