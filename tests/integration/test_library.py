"""The whole scenario library, run as users run it: every scenario passes
against real pjsua agents and a real Kamailio; breaking one expectation makes
exactly that scenario fail with what was expected and what the capture showed."""

from __future__ import annotations

import json
import os
import secrets
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from callgen.verdict.catalog import entry
from tests.conftest import SCENARIOS

XSD = Path(__file__).resolve().parents[1] / "data" / "junit" / "junit.xsd"


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory):
    from callgen.sut.kamailio import start_kamailio

    password = secrets.token_hex(8)
    kam = start_kamailio(tmp_path_factory.mktemp("kamailio"), password=password)
    try:
        yield f"{kam.address}:{kam.port}", password
    finally:
        kam.stop()


@pytest.fixture
def kam_env(kamailio, monkeypatch):
    target, password = kamailio
    monkeypatch.setenv("KAMAILIO", target)
    monkeypatch.setenv("SIP_PASSWORD", password)
    return target


def test_whole_library_passes_and_junit_validates(cli, tmp_path, pjsua_bin, monkeypatch):
    """As a user runs it: no Kamailio given, so the registrar scenarios start their own."""
    import xmlschema

    monkeypatch.delenv("KAMAILIO", raising=False)
    junit = tmp_path / "out.xml"
    r = cli("run", str(SCENARIOS), "-j", "2", "-o", str(tmp_path / "runs"), "--junit", str(junit),
            "--json", str(tmp_path / "out.json"))
    assert r.status == 0, r.out + r.err
    xmlschema.XMLSchema(str(XSD)).validate(str(junit))
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    names = sorted(c.get("name") for c in cases if not c.get("classname", "").endswith(".load"))
    shipped = sorted(p.stem for p in SCENARIOS.glob("*.yaml"))
    assert names == shipped
    # a load scenario adds one testcase per threshold beside its own, named after it
    thresholds = {c.get("name") for c in cases if c.get("classname", "").endswith(".load")}
    assert {"load_through_sbc load.proven_pct", "load_through_sbc load.callee_leg.proven_pct"} <= thresholds, thresholds
    assert {n.split(" ", 1)[0] for n in thresholds} == {"load_through_sbc"}
    report = json.loads((tmp_path / "out.json").read_text())
    assert all(x["verdict"] == "pass" for x in report["results"])
    # every check the real library emits is described in the catalog (docs/checks.md)
    assert sorted({c["name"] for x in report["results"] for c in x["checks"] if entry(c["name"]) is None}) == []


def test_registrar_scenario_against_an_external_kamailio(cli, tmp_path, kam_env, pjsua_bin):
    """KAMAILIO=host:port (the system under test) replaces the local one; the
    password from the environment reaches no report."""
    r = cli("run", str(SCENARIOS / "register_and_call.yaml"), "-o", str(tmp_path / "runs"),
            "--junit", str(tmp_path / "out.xml"), "--json", str(tmp_path / "out.json"))
    assert r.status == 0, r.out + r.err
    run = tmp_path / "runs" / "register_and_call"
    assert not list(run.glob("*-kamailio")), "no local Kamailio may start when KAMAILIO is given"
    res = json.loads((run / "result.json").read_text())
    port = kam_env.split(":")[1]
    assert any(f":{port}" in line for line in res["ladder"]), "the calls must go through the given Kamailio"
    password = os.environ["SIP_PASSWORD"]
    for f in (tmp_path / "out.xml", tmp_path / "out.json", run / "result.json", tmp_path / "runs" / "index.html"):
        assert password not in f.read_text(errors="replace"), f


def test_dtmf_srtp_names_the_digits_from_the_decrypted_capture(cli, tmp_path, pjsua_bin):
    r = cli("run", str(SCENARIOS / "dtmf_srtp.yaml"), "-o", str(tmp_path))
    assert r.status == 0, r.out
    res = json.loads((tmp_path / "dtmf_srtp" / "result.json").read_text())
    checks = {c["name"]: c for c in res["checks"]}
    assert checks["call1.dtmf"]["seen"].startswith("digits 159#")
    assert "decrypted" in checks["call1.srtp.decrypted"]["seen"]
    assert checks["call1.srtp.no_plain_rtp"]["passed"]
    assert any(d["digit"] == "#" for d in res["summary"]["dtmf"])


def _mutated(write_yaml, name: str, old: str, new: str) -> Path:
    text = (SCENARIOS / f"{name}.yaml").read_text()
    assert old in text
    f = write_yaml(text.replace(old, new), f"{name}_broken.yaml")
    audio = f.parent / "audio"  # the library's relative audio paths must still resolve
    if not audio.exists():
        audio.symlink_to(SCENARIOS / "audio")
    return f


@pytest.mark.parametrize(
    "name, old, new, failed, message",
    [
        ("dtmf_srtp", 'digits: "159#"', 'digits: "158#"', "call1.dtmf", "expected 158#, the capture shows 159#"),
        ("codec_negotiation", "codec: PCMU", "codec: PCMA", "call1.codec", "the SDP answer selected PCMU, not PCMA"),
        ("dtmf_srtp", "srtp: {use: mandatory, secure: 0}\n  bob", "srtp: {use: disabled}\n  bob", None, None),
        ("audio_play_record", "tone_hz: 1000", "tone_hz: 2000", "call1.audio[bob].tone", "seen dominant 1000 Hz"),
    ],
    ids=["wrong-digit", "wrong-codec", "plain-rtp-where-srtp-mandatory", "wrong-tone"],
)
def test_broken_expectation_fails_with_expected_and_seen(cli, tmp_path, write_yaml, pjsua_bin, name, old, new, failed, message):
    f = _mutated(write_yaml, name, old, new)
    r = cli("run", str(f), "-o", str(tmp_path / "out"))
    assert r.status == 1, r.out + r.err
    if failed:
        assert f"FAIL {failed}" in r.out
        assert message in r.out
    else:
        # Alice demands SRTP and Bob has none: the call must not be proven secure
        res = json.loads(next((tmp_path / "out").glob("*/result.json")).read_text())
        bad = {c["name"] for c in res["checks"] if not c["passed"]}
        assert bad, res["checks"]
        assert bad & {"call1.final_code", "call1.srtp.sdp", "call1.srtp.payload", "call1.invite"}
