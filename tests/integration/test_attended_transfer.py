"""Attended transfer (issue 22): alice calls bob; bob calls carol (the consultation call), then
REFERs alice to carol with Replaces naming the bob-carol dialog (pjsua menu 'X').  Proven from the
capture (the consultation call, Replaces in the REFER and in alice's new INVITE, the new call's
ACK and RTP both ways, the BYEs of the replaced and the transferred dialogs) and from pjsua's own
lines.  Against far ends that are not pjsua: a SIPp target that refuses the INVITE with Replaces
(481), and baresip 1.0, which takes it as a second call and leaves the replaced one up."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from callgen.sut.sipp import start_sipp
from tests.integration.baresip_peer import Baresip

ROOT = Path(__file__).resolve().parents[2]
SIPP_XML = ROOT / "tests" / "data" / "sipp"
LIBRARY = ROOT / "scenarios" / "attended_transfer.yaml"
ATTENDED = ("consult", "refer", "refer_replaces", "notify", "new_call", "invite_replaces", "new_call_media", "replaced_bye",
            "transferor_bye", "new_call_bye")


def _to_uri(tmp_path: Path) -> Path:
    """The library scenario with carol replaced by ${TARGET}, a far end outside the scenario."""
    text = LIBRARY.read_text(encoding="utf-8")
    assert "  carol:\n    role: callee\n" in text and "to: carol, attended: true" in text
    path = tmp_path / "attended_transfer.yaml"
    path.write_text(text.replace("  carol:\n    role: callee\n", "").replace("to: carol,", 'to: "${TARGET}",'), encoding="utf-8")
    return path


def _run(cli, tmp_path: Path, scenario: Path, *variables: str):
    out = tmp_path / "out"
    r = cli("run", str(scenario), "-o", str(out), *[a for v in variables for a in ("--var", v)])
    run = out / "attended_transfer"
    assert (run / "result.json").is_file(), r.out + r.err
    return r, {c["name"]: c for c in json.loads((run / "result.json").read_text())["checks"]}, run


def test_attended_transfer_between_three_pjsua_is_proven(cli, tmp_path, pjsua_bin):
    r, checks, run = _run(cli, tmp_path, LIBRARY)
    assert r.status == 0, r.out + r.err
    for name in ATTENDED:
        c = checks[f"call1.transfer.{name}"]
        assert c["passed"] and c["evidence"] == "capture", c
    log = checks["call1.transfer.log"]
    assert log["passed"] and log["evidence"] == "pjsua log", log
    assert "200 [final]" in log["seen"] and "carol: call 0 replaced by call 1 with <sip:alice@" in log["seen"], log
    assert "seen" in checks["call1.transfer.new_call_media"] and "RTP 0 " not in checks["call1.transfer.new_call_media"]["seen"]
    assert checks["call1.step4"]["seen"].endswith("alice's new call 1 confirmed"), checks["call1.step4"]
    assert checks["call1.hold"]["passed"]  # bob held alice before consulting carol (RFC 5589 section 7)
    assert "call1.bye" not in checks  # alice's hangup ended the new call (new_call_bye), bob's BYE the first one
    # the raw capture, read independently: Refer-To's Replaces (escaped) names the dialog the INVITE's Replaces names
    pcap = (run / "capture.pcap").read_bytes()
    refer_to = re.search(rb"Refer-To: <[^>?]+\?Replaces=([^>]+)>", pcap)
    header = re.search(rb"\r\nReplaces: ([^\r]+)\r\n", pcap)
    assert refer_to and header, "no Replaces in the capture"
    assert unquote(refer_to[1].decode()) == header[1].decode()
    call_id, tags = header[1].decode().split(";", 1)
    assert f"Call-ID: {call_id}\r\n".encode() in pcap and "to-tag=" in tags and "from-tag=" in tags
    assert "transfer status=200 (OK) [final]" in (run / "bob.transcript.txt").read_text()
    assert "is being replaced by call" in (run / "carol.transcript.txt").read_text()


@pytest.mark.tool("sipp")
def test_a_target_that_refuses_replaces_with_481_fails(cli, tmp_path, pjsua_bin):
    """SIPp answers the consultation INVITE 200 and the INVITE with Replaces 481 (tests/data/sipp/replaces_481.xml)."""
    with start_sipp(tmp_path, scenario_file=SIPP_XML / "replaces_481.xml", service="carol", calls=2, timeout_s=60) as sipp:
        r, checks, _ = _run(cli, tmp_path, _to_uri(tmp_path), f"TARGET={sipp.uri}")
        sipp_result = sipp.wait(15)
    assert r.status == 1, r.out + r.err
    assert sipp_result.ok and sipp_result.successful_calls == 2, sipp_result.describe()  # both branches of its XML ran
    for name in ("consult", "refer", "refer_replaces", "invite_replaces", "transferor_bye"):  # alice did her part
        assert checks[f"call1.transfer.{name}"]["passed"], checks[f"call1.transfer.{name}"]
    assert "481" in checks["call1.transfer.notify"]["reason"]
    assert "answered 481" in checks["call1.transfer.new_call"]["reason"]
    assert "answered 481" in checks["call1.transfer.new_call_media"]["reason"]
    bye = checks["call1.transfer.replaced_bye"]
    assert not bye["passed"] and "answered the INVITE with Replaces 481: nothing replaced" in bye["reason"], bye
    log = checks["call1.transfer.log"]
    assert not log["passed"] and log["evidence"] == "pjsua log" and "481" in log["reason"], log
    assert not checks["call1.step4"]["passed"] and "final transfer status 481" in checks["call1.step4"]["seen"]


@pytest.mark.tool("baresip")
def test_baresip_as_target_ignores_replaces_and_the_replaced_bye_fails(cli, tmp_path, pjsua_bin):
    """baresip 1.0 answers alice's INVITE with Replaces as a new call and keeps bob's call up: the
    transfer itself 'succeeds' (NOTIFY 200), but only the RFC 3891 BYE check can tell."""
    with Baresip(tmp_path / "baresip", codecs=("PCMU",), user="carol") as peer:
        r, checks, _ = _run(cli, tmp_path, _to_uri(tmp_path), f"TARGET={peer.uri}")
    assert r.status == 1, r.out + r.err
    for name in ("consult", "refer", "refer_replaces", "notify", "new_call", "invite_replaces", "new_call_media",
                 "transferor_bye"):
        assert checks[f"call1.transfer.{name}"]["passed"], checks[f"call1.transfer.{name}"]
    bye = checks["call1.transfer.replaced_bye"]
    assert not bye["passed"] and "did not honour the Replaces" in bye["reason"] and "(the transferor)" in bye["seen"], bye
    failed = sorted(n for n, c in checks.items() if not c["passed"])
    assert failed == ["call1.transfer.replaced_bye"], failed


def test_a_refused_consultation_call_fails_the_step_and_the_consult_check(cli, tmp_path, pjsua_bin):
    """carol answers 486: bob never REFERs; the step says why, the capture has no REFER, no call is left up."""
    path = tmp_path / "attended_transfer.yaml"
    path.write_text(LIBRARY.read_text(encoding="utf-8").replace("  carol:\n    role: callee\n",
                                                               "  carol:\n    role: callee\n    answer: 486\n"), encoding="utf-8")
    r, checks, run = _run(cli, tmp_path, path)
    assert r.status == 1, r.out + r.err
    step = checks["call1.step4"]
    assert not step["passed"] and step["seen"] == "the consultation call to carol ended with 486 Busy Here", step
    consult = checks["call1.transfer.consult"]
    assert not consult["passed"] and consult["reason"] == "carol answered 486", consult
    assert checks["call1.transfer.refer"]["reason"] == "no REFER from the transferor"
    assert b"REFER sip:" not in (run / "capture.pcap").read_bytes()
    assert "call1.end" not in checks  # callgen's clean-up ended alice's and bob's calls within its bound
