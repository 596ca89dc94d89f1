"""A load through the local SBC (Kamailio + userspace rtpengine) proven on both legs of every call.

Before, a load was judged on the caller's leg alone (alice <-> SBC: the caller's Call-ID,
RTP to the SDP addresses alice saw), so media the SBC dropped toward bob passed: every call
"proven".  Now each call's callee leg (SBC <-> bob, its own Call-ID with topoh, its own SDP
with rtpengine's ports) is found by bob's own SIP address, joined to the caller's leg without
the Call-ID, and proven on its own: a call is proven only when both legs are.
"""

from __future__ import annotations

import json
import signal

import pytest

from callgen.verdict.catalog import entry

pytestmark = pytest.mark.tool("rtpengine", "kamailio")

#: the loopback address of this file's agents (other load tests use other ones: port locks are per address)
ADDRESS = "127.0.0.13"

SCENARIO = """\
name: {name}
timeout: 60
targets:
  SBC:
    local: {{kind: sbc, mask_callid: true{switches}}}
agents:
  alice:
    role: caller
    codecs: [PCMA]
    address: {address}
    register: {{registrar: "sip:${{SBC}}", password: x}}
    proxy: "sip:${{SBC}};lr"
  bob:
    role: callee
    codecs: [PCMA]
    address: {address}
    register: {{registrar: "sip:${{SBC}}", password: x}}
    proxy: "sip:${{SBC}};lr"
load:
  from: alice
  to: bob
  rate: 10
  ramp_s: 1
  calls: {calls}
  hold_s: 3
  max_concurrent: 40
  dtmf: per-call
{headers}  expect:
    answered_pct_min: 100
    rtp: {{max_loss_pct: 1}}
    dtmf_ok_pct_min: 100
"""


def run_load(cli, tmp_path, name: str, *, switches: str = "", headers: str = "", calls: int = 24):
    f = tmp_path / f"{name}.yaml"
    f.write_text(SCENARIO.format(name=name, switches=switches, headers=headers, calls=calls, address=ADDRESS))
    r = cli("run", str(f), "-o", str(tmp_path / "out"))
    run = tmp_path / "out" / name
    relayed = (run / "sbc-sbc" / "kamailio" / "kamailio.log").read_text(errors="replace").count("initial INVITE for bob relayed")
    # every call reached bob through the SBC: its Kamailio kept its port to the end (before, a relay
    # given a media port equal to it took its traffic a few calls in: 2 of 24 relayed, ~1 run in 6)
    assert relayed == calls, (relayed, r.out + r.err)
    result = json.loads((run / "result.json").read_text())
    undescribed = [c["name"] for c in result["checks"] if entry(c["name"]) is None]
    assert not undescribed, f"checks without a catalog entry: {undescribed}"
    rows = [json.loads(line) for line in (run / "calls.jsonl").read_text().splitlines()]
    return r, result, {c["name"]: c for c in result["checks"]}, rows


def test_a_load_through_the_masking_sbc_is_proven_on_both_legs_of_every_call(cli, tmp_path, pjsua_bin):
    r, result, checks, rows = run_load(cli, tmp_path, "sbc_load_masked", headers='  headers: {X-Load-Call: "c{n}"}\n')
    assert r.status == 0, r.out + r.err
    assert len(rows) == 24 and all(row["verdict"] == "proven" for row in rows)
    for k, row in enumerate(rows):
        caller, callee = row["legs"]
        assert (caller["agent"], caller["peer"], callee["agent"], callee["peer"]) == ("alice", "SBC", "bob", "SBC")
        assert caller["verdict"] == callee["verdict"] == "proven", row
        assert caller["call_id"] == row["call_id"] and callee["call_id"] != row["call_id"]  # topoh: its own Call-ID
        assert callee["joined_by"] == "header"  # the per-call header came through the SBC
        assert callee["final_code"] == 200 and callee["ack"] and callee["bye_answered"]
        for leg in (caller, callee):
            assert leg["rtp_caller_to_callee"]["packets"] > 100 and leg["rtp_callee_to_caller"]["packets"] > 100, leg
        assert callee["dtmf_seen"] == row["dtmf_seen"] == f"{k:03d}#"  # once, on bob's leg
    assert len({row["legs"][1]["call_id"] for row in rows}) == 24  # each callee leg joined to one call only
    assert checks["load.callee_leg.proven_pct"]["passed"] and "bob's leg (SBC <-> bob)" in checks["load.callee_leg.proven_pct"]["expected"]
    assert checks["load.caller_leg.proven_pct"]["passed"]
    legs = result["summary"]["load"]["legs"]
    assert legs["caller"]["proven"] == legs["callee"]["proven"] == 24 and legs["joined_by"] == {"header": 24}
    # 30 calls up at once: rtpengine got ports for all of them (else it anchors nothing and Kamailio
    # passes the SDP on: the "SBC" would not relay the media of the calls past its port range)
    relay_log = (tmp_path / "out" / "sbc_load_masked" / "sbc-sbc" / "rtpengine" / "rtpengine.log").read_text()
    assert "Failed to get" not in relay_log, [ln for ln in relay_log.splitlines() if "Failed to get" in ln][:2]
    page = (tmp_path / "out" / "sbc_load_masked" / "report.html").read_text()
    assert "proven on the callee&#x27;s leg</th><td>24 (100.0%)" in page and "callee legs joined by</th><td>header: 24" in page


