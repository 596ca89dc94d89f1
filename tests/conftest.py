"""Shared fixtures: the CLI called in-process, the project's paths."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest

from callgen.cli.main import IO, main

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


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
