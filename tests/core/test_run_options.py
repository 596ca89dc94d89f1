"""Run options checked before anything starts: --start-at nan/inf and a --start-at past the
scenario timeout (before: nan accepted, a far-future time refused only after the agents had
started), a --pjsua that is a folder (before: exit 3), --load-share 0/0 (before: named --shard)."""

from __future__ import annotations

import time

import pytest

from tests.conftest import SCENARIOS

LOAD = """\
name: small_load
timeout: 60
agents:
  alice: {role: caller, codecs: [PCMA]}
  bob: {role: callee, codecs: [PCMA]}
load:
  from: alice
  to: bob
  rate: 2
  calls: 4
  hold_s: 1
  max_concurrent: 4
"""


@pytest.fixture
def no_pjsua(monkeypatch, tmp_path):
    """If anything started despite the bad option, it would fail on pjsua (exit 3), not exit 2."""
    monkeypatch.setenv("PJSUA", str(tmp_path / "no-such-pjsua"))


def _one_line(r) -> str:
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.err, r.err
    return lines[0]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_start_at_not_finite(cli, write_yaml, tmp_path, no_pjsua, value):
    r = cli("run", str(write_yaml(LOAD)), "-o", str(tmp_path / "out"), f"--start-at={value}")
    assert r.status == 2
    assert "--start-at" in _one_line(r) and "not a finite time" in r.err
    assert not (tmp_path / "out").exists()


def test_start_at_past_the_timeout_is_refused_before_anything_starts(cli, write_yaml, tmp_path, no_pjsua):
    f = write_yaml(LOAD)
    r = cli("run", str(f), "-o", str(tmp_path / "out"), "--start-at", str(time.time() + 3600))
    assert r.status == 2, r.err
    line = _one_line(r)
    assert line.startswith(f"callgen: error: {f}: --start-at is 3") and "past the scenario timeout (60 s)" in line, line
    assert not (tmp_path / "out").exists()


def test_pjsua_that_is_a_folder(cli, tmp_path):
    r = cli("run", str(SCENARIOS / "basic_call.yaml"), "-o", str(tmp_path / "out"), "--pjsua", str(tmp_path))
    assert r.status == 2
    assert _one_line(r) == f"callgen: error: --pjsua {tmp_path}: is a folder, not the pjsua program"


def test_pjsua_env_that_is_a_folder(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PJSUA", str(tmp_path))
    r = cli("run", str(SCENARIOS / "basic_call.yaml"), "-o", str(tmp_path / "out"))
    assert r.status == 2
    assert _one_line(r) == f"callgen: error: $PJSUA {tmp_path}: is a folder, not the pjsua program"


@pytest.mark.parametrize("share", ["0/0", "3/2", "x"])
def test_load_share_errors_name_load_share(cli, write_yaml, tmp_path, no_pjsua, share):
    r = cli("run", str(write_yaml(LOAD)), "-o", str(tmp_path / "out"), "--load-share", share)
    assert r.status == 2
    line = _one_line(r)
    assert line.startswith("callgen: error: --load-share") and "--shard" not in line, line
