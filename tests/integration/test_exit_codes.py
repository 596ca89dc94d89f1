"""Every row of the README's exit-status table, produced for real: real calls
for 0 and 1, a real invalid file for 2, a missing pjsua for 3, a real SIGINT
for 130.  The table and this test must list the same codes."""

from __future__ import annotations

import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

SHORT_CALL = """\
name: {name}
timeout: 20
agents:
  alice: {{role: caller}}
  bob: {{role: callee, answer: 200}}
calls:
  - from: alice
    to: bob
    steps: [{{wait: confirmed, timeout: 5}}, {{pause: {pause}}}, {{hangup: alice}}, {{wait: disconnected}}]
    expect: {{final_code: {code}}}
"""


def readme_exit_codes() -> list[int]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("## Exit status", 1)[1].split("\n\n", 2)[1]
    return [int(m[1]) for m in re.finditer(r"^\|\s*(\d+)\s*\|", table, re.M)]


def _scenario(tmp_path: Path, name: str, code: int, pause: float = 0.5) -> Path:
    f = tmp_path / f"{name}.yaml"
    f.write_text(SHORT_CALL.format(name=name, code=code, pause=pause))
    return f


def exit_0(cli, tmp_path, pjsua_bin):
    return cli("run", str(_scenario(tmp_path, "passes", 200)), "-o", str(tmp_path / "out"), "--pjsua", pjsua_bin).status


def exit_1(cli, tmp_path, pjsua_bin):
    # the call is answered 200; the scenario expects 486, so the final_code check fails
    r = cli("run", str(_scenario(tmp_path, "fails", 486)), "-o", str(tmp_path / "out"), "--pjsua", pjsua_bin)
    assert "final_code" in r.out, r.out
    return r.status


def exit_2(cli, tmp_path, pjsua_bin):
    bad = _scenario(tmp_path, "bad", 200)  # a whole scenario, but its timeout is not a number
    bad.write_text(bad.read_text().replace("timeout: 20", "timeout: .nan"))
    r = cli("run", str(bad), "-o", str(tmp_path / "out"), "--pjsua", pjsua_bin)
    assert "bad.yaml:2: '.nan' is not a finite number" in r.err and not (tmp_path / "out").exists()
    return r.status


def exit_3(cli, tmp_path, pjsua_bin):
    return cli("run", str(_scenario(tmp_path, "nopjsua", 200)), "-o", str(tmp_path / "out"),
               "--pjsua", str(tmp_path / "no-such-pjsua")).status


def exit_130(cli, tmp_path, pjsua_bin):
    f = _scenario(tmp_path, "interrupted", 200, pause=10)
    proc = subprocess.Popen([sys.executable, "-m", "callgen", "run", str(f), "-o", str(tmp_path / "out"),
                             "--pjsua", pjsua_bin], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        seen = ""
        while "START" not in seen:  # the progress line says the run has begun
            left = deadline - time.monotonic()
            assert left > 0, f"the run never started: {seen!r}"
            ready, _, _ = select.select([proc.stderr], [], [], left)
            if ready:
                line = proc.stderr.readline()
                assert line, f"callgen ended before starting: {seen!r}"
                seen += line
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode


PRODUCERS = {0: exit_0, 1: exit_1, 2: exit_2, 3: exit_3, 130: exit_130}


def test_the_table_lists_exactly_the_codes_tested_here():
    assert readme_exit_codes() == sorted(PRODUCERS)


@pytest.mark.parametrize("code", readme_exit_codes())
def test_exit_status_row(code, cli, tmp_path, pjsua_bin):
    assert PRODUCERS[code](cli, tmp_path, pjsua_bin) == code
