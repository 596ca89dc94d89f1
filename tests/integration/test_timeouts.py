"""Waits that never end in success: a step's own timeout is a failed check that
names the awaited state; the scenario timeout is an error; both clean up."""

from __future__ import annotations

import json

RINGS_FOREVER = """\
name: t
timeout: {timeout}
agents:
  alice:
    role: caller
  bob:
    role: callee
    answer: 180
calls:
  - from: alice
    to: bob
    steps:
{steps}
"""


def test_wait_timeout_is_a_failed_step_naming_the_state(cli, tmp_path, write_yaml, pjsua_bin):
    f = write_yaml(RINGS_FOREVER.format(timeout=20, steps="      - wait: confirmed\n        timeout: 1.5\n"))
    r = cli("run", str(f), "-o", str(tmp_path / "out"))
    assert r.status == 1, r.out + r.err
    res = json.loads((tmp_path / "out" / "t" / "result.json").read_text())
    step = {c["name"]: c for c in res["checks"]}["call1.step1"]
    assert not step["passed"]
    assert "timed out after 1.5 s waiting for call 0 to be confirmed" in step["seen"]
    # the call left ringing was cancelled by callgen before the agents quit
    assert any("CANCEL" in line for line in res["ladder"])


def test_scenario_timeout_is_an_error_and_stops_in_time(cli, tmp_path, write_yaml, pjsua_bin):
    # a wait whose own timeout outlasts the scenario's (a long pause is refused by validate)
    f = write_yaml(RINGS_FOREVER.format(timeout=3, steps="      - wait: ringing\n      - wait: confirmed\n        timeout: 30\n"))
    r = cli("run", str(f), "-o", str(tmp_path / "out"))
    assert r.status == 3, r.out + r.err
    res = json.loads((tmp_path / "out" / "t" / "result.json").read_text())
    assert res["verdict"] == "error"
    assert "scenario timeout (3 s)" in res["error"]
    assert res["duration_s"] < 15
