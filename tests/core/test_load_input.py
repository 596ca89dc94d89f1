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
    ("bob", "  rate: 5\n  calls: 10\n  max_concurrent: 1501\n", ":11: load.max_concurrent", "1500"),
    ("bob", "  rate: 5\n  calls: 10\n  hold_s: 1\n  dtmf: per-call\n", ":11: load.hold_s", "too short"),
    ("alice", "  rate: 5\n  calls: 10\n", ":8: load.to", "role callee"),
    ("bob", "  rate: 5\n  calls: 10\n  hold_s: {min: 9, max: 4}\n", ":11: load.hold_s.min", "above max"),
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
    assert "--max-calls=158" in alice and "--duration=35" in alice and "--clock-rate=8000" in alice  # 5 s, a 30 s net
    assert "--max-calls=158" in (tmp_path / "cfg" / "bob.cfg").read_text()


def test_a_load_past_the_old_port_limit_validates_with_wrapping_ports(cli, write_yaml, tmp_path):
    """6,000 calls (once refused: pjsua never reused its RTP ports, ~3,900 calls per run): the ports
    wrap within a span sized by the calls held at once (--rtp-port-range), not by the calls placed."""
    f = write_yaml(BASE.format(to="bob", extra="  rate: 100\n  calls: 6000\n  max_concurrent: 200\n"))
    r = cli("validate", str(f))
    assert r.status == 0, r.out + r.err
    r = cli("render", str(f), "-o", str(tmp_path / "cfg"))
    assert r.status == 0, r.err
    for name in ("alice", "bob"):
        assert f"--rtp-port-range={2 * 2 * 208 + 64 - 2}" in (tmp_path / "cfg" / f"{name}.cfg").read_text()


def test_per_call_holds_are_drawn_by_the_seed_within_the_range():
    from callgen.scenario.model import Load

    load = Load("alice", ("bob",), rate=10, calls=200, hold_s=12, hold_min_s=8, seed=7)
    holds = [load.hold(k) for k in range(200)]
    assert all(8 <= h <= 12 for h in holds) and len(set(holds)) > 20
    assert holds == [Load("alice", ("bob",), rate=10, calls=200, hold_s=12, hold_min_s=8, seed=7).hold(k) for k in range(200)]
    assert holds != [Load("alice", ("bob",), rate=10, calls=200, hold_s=12, hold_min_s=8, seed=8).hold(k) for k in range(200)]
    share = load.shared(1, 2)  # a share draws the same hold for the same global call
    assert [share.hold(k) for k in range(100)] == holds[1::2]
    assert Load("alice", ("bob",), rate=10, calls=5, hold_s=4).hold(3) == 4.0


def test_load_headers_carry_the_call_number(cli, write_yaml, tmp_path):
    f = write_yaml(BASE.format(to="bob", extra="  rate: 5\n  calls: 10\n  headers: {X-Load-Call: \"run1-{n}\"}\n"))
    assert cli("validate", str(f)).status == 0
    from callgen.scenario.model import Load

    load = Load("alice", ("bob",), rate=10, calls=20, headers=(("X-Load-Call", "run1-{n}"),)).shared(1, 2)
    assert load.call_headers(3) == (("X-Load-Call", "run1-7"),)
    bad = write_yaml(BASE.format(to="bob", extra="  rate: 5\n  calls: 10\n  headers: {Call-ID: \"x{n}\"}\n"))
    r = cli("validate", str(bad))
    assert r.status == 2 and "load.headers.Call-ID" in r.err.splitlines()[0], r.err
