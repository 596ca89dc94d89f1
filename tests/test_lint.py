"""`make lint` stays clean: ruff with the pycodestyle, pyflakes, bugbear, import-order and
pyupgrade families (pyproject.toml, [tool.ruff.lint]) over the whole tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean_with_the_wide_rule_set():
    p = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "callgen", "tests", "bench", "scripts"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr


def test_the_rule_set_is_the_wide_one():
    import tomllib

    lint = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert {"E", "W", "F", "B", "I", "UP"} <= set(lint["select"])
