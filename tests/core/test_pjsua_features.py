"""What the pjsua in use can do (callgen's patch series, IPv6), found from its --help;
a stock pjsua keeps working, and a scenario that needs a patched feature is refused at
validate (exit 2) with the reason (issue 22)."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path

import pytest

from callgen.pjsua.features import Feature, cached_features, features_from_help
from callgen.pjsua.toolpaths import find_pjsua
from tests.conftest import SCENARIOS

#: The lines callgen's patches add to pjsua's --help (scripts/pjsua-patches/*.patch)
PATCHED_LINES = re.compile(r"--add-header|--answer-header|--reg-header|--rtp-port-range|--quick-exit|"
                           r"Menu commands added by callgen|^\s+[kg]\s{3,}", re.M)

HEADERS_SCENARIO = """name: needs_headers
agents:
  alice: {role: caller}
  bob: {role: callee}
calls:
  - from: alice
    to: bob
    headers: {X-Case-Id: nightly-42}
"""


def _real_help() -> str:
    pjsua = find_pjsua(required=False)
    if pjsua is None:
        pytest.skip("no pjsua built (make setup)")
    p = subprocess.run([pjsua, "--help"], capture_output=True, text=True, timeout=10)
    return p.stdout + p.stderr


@pytest.fixture
def stock_pjsua(tmp_path, monkeypatch) -> Path:
    """A stand-in for a stock pjsua: the built pjsua, whose --help lacks the lines our
    patches add (and IPv6)."""
    text = "\n".join(line for line in _real_help().splitlines() if not PATCHED_LINES.search(line) and "--ipv6" not in line)
    (tmp_path / "help.txt").write_text(text + "\n")
    exe = tmp_path / "pjsua"
    exe.write_text(f"#!/bin/sh\n[ \"$1\" = --help ] && exec cat {tmp_path / 'help.txt'}\nexec {find_pjsua()} \"$@\"\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PJSUA", str(exe))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return exe


def test_the_pjsua_make_setup_builds_has_every_feature():
    assert features_from_help(_real_help()) == frozenset(Feature)


def test_a_stock_help_text_has_none_of_the_patched_features(stock_pjsua):
    assert features_from_help((stock_pjsua.parent / "help.txt").read_text()) == frozenset()


def test_a_scenario_with_headers_is_refused_for_a_stock_pjsua(cli, write_yaml, stock_pjsua):
    r = cli("validate", str(write_yaml(HEADERS_SCENARIO)))
    assert r.status == 2, r.out + r.err
    assert ":8: calls[0].headers: call headers need a pjsua with extra SIP headers" in r.err, r.err
    assert str(stock_pjsua) in r.err and "docs/pjsua-patches.md" in r.err


def test_a_stock_pjsua_still_validates_plain_scenarios(cli, stock_pjsua):
    r = cli("validate", str(SCENARIOS / "basic_call.yaml"))
    assert r.status == 0, r.out + r.err


def test_doctor_lists_the_features(cli, stock_pjsua):
    r = cli("doctor", "--pjsua", str(stock_pjsua))
    assert "no  headers: extra SIP headers" in r.out, r.out
    assert "no  quick-exit" in r.out


def test_the_features_are_probed_once_per_binary(tmp_path):
    exe = tmp_path / "pjsua"
    exe.write_text("#!/bin/sh\nexit 0\n")
    calls = []

    def probe(path):
        calls.append(path)
        return frozenset({Feature.HEADERS})

    for _ in range(3):
        assert cached_features(str(exe), directory=tmp_path / "c", probe=probe) == {Feature.HEADERS}
    assert calls == [str(exe)]
    exe.write_text("#!/bin/sh\nexit 0\n# rebuilt\n")  # another binary: probed again
    cached_features(str(exe), directory=tmp_path / "c", probe=probe)
    assert len(calls) == 2


def test_a_cache_written_by_a_callgen_that_knew_fewer_features_is_probed_again(tmp_path):
    """Seen on this machine: a callgen of an older branch (no `ipv6-only` in its Feature set) probed
    the shared pjsua and cached what it knew; the newer callgen then trusted that entry and refused
    every IPv6 scenario for a pjsua that has --ipv6-only."""
    from callgen.pjsua.codecs import binary_identity
    from callgen.pjsua.features import CACHE_FILE

    exe = tmp_path / "pjsua"
    exe.write_text("#!/bin/sh\nexit 0\n")
    cache = tmp_path / "c"
    cache.mkdir()
    older = {"version": 1, "features": {binary_identity(str(exe)): ["headers"]}}  # what the older callgen wrote
    (cache / CACHE_FILE).write_text(json.dumps(older))
    calls = []

    def probe(path):
        calls.append(path)
        return frozenset({Feature.HEADERS, Feature.IPV6_ONLY})

    assert cached_features(str(exe), directory=cache, probe=probe) == {Feature.HEADERS, Feature.IPV6_ONLY}
    assert calls == [str(exe)]


def test_an_ipv6_scenario_is_refused_for_a_pjsua_without_patch_0007(cli, stock_pjsua):
    r = cli("validate", str(SCENARIOS / "ipv6_call.yaml"))
    assert r.status == 2, r.out + r.err
    assert "ipv6_call.yaml:13: agents.alice.address: IPv6 agents need a pjsua with IPv6-only transports" in r.err, r.err