def test_media_dropped_toward_bob_fails_every_call_on_bobs_leg(cli, tmp_path, pjsua_bin):
    r, result, checks, rows = run_load(cli, tmp_path, "sbc_load_blocked", switches=", block_media: caller", calls=20)
    assert r.status == 1, r.out + r.err
    proven = checks["load.proven_pct"]
    assert not proven["passed"] and "bob's leg (SBC <-> bob)" in proven["seen"], proven
    far = checks["load.callee_leg.proven_pct"]
    assert not far["passed"] and far["seen"].startswith("0.00% (0 of 20)") and "media toward bob went missing" in far["seen"], far
    assert checks["load.caller_leg.proven_pct"]["passed"]  # alice's leg carried her media both ways
    for row in rows:
        caller, callee = row["legs"]
        assert caller["verdict"] == "proven" and callee["verdict"] == "unproven", row
        assert callee["joined_by"] == "from-tag"  # no header: the From tag topoh keeps
        # the relay dropped alice's audio; only her digits' events went through toward bob
        assert callee["rtp_caller_to_callee"]["packets"] < caller["rtp_caller_to_callee"]["packets"] / 2, row
        assert any("SBC -> bob" in w for w in callee["why"]), callee
    assert result["summary"]["load"]["legs"]["callee"]["proven"] == 0


def test_digits_the_sbc_dropped_toward_bob_fail_on_bobs_leg_though_they_left_alice(cli, tmp_path, pjsua_bin):
    r, result, checks, rows = run_load(cli, tmp_path, "sbc_load_no_dtmf", switches=", block_dtmf: caller", calls=12)
    assert r.status == 1, r.out + r.err
    assert not checks["load.dtmf_ok_pct"]["passed"], checks["load.dtmf_ok_pct"]  # counted on the receiver's leg
    far = checks["load.callee_leg.proven_pct"]
    assert not far["passed"] and "DTMF none instead of its own 000#" in far["seen"], far
    for k, row in enumerate(rows):
        caller, callee = row["legs"]
        assert caller["dtmf_seen"] == f"{k:03d}#" and caller["verdict"] == "proven", caller  # they left alice
        assert row["dtmf_seen"] == callee["dtmf_seen"] == "", row
        assert callee["rtp_caller_to_callee"]["packets"] > 100  # the audio itself was relayed


def kill_kamailio_when(run_dir, log, needle: str, count: int, sig: int, timeout: float = 30.0) -> dict:
    """In a thread: once ``needle`` is ``count`` times in the run's Kamailio log (``log``, under ``run_dir``), send
    ``sig`` to Kamailio's main process (a child of this test process: the cli runs in it).  Returns what it did
    (``pid``, read after joining ``thread``)."""
    import os
    import threading
    import time

    from tests.integration.conftest import descendants, proc_name

    done: dict = {}
    log = run_dir / log

    def main_kamailio() -> int | None:
        for pid in descendants(os.getpid()):
            try:
                parent = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
                cmdline = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
            except (OSError, ValueError, IndexError):
                continue
            if proc_name(pid) == "kamailio" and parent == os.getpid() and str(run_dir) in cmdline:
                return pid
        return None

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace") if log.is_file() else ""
            if text.count(needle) >= count and (pid := main_kamailio()):
                os.kill(pid, sig)
                done["pid"] = pid
                return
            time.sleep(0.05)  # polling a log and /proc: another process's progress sends us no event

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    done["thread"] = thread
    return done


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_the_local_sbc_stopped_mid_load_is_an_infrastructure_error_naming_it(cli, tmp_path, pjsua_bin, sig):
    """Before: the load ran on against nothing and ended exit 1, its checks blaming the SUT (calls unanswered)."""
    name = "sbc_load_sut_dies"
    f = tmp_path / f"{name}.yaml"
    f.write_text(SCENARIO.format(name=name, switches="", headers="", calls=40, address=ADDRESS))
    killer = kill_kamailio_when(tmp_path / "out" / name, "sbc-sbc/kamailio/kamailio.log", "initial INVITE for bob relayed", 3, sig)
    r = cli("run", str(f), "-o", str(tmp_path / "out"))
    killer["thread"].join(5)
    assert "pid" in killer, "the run's Kamailio was never seen relaying"
    assert r.status == 3, r.out + r.err
    how = "exited with status 0" if sig == signal.SIGTERM else "killed by signal 9"
    want = f"local sut SBC: kamailio {how} before callgen stopped it"
    assert want in r.out + r.err, r.out + r.err
    result = json.loads((tmp_path / "out" / name / "result.json").read_text())
    assert result["verdict"] == "error" and want in result["error"], result["error"]
    assert "the load stopped after" in result["error"], result["error"]  # at once, not at the run's timeout
    if sig == signal.SIGTERM:  # it ends with status 0 on SIGTERM: its log says it was told to stop
        assert "Thank you for flying" in result["error"], result["error"]
