"""Shared fixtures: the CLI called in-process, the project's paths, and the one gate for
tests that need an outside tool (``@pytest.mark.tool("sipp")`` or the ``need_tool`` fixture):
missing, it skips on a developer's machine and FAILS in CI (``CI=true``), where
``make setup`` installs every tool, so a broken set-up can never pass as skipped tests."""

from __future__ import annotations

import glob
import importlib.util
import io
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from callgen.cli.main import IO, main

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


def _which(*names: str) -> Callable[[], bool]:
    return lambda: any(shutil.which(n) for n in names)


def _pjsua() -> bool:
    from callgen.pjsua.toolpaths import find_pjsua

    return find_pjsua(None, required=False) is not None


def _capture(name: str) -> Callable[[], bool]:
    def found() -> bool:
        from callgen.run import capture

        return (capture.find_tcpdump() if name == "tcpdump" else capture.find_dumpcap()) is not None

    return found


#: every outside tool a test may need, and how to find it; `make setup` installs them all
TOOLS: dict[str, Callable[[], bool]] = {
    "pjsua": _pjsua,
    "tcpdump": _capture("tcpdump"),
    "dumpcap": _capture("dumpcap"),
    "tshark": _which("tshark"),
    "sipp": _which("sipp"),
    "kamailio": lambda: bool(shutil.which("kamailio")) or Path("/usr/sbin/kamailio").exists(),
    "rtpengine": _which("rtpengine"),
    "baresip": _which("baresip"),
    "chromium": _which("chromium", "chromium-browser"),
    "import-linter": lambda: Path(sys.executable).with_name("lint-imports").exists(),
    "espeak-ng": _which("espeak-ng"),
    "sox": _which("sox"),
    # the history's PostgreSQL store: Debian's server binaries (initdb, pg_ctl) and the psycopg driver (test extra)
    "postgresql": lambda: bool(glob.glob("/usr/lib/postgresql/*/bin/initdb")),
    "psycopg": lambda: importlib.util.find_spec("psycopg") is not None,
}


def in_ci() -> bool:
    """CI sets ``CI=true`` (GitHub, GitLab and most others do it by themselves)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def tool_missing(tool: str) -> NoReturn:
    """The only way a test gives up for a missing tool: skip here, fail in CI."""
    why = f"{tool} is not installed (make setup installs it)"
    if in_ci():
        pytest.fail(f"CI=true and {why}: a test that needs it fails instead of skipping", pytrace=False)
    pytest.skip(why)


def require_tool(*tools: str) -> None:
    for tool in tools:
        if tool not in TOOLS:
            raise KeyError(f"unknown tool {tool!r}: add it to TOOLS in tests/conftest.py")
        if not TOOLS[tool]():
            tool_missing(tool)


def pytest_configure(config):
    config.addinivalue_line("markers", "tool(*names): needs these outside tools (skips without them; fails in CI)")


def pytest_runtest_setup(item):
    for mark in item.iter_markers("tool"):
        require_tool(*mark.args)


@pytest.fixture
def need_tool() -> Callable[..., None]:
    """``need_tool("tcpdump", "dumpcap")`` inside a test or fixture: the marker's gate at run time."""
    return require_tool


@dataclass
class CliResult:
    status: int
    out: str
    err: str


@pytest.fixture
def cli():
    """Run ``callgen ARGS`` in this process; return status, stdout, stderr."""

    def run(*argv: str) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        status = main(list(argv), IO(out, err))
        return CliResult(status, out.getvalue(), err.getvalue())

    return run


@pytest.fixture
def write_yaml(tmp_path):
    def write(text: str, name: str = "s.yaml") -> Path:
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        return p

    return write


@pytest.fixture(autouse=True)
def _sip_password(monkeypatch):
    """The registrar scenarios take their password from ${SIP_PASSWORD}."""
    import os

    if "SIP_PASSWORD" not in os.environ:
        monkeypatch.setenv("SIP_PASSWORD", "test-secret")
