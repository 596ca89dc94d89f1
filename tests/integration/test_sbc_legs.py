"""Proof through the middle (issue 19): calls through a real SBC (Kamailio + userspace
rtpengine, the local target kind ``sbc``) are judged on every leg.

alice <-> SBC is the caller's leg, SBC <-> bob the callee's; rtpengine keeps the SSRC
when it only relays, and Kamailio keeps the Call-ID unless topoh masks it.  Before
legs, callgen judged alice <-> SBC alone (or added both legs together under one
Call-ID): relayed DTMF counted twice, a relay that dropped media or DTMF toward bob
passed, SRTP was claimed for a plain far leg, and bob's own BYE was "not seen".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callgen.verdict.catalog import entry

pytestmark = pytest.mark.tool("rtpengine", "kamailio")

SCENARIO = """\
name: {name}
timeout: 40
targets:
  SBC:
    local: {{kind: {kind}{switches}}}
agents:
  alice:
    role: caller
{alice_extra}    register: {{registrar: "sip:${{SBC}}", password: x}}
    proxy: sip:${{SBC}};lr
  bob:
    role: callee
{bob_extra}    register: {{registrar: "sip:${{SBC}}", password: x}}
    proxy: sip:${{SBC}};lr
calls:
  - from: alice
    to: sip:bob@${{SBC}}
    callee: bob
    steps:
{steps}    expect:
{expect}"""
ANSWERED = """      - wait: confirmed
      - pause: 1
{dtmf}      - pause: 1
      - hangup: {hangup}
      - wait: disconnected
