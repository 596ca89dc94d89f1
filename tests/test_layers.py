"""The folder tree is the architecture: an import-linter layers contract (pyproject.toml)
keeps the data flowing one way, and an acyclic-siblings contract keeps the modules of each
package free of import circles.  Both hold on the tree; each catches its violation."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.tool("import-linter")


def lint(tree: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT), "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_tree_keeps_the_layers():
    r = lint(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 kept, 0 broken" in r.stdout


@pytest.mark.parametrize("lower,upper", [
    ("callgen/scenario/model.py", "callgen.run.plan"),  # the model must not know the run
    ("callgen/run/runner.py", "callgen.verdict.checks"),  # running must not judge (the flow went back once)
    ("callgen/analysis/scan.py", "callgen.scenario.loader"),
])  # fmt: skip
def test_an_upward_import_breaks_the_contract(tmp_path, lower, upper):
    shutil.copytree(ROOT / "callgen", tmp_path / "callgen", ignore=shutil.ignore_patterns("__pycache__"), symlinks=True)
    target = tmp_path / lower
    target.write_text(target.read_text() + f"\nimport {upper}  # noqa: E402 - the violation under test\n")
    r = lint(tmp_path)
    assert r.returncode != 0, r.stdout
    assert "BROKEN" in r.stdout and upper in r.stdout, r.stdout


@pytest.mark.parametrize("module,imported", [
    ("callgen/cli/core.py", "callgen.cli.main"),  # the circle cli/main -> commands -> core -> main (IO is in console.py)
    ("callgen/reports/runfiles.py", "callgen.reports.index"),  # index -> page -> runfiles must stay one way
])  # fmt: skip
def test_an_import_circle_breaks_the_contract(tmp_path, module, imported):
    shutil.copytree(ROOT / "callgen", tmp_path / "callgen", ignore=shutil.ignore_patterns("__pycache__"), symlinks=True)
    target = tmp_path / module
    # inside a function: a late import hides a circle from Python, not from the contract
    target.write_text(target.read_text() + f"\n\ndef _late():\n    import {imported}  # the circle under test\n")
    r = lint(tmp_path)
    assert r.returncode != 0, r.stdout
    assert "no import circles" in r.stdout and "BROKEN" in r.stdout, r.stdout
