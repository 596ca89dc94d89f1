"""A SIPp UAS as a misbehaving far end, and a scenario run against it (shared by the
no-false-pass, stalled-capture and 5-tuple tests)."""

from __future__ import annotations

import json
from pathlib import Path

from callgen.sut.sipp import start_sipp

SIPP_XML = Path(__file__).resolve().parent.parent / "data" / "sipp"


def far_end(tmp_path: Path, xml: str, text: str | None = None, **replace: str):
    """A SIPp UAS playing ``tests/data/sipp/<xml>`` on a free loopback port: as it is, as ``text``,
    or with ``replace``'s placeholders filled."""
    path = SIPP_XML / xml
    if text is not None or replace:
        body = text if text is not None else path.read_text(encoding="utf-8")
        for k, v in replace.items():
            body = body.replace(k, v)
        path = tmp_path / xml
        path.write_text(body, encoding="utf-8")
    return start_sipp(tmp_path, scenario_file=path, service="peer", calls=1, timeout_s=60)


def run_against(cli, tmp_path: Path, peer_uri: str, body: str, name: str, timeout: int = 60):
    """Run a scenario (``body``: agents and calls, ``${PEER}`` the far end) -> (CLI result, result.json, checks by name)."""
    scenario = tmp_path / f"{name}.yaml"
    scenario.write_text(f"name: {name}\ntimeout: {timeout}\n{body}", encoding="utf-8")
    out = tmp_path / "out"
    r = cli("run", str(scenario), "-o", str(out), "--var", f"PEER={peer_uri}")
    result = json.loads((out / name / "result.json").read_text())
    return r, result, {c["name"]: c for c in result["checks"]}


def uac_call(pause: float, codec: str = "PCMU", expect: str = "") -> str:
    """The body of a scenario whose caller alice calls ``${PEER}``, stays ``pause`` s and hangs up."""
    return f"""agents:
  alice: {{role: caller, codecs: [{codec}]}}
calls:
  - from: alice
    to: ${{PEER}}
    steps:
      - wait: confirmed
      - pause: {pause:g}
      - hangup: alice
      - wait: disconnected
{expect}"""