"""

DTMF_STEP = '      - dtmf: "123#"\n'
DTMF_EXPECT = '      dtmf: {digits: "123#", receiver: bob}\n      rtp: {min_packets: 50}\n'


def run_sbc(cli, tmp_path: Path, name: str, *, switches: str = "", expect: str = DTMF_EXPECT, steps: str = DTMF_STEP,
            hangup: str = "alice", alice_extra: str = "", kind: str = "sbc", bob_extra: str = "", flow: str | None = None):
    path = tmp_path / f"{name}.yaml"
    flow = flow if flow is not None else ANSWERED.format(dtmf=steps, hangup=hangup)
    path.write_text(SCENARIO.format(name=name, kind=kind, switches=switches, expect=expect, steps=flow,
                                    alice_extra=alice_extra, bob_extra=bob_extra), encoding="utf-8")
    out = tmp_path / "out"
    r = cli("run", str(path), "-o", str(out))
    result = json.loads((out / name / "result.json").read_text())
    undescribed = [c["name"] for c in result["checks"] if entry(c["name"]) is None]
    assert not undescribed, f"checks without a catalog entry: {undescribed}"
    return r, result, {c["name"]: c for c in result["checks"]}


def _verdicts(checks: dict) -> dict[str, bool]:
    return {n: c["passed"] for n, c in checks.items()}


def test_relayed_dtmf_counts_once_with_and_without_callid_masking(cli, tmp_path, pjsua_bin):
    runs = {mask: run_sbc(cli, tmp_path, f"dtmf_mask_{mask}", switches=f", mask_callid: {str(mask).lower()}")
            for mask in (False, True)}
    for mask, (r, result, checks) in runs.items():
        assert r.status == 0, (mask, r.out + r.err)
        dtmf = checks["call1.dtmf"]
        assert dtmf["passed"] and dtmf["seen"].startswith("digits 123# (rfc4733)"), dtmf  # once, not 112233##
        assert "bob's leg" in dtmf["seen"], dtmf
        assert checks["call1.caller_leg.dtmf"]["passed"]
        legs = result["summary"]["legs"]["call1"]
        assert [g["agent"] for g in legs] == ["alice", "bob"] and [g["peer"] for g in legs] == ["SBC", "SBC"]
        # topoh gives bob's leg another Call-ID; without it both legs share one
        assert (legs[0]["call_id"] != legs[1]["call_id"]) == mask, legs
        # each leg's RTP is its own: 1 stream per direction per leg, never the two legs added
        for name in ("caller_leg", "callee_leg"):
            assert " in 1 stream(s)" in checks[f"call1.{name}.rtp[caller->callee].packets"]["seen"]
        # the ladder: the SBC is a lane of its own between the agents, both legs drawn, each with its Call-ID
        flow = result["summary"]["call_flows"][0]
        assert [p["name"] for p in flow["parties"]] == ["alice", "SBC", "bob"], flow["parties"]
        assert [(g["agent"], g["call_id"]) for g in flow["legs"]] == [(g["agent"], g["call_id"]) for g in legs]
        page = (tmp_path / "out" / f"dtmf_mask_{mask}" / "report.html").read_text()
        assert "alice → SBC" in page and "SBC → bob" in page  # the media table labels streams by leg
        assert f"bob&#x27;s leg Call-ID <code>{legs[1]['call_id']}" in page or f"bob's leg Call-ID <code>{legs[1]['call_id']}" in page
    # the same expectation, the same verdicts, whether or not the SBC masks the Call-ID
    assert _verdicts(runs[False][2]) == _verdicts(runs[True][2])


def test_media_dropped_toward_bob_fails_on_bobs_leg(cli, tmp_path, pjsua_bin):
    r, result, checks = run_sbc(cli, tmp_path, "drop_media", switches=", block_media: caller", steps="",
                                expect="      rtp: {min_packets: 50}\n")
    assert r.status == 1, r.out + r.err
    assert checks["call1.caller_leg.rtp[caller->callee].packets"]["passed"]  # alice did send
    far = checks["call1.callee_leg.rtp[caller->callee].packets"]
    assert not far["passed"] and "bob's leg" in far["reason"] and "SBC -> bob" in far["reason"], far
    relay = checks["call1.relay[caller->callee]"]
    assert not relay["passed"] and "toward bob" in relay["reason"], relay
    assert checks["call1.relay[callee->caller]"]["passed"]  # the other way is relayed


def test_dtmf_blocked_by_the_relay_fails_on_bobs_leg(cli, tmp_path, pjsua_bin):
    r, result, checks = run_sbc(cli, tmp_path, "drop_dtmf", switches=", block_dtmf: caller")
    assert r.status == 1, r.out + r.err
    dtmf = checks["call1.dtmf"]
    assert not dtmf["passed"] and "bob's leg" in dtmf["reason"], dtmf
    sent = checks["call1.caller_leg.dtmf"]
    assert sent["passed"] and "123# alice -> SBC" in sent["seen"], sent  # the digits left alice


def test_bob_hanging_up_behind_the_sbc_passes(cli, tmp_path, pjsua_bin):
    r, result, checks = run_sbc(cli, tmp_path, "bob_hangs_up", hangup="bob")
    assert r.status == 0, r.out + r.err
    bye = checks["call1.bye"]
    assert bye["passed"] and "bob's leg" in bye["expected"], bye
    relayed = checks["call1.caller_leg.bye"]
    assert relayed["passed"] and "relayed to alice" in relayed["expected"], relayed


SRTP_ALICE = "    srtp: {use: mandatory}\n"


@pytest.mark.parametrize("srtp, ok", [("true", False), ("{leg: caller}", True), ("{caller: true, callee: false}", True)])
def test_srtp_per_leg_through_an_srtp_to_rtp_bridge(cli, tmp_path, pjsua_bin, srtp, ok):
    r, result, checks = run_sbc(cli, tmp_path, "srtp_bridge", switches=", srtp_to_rtp: true", steps="",
                                expect=f"      srtp: {srtp}\n      rtp: {{min_packets: 20}}\n", alice_extra=SRTP_ALICE)
    assert r.status == (0 if ok else 1), r.out + r.err
    assert checks["call1.caller_leg.srtp.sdp"]["passed"] and checks["call1.caller_leg.srtp.decrypted"]["passed"]
    far = checks.get("call1.callee_leg.srtp.sdp")
    if srtp == "true":
        assert not far["passed"] and "RTP/AVP" in far["seen"], far
        assert "bob's leg" in far["reason"], far
        assert not checks["call1.callee_leg.srtp.payload"]["passed"]
    elif "callee: false" in srtp:
        assert far["passed"] and far["expected"] == "plain RTP/AVP without crypto", far
    else:
        assert far is None  # the callee's leg is not asked about


def test_media_anchored_in_the_sbc_but_direct_through_a_plain_proxy(cli, tmp_path, pjsua_bin):
    expect = "      media: anchored\n      rtp: {min_packets: 20}\n"
    r, _, checks = run_sbc(cli, tmp_path, "anchored", steps="", expect=expect)
    assert r.status == 0 and checks["call1.media_path"]["passed"], r.out + r.err
    # Kamailio alone relays SIP only: both legs exist, the agents' SDP point at each other
    r, result, checks = run_sbc(cli, tmp_path, "proxied", steps="", expect=expect, kind="kamailio")
    assert r.status == 1, r.out + r.err
    path = checks["call1.media_path"]
    assert not path["passed"] and "not anchored" in path["reason"], path
    assert [g["agent"] for g in result["summary"]["legs"]["call1"]] == ["alice", "bob"]
    for name in ("caller_leg", "callee_leg"):  # the same streams serve both legs: nothing lost across the middle
        assert checks[f"call1.{name}.rtp[caller->callee].packets"]["passed"]
    assert checks["call1.relay[caller->callee]"]["passed"] and checks["call1.relay[callee->caller]"]["passed"]


def test_cancel_before_the_answer_reaches_bobs_leg(cli, tmp_path, pjsua_bin):
    ringing = "      - wait: ringing\n      - pause: 0.5\n      - hangup: alice\n      - wait: disconnected\n"
    r, _, checks = run_sbc(cli, tmp_path, "cancelled", bob_extra="    answer: 180\n", flow=ringing,
                           expect="      final_code: 487\n")
    assert r.status == 0, r.out + r.err
    assert checks["call1.cancel"]["passed"] and checks["call1.final_code"]["passed"]
    far = checks["call1.callee_leg.cancel"]
    assert far["passed"] and "CANCEL answered 200 OK" == far["expected"], far


@pytest.mark.parametrize("codec, ok", [("{caller: PCMA, callee: PCMU}", True), ("PCMA", False)])
def test_codec_per_leg_through_a_transcoding_sbc(cli, tmp_path, pjsua_bin, codec, ok):
    r, _, checks = run_sbc(cli, tmp_path, "transcoded", switches=", transcode: {from: PCMA, to: PCMU}", steps="",
                           alice_extra="    codecs: [PCMA]\n", bob_extra="    codecs: [PCMU, PCMA]\n",
                           expect=f"      codec: {codec}\n      rtp: {{min_packets: 20}}\n")
    assert r.status == (0 if ok else 1), r.out + r.err
    assert checks["call1.caller_leg.codec"]["passed"]
    far = checks["call1.callee_leg.codec"]
    assert far["passed"] == ok and "PCMU" in far["seen"], far
    if not ok:
        assert "bob's leg" in far["reason"], far
    assert checks["call1.relay[caller->callee]"]["passed"]  # transcoded, not lost


def test_the_call_id_mapping_can_be_checked(cli, tmp_path, pjsua_bin):
    r, result, checks = run_sbc(cli, tmp_path, "masked", switches=", mask_callid: true", steps="",
                                expect="      call_id: same\n")
    assert r.status == 1, r.out + r.err
    got = checks["call1.call_id"]
    legs = result["summary"]["legs"]["call1"]
    assert not got["passed"] and "changed the Call-ID" in got["reason"] and legs[1]["call_id"] in got["seen"], got


def test_sigkill_of_callgen_mid_call_leaves_no_sbc_process(tmp_path, pjsua_bin):
    """rtpengine and Kamailio's workers die with callgen, even when it is killed hard."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.integration.conftest import alive, descendants, proc_name

    path = tmp_path / "long.yaml"
    path.write_text(SCENARIO.format(name="long", kind="sbc", switches="", alice_extra="", bob_extra="",
                                    steps="      - wait: confirmed\n      - pause: 30\n      - hangup: alice\n",
                                    expect="      final_code: 200\n"), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "callgen", "run", str(path), "-o", str(tmp_path / "out")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kids: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 30
        while not {"rtpengine", "kamailio", "pjsua"} <= set(kids.values()):
            assert time.monotonic() < deadline and proc.poll() is None, f"the call did not start: {kids}"
            kids.update({p: proc_name(p) for p in descendants(proc.pid)})
            time.sleep(0.1)  # polling /proc for processes that are not our children
        proc.kill()
        proc.wait(10)
        deadline = time.monotonic() + 5
        while any(alive(p) for p in kids) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = {p: n for p, n in kids.items() if alive(p)}
        assert not left, f"processes outlived callgen's SIGKILL: {left}"
    finally:
        for pid in kids:
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if proc.poll() is None:
            proc.kill()
            proc.wait()
