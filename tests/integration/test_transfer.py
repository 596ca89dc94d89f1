"""Blind transfer and redirect (issue 22): bob REFERs alice to carol, or answers 302 naming carol; the REFER and its 202, the NOTIFY
sipfrags up to the final status and alice's new call to carol are proven from the capture,
and the transfer step from pjsua's 'transfer status' lines.  The target is also baresip,
a user agent that is not pjsua."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.baresip_peer import Baresip

SCENARIO = """name: blind_transfer
timeout: 30
agents:
  alice: {{role: caller, codecs: [PCMU]}}
  bob: {{role: callee, codecs: [PCMU]}}
  carol: {{role: callee, answer: {carol_answer}}}
calls:
  - from: alice
    to: bob
    steps:
      - wait: confirmed
      - pause: 0.5
      - transfer: {{by: bob, to: {target}}}
      - wait: disconnected
    expect:
      final_code: 200
"""


def _run(cli, tmp_path: Path, text: str, *variables: str):
    (tmp_path / "t.yaml").write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    r = cli("run", str(tmp_path / "t.yaml"), "-o", str(out), *[a for v in variables for a in ("--var", v)])
    run = out / "blind_transfer"
    assert (run / "result.json").is_file(), r.out + r.err
    result = json.loads((run / "result.json").read_text())
    return r, {c["name"]: c for c in result["checks"]}, run


def test_blind_transfer_to_an_agent_is_proven(cli, tmp_path, pjsua_bin):
    r, checks, run = _run(cli, tmp_path, SCENARIO.format(carol_answer=200, target="carol"))
    assert r.status == 0, r.out + r.err
    for name in ("refer", "notify", "new_call"):
        assert checks[f"call1.transfer.{name}"]["passed"] and checks[f"call1.transfer.{name}"]["evidence"] == "capture"
    assert "sipfrags 100, 200" in checks["call1.transfer.notify"]["seen"]
    assert checks["call1.step3"]["seen"] == "final transfer status 200 (OK)"
    pcap = (run / "capture.pcap").read_bytes()  # the raw capture: REFER, Referred-By, the sipfrag
    assert b"REFER sip:" in pcap and b"Referred-By:" in pcap and b"SIP/2.0 200 OK" in pcap
    assert "transfer status=200 (OK) [final]" in (run / "bob.transcript.txt").read_text()


def test_a_refused_transfer_fails_naming_the_final_status(cli, tmp_path, pjsua_bin):
    r, checks, _ = _run(cli, tmp_path, SCENARIO.format(carol_answer=486, target="carol"))
    assert r.status == 1, r.out + r.err
    assert checks["call1.transfer.refer"]["passed"]  # the REFER itself was accepted
    assert not checks["call1.transfer.notify"]["passed"] and "486" in checks["call1.transfer.notify"]["reason"]
    assert not checks["call1.transfer.new_call"]["passed"] and "carol answered 486" in checks["call1.transfer.new_call"]["reason"]
    assert not checks["call1.step3"]["passed"] and "486" in checks["call1.step3"]["seen"]


@pytest.mark.tool("baresip")
def test_blind_transfer_to_baresip(cli, tmp_path, pjsua_bin):
    with Baresip(tmp_path / "baresip", codecs=("PCMU",), user="carol") as peer:
        r, checks, _ = _run(cli, tmp_path, SCENARIO.format(carol_answer=200, target='"${TARGET}"'), f"TARGET={peer.uri}")
    assert r.status == 0, r.out + r.err
    new = checks["call1.transfer.new_call"]
    assert new["passed"] and f"127.0.0.1:{peer.port}" in new["expected"], new
    assert checks["call1.transfer.notify"]["seen"] == "sipfrags 100, 180, 200"  # baresip rings first, unlike pjsua


REDIRECT = """name: redirect
timeout: 30
agents:
  alice: {{role: caller, codecs: [PCMU]}}
  bob: {{role: callee, redirect_to: {target}}}
  carol: {{role: callee, answer: {carol_answer}}}
calls:
  - from: alice
    to: bob
    steps:
      - wait: {wait}
      - hangup: alice
      - wait: disconnected
"""


def _run_redirect(cli, tmp_path: Path, text: str, *variables: str):
    (tmp_path / "r.yaml").write_text(text, encoding="utf-8")
    out = tmp_path / "rout"
    r = cli("run", str(tmp_path / "r.yaml"), "-o", str(out), *[a for v in variables for a in ("--var", v)])
    assert (out / "redirect" / "result.json").is_file(), r.out + r.err
    return r, {c["name"]: c for c in json.loads((out / "redirect" / "result.json").read_text())["checks"]}


def test_redirect_302_is_followed_to_the_target(cli, tmp_path, pjsua_bin):
    r, checks = _run_redirect(cli, tmp_path, REDIRECT.format(target="carol", carol_answer=200, wait="confirmed"))
    assert r.status == 0, r.out + r.err
    red = checks["call1.redirect"]
    assert red["passed"] and red["evidence"] == "capture" and red["seen"].startswith("302 with Contact sip:carol@"), red
    assert checks["call1.final_code"]["seen"] == "200"


def test_a_redirect_target_that_refuses_fails_the_redirect_check(cli, tmp_path, pjsua_bin):
    r, checks = _run_redirect(cli, tmp_path, REDIRECT.format(target="carol", carol_answer=486, wait="disconnected"))
    assert r.status == 1, r.out + r.err
    assert not checks["call1.redirect"]["passed"] and "carol answered 486" in checks["call1.redirect"]["reason"]
    assert checks["call1.final_code"]["seen"] == "486"


@pytest.mark.tool("baresip")
def test_redirect_to_baresip(cli, tmp_path, pjsua_bin):
    with Baresip(tmp_path / "baresip", codecs=("PCMU",), user="carol") as peer:
        r, checks = _run_redirect(cli, tmp_path, REDIRECT.format(target='"${TARGET}"', carol_answer=200, wait="confirmed"),
                                  f"TARGET={peer.uri}")
    assert r.status == 0, r.out + r.err
    assert checks["call1.redirect"]["passed"] and f"127.0.0.1:{peer.port}" in checks["call1.redirect"]["seen"]
