"""The one gate for tests that need an outside tool (tests/conftest.py): a missing tool
skips on a developer's machine and fails in CI, by marker and by fixture alike."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# loaded by path: several conftest.py files share the module name "conftest"
_spec = importlib.util.spec_from_file_location("callgen_tests_root_conftest", ROOT / "tests" / "conftest.py")
gate = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(gate)
TOOLS, require_tool, tool_missing = gate.TOOLS, gate.require_tool, gate.tool_missing


@pytest.mark.parametrize("ci", ["true", "1", "TRUE"])
def test_a_missing_tool_fails_in_ci(monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="CI=true and sipp is not installed"):
        tool_missing("sipp")


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_a_missing_tool_skips_outside_ci(monkeypatch, ci):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="sipp is not installed"):
        tool_missing("sipp")


def test_require_tool_passes_a_present_tool_and_names_an_unknown_one(monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setitem(TOOLS, "always-there", lambda: True)
    monkeypatch.setitem(TOOLS, "never-there", lambda: False)
    require_tool("always-there")
    with pytest.raises(pytest.fail.Exception):
        require_tool("always-there", "never-there")
    with pytest.raises(KeyError, match="add it to TOOLS"):
        require_tool("no-such-tool-name")


GATED = '''
import pytest
import conftest

conftest.TOOLS["never-there"] = lambda: False

@pytest.mark.tool("never-there")
def test_by_marker():
    pass

def test_by_fixture(need_tool):
    need_tool("never-there")
'''


@pytest.mark.parametrize("ci,outcome", [("true", "1 failed, 1 error"), ("", "2 skipped")])
def test_marker_and_fixture_go_through_the_gate(tmp_path, ci, outcome):
    """A real pytest session with this conftest: what CI would see (the marker fails in set-up)."""
    (tmp_path / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    (tmp_path / "test_gated.py").write_text(GATED)
    env = {**os.environ, "CI": ci}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", str(tmp_path)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert outcome in r.stdout, r.stdout + r.stderr
    assert (r.returncode != 0) == (ci == "true"), r.stdout


def test_no_test_skips_for_a_missing_tool_by_itself():
    """Every tool skip goes through the gate: a hand-written one would skip silently in CI."""
    own = []
    for f in sorted((ROOT / "tests").rglob("*.py")):
        if f.name == "conftest.py" and f.parent == ROOT / "tests" or f == Path(__file__):
            continue
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if ("skipif(" in line or "pytest.skip(" in line) and any(
                    w in line for w in ("which(", "find_pjsua", "find_tcpdump", "find_dumpcap", "have_tshark", "not installed")):
                own.append(f"{f.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not own, "use @pytest.mark.tool(...) or need_tool(...):\n" + "\n".join(own)
