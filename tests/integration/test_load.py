"""Load runs with real pjsua processes (issue #15): every call proven from the capture,
thresholds as named checks, a rejected share failing exactly the ASR threshold, and a
pjsua killed mid-run giving exit 3 with the per-call rows kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from tests.integration.conftest import alive, descendants, proc_name
from tests.integration.test_faults import _child, _cmdline  # noqa: F401 - shared /proc helpers
from tests.integration.test_interrupt import _wait_until

#: a local Kamailio and two agents registered with it: the head of the load scenarios below
KAMAILIO_PAIR = """\
targets:
  KAMAILIO:
    local: {kind: kamailio, password: "${SIP_PASSWORD:-local-only-secret}"}
agents:
  alice:
    role: caller
    codecs: [PCMA]
    register: {registrar: "sip:${KAMAILIO}", password: "${SIP_PASSWORD:-local-only-secret}"}
    proxy: "sip:${KAMAILIO};lr"
  bob:
    role: callee
    codecs: [PCMA]
    register: {registrar: "sip:${KAMAILIO}", password: "${SIP_PASSWORD:-local-only-secret}"}
    proxy: "sip:${KAMAILIO};lr"
"""

THROUGH_KAMAILIO = """\
name: load_via_kamailio
timeout: 60
""" + KAMAILIO_PAIR + """\
load:
  from: alice
  to: bob
  rate: 10
  ramp_s: 1
  calls: 30
  hold_s: 3
  max_concurrent: 40
  dtmf: per-call
  expect:
    answered_pct_min: 100
    setup_ms: {p95_max: 500}
    rtp: {max_loss_pct: 1}
    dtmf_ok_pct_min: 100
"""


def _checks(result):
    return {c["name"]: c for c in result["checks"]}


def test_short_load_through_kamailio_proves_every_call(cli, tmp_path, pjsua_bin):
    f = tmp_path / "load.yaml"
    f.write_text(THROUGH_KAMAILIO)
    r = cli("run", str(f), "-o", str(tmp_path / "out"))
    assert r.status == 0, r.out + r.err
    run = tmp_path / "out" / "load_via_kamailio"
    rows = [json.loads(line) for line in (run / "calls.jsonl").read_text().splitlines()]
    assert len(rows) == 30 and all(row["verdict"] == "proven" for row in rows)
    assert len({row["call_id"] for row in rows}) == 30
    assert [row["dtmf_seen"] for row in rows] == [f"{k:03d}#" for k in range(30)]
    assert all(row["rtp_caller_to_callee"]["packets"] > 50 and row["rtp_callee_to_caller"]["packets"] > 50 for row in rows)
    summary = json.loads((run / "result.json").read_text())["summary"]["load"]
    assert summary["attempted"] == 30 and summary["asr_pct"] == 100.0 and summary["final_codes"] == {"200": 30}
    assert summary["concurrency_max"] >= 20  # 10 cps held 3 s each


REJECTED_SHARE = """\
name: load_busy_share
timeout: 40
agents:
  alice: {role: caller, codecs: [PCMA]}
  bob: {role: callee, codecs: [PCMA]}
  busy: {role: callee, answer: 486}
load:
  from: alice
  to: [bob, bob, bob, busy]
  rate: 8
  calls: 16
  hold_s: 2
  expect:
    answered_pct_min: 90
    setup_ms: {p95_max: 500}
"""


def test_a_rejected_share_fails_exactly_the_asr_threshold(cli, tmp_path, pjsua_bin):
    f = tmp_path / "busy.yaml"
    f.write_text(REJECTED_SHARE)
    r = cli("run", str(f), "-o", str(tmp_path / "out"))
    assert r.status == 1, r.out + r.err
    result = json.loads((tmp_path / "out" / "load_busy_share" / "result.json").read_text())
    failed = [c for c in result["checks"] if not c["passed"]]
    assert [c["name"] for c in failed] == ["load.answered_pct"], failed
    seen = failed[0]["seen"]
    assert seen.startswith("75.00% (12 of 16)"), seen
    for k in (3, 7, 11, 15):  # every fourth call went to busy, named with its code
        assert f"call {k} (486)" in seen, seen
    assert _checks(result)["load.proven_pct"]["passed"]  # the rejections are proven too
    assert result["summary"]["load"]["final_codes"] == {"200": 12, "486": 4}


KILLED = """\
name: load_killed
timeout: 60
agents:
  alice: {role: caller, codecs: [PCMA]}
  bob: {role: callee, codecs: [PCMA]}
load:
  from: alice
  to: bob
  rate: 5
  calls: 40
  hold_s: 2
"""


def test_a_pjsua_killed_mid_run_is_exit_3_with_rows_kept(tmp_path, pjsua_bin):
    f = tmp_path / "killed.yaml"
    f.write_text(KILLED)
    out = tmp_path / "out"
    run = subprocess.Popen([sys.executable, "-m", "callgen", "run", str(f), "-o", str(out), "-j", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        transcript = out / "load_killed" / "alice.transcript.txt"
        _wait_until(lambda: transcript.is_file() and transcript.read_text(errors="replace").count("is DISCONNECTED") >= 5,
                    30, "five calls ended")
        victim = _wait_until(lambda: _child(run, "pjsua", "bob.cfg"), 10, "bob's pjsua")
        kids = {p: proc_name(p) for p in descendants(run.pid)}
        os.kill(victim, signal.SIGKILL)
        stdout, stderr = run.communicate(timeout=90)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 3, (stdout, stderr)
    assert not {p: n for p, n in kids.items() if alive(p)}
    result = json.loads((out / "load_killed" / "result.json").read_text())
    assert "agent bob: pjsua died during the run" in result["error"]
    rows = [json.loads(line) for line in (out / "load_killed" / "calls.jsonl").read_text().splitlines()]
    assert 5 <= len(rows) < 40, len(rows)
    assert sum(row["verdict"] == "proven" for row in rows) >= 5  # the calls that ended before the kill
    assert any(row["verdict"] == "unproven" for row in rows)  # the calls bob took with him


def test_junit_has_a_testcase_per_threshold(cli, tmp_path, pjsua_bin):
    import xml.etree.ElementTree as ET

    f = tmp_path / "busy.yaml"
    f.write_text(REJECTED_SHARE)
    junit = tmp_path / "junit.xml"
    r = cli("run", str(f), "-o", str(tmp_path / "out"), "--junit", str(junit))
    assert r.status == 1, r.out + r.err
    cases = {tc.get("name"): tc for tc in ET.parse(junit).getroot().iter("testcase")}
    assert "load_busy_share load.answered_pct" in cases and "load_busy_share load.setup_ms.p95" in cases
    failure = cases["load_busy_share load.answered_pct"].find("failure")
    assert failure is not None and "call 3 (486)" in failure.get("message")
    assert cases["load_busy_share load.setup_ms.p95"].find("failure") is None


HELD_APART = """\
name: load_held_apart
timeout: 60
""" + KAMAILIO_PAIR + """\
load:
  from: alice
  to: bob
  rate: 10
  calls: 24
  hold_s: {min: 2.5, max: 5.5}
  seed: 42
  max_concurrent: 40
  dtmf: per-call
  headers: {X-Load-Call: "t23-{n}"}
  expect:
    answered_pct_min: 100
    dtmf_ok_pct_min: 100
"""


def _rows(run):
    return [json.loads(line) for line in (run / "calls.jsonl").read_text().splitlines()]


def test_per_call_holds_digits_and_headers_each_proven_on_their_own_call(cli, tmp_path, pjsua_bin):
    """Each call is hung up by callgen after its own drawn hold (menu 'g' selects it), its digits go to it
    while other calls are up and being placed, and its INVITE carries its own X-Load-Call."""
    from callgen.analysis import analyze_capture
    from callgen.scenario.model import Load

    f = tmp_path / "held.yaml"
    f.write_text(HELD_APART)
    r = cli("run", str(f), "-o", str(tmp_path / "out"))
    assert r.status == 0, r.out + r.err
    run = tmp_path / "out" / "load_held_apart"
    rows = _rows(run)
    drawn = Load("alice", ("bob",), rate=10, calls=24, hold_s=5.5, hold_min_s=2.5, seed=42)
    assert [row["hold_s"] for row in rows] == [drawn.hold(k) for k in range(24)]
    assert len({row["hold_s"] for row in rows}) > 8  # drawn apart, not one length for all
    assert all(row["verdict"] == "proven" for row in rows), [row["why"] for row in rows if row["why"]]
    for row in rows:  # proven from the capture: 200 OK to BYE within 1 s of the drawn hold
        assert abs(row["duration_s"] - row["hold_s"]) <= 1.0, row
    assert [row["dtmf_seen"] for row in rows] == [f"{k:03d}#" for k in range(24)]
    # the calls overlapped: each call's digits went out while calls placed after it were up
    spans = sorted((row["invite_time"], row["bye_time"]) for row in rows)
    assert sum(1 for (a, _), (_, b) in zip(spans[1:], spans[:-1], strict=True) if a < b) >= 20
    # placing was never held up by the digits: the INVITEs left on the rate's clock (10 cps, 0.1 s apart)
    gaps = [b[0] - a[0] for a, b in zip(spans[:-1], spans[1:], strict=True)]
    assert max(gaps) < 0.5, gaps
    # the header reached the callee through the proxy: the SUT's side can join its logs to the rows
    analysis = analyze_capture(str(run / "capture.pcap"))
    at_bob = {m.header("X-Load-Call") for d in analysis.dialogs for m in d.messages
              if m.method == "INVITE" and m.header("To") and "bob@" in m.header("To") and m.header("X-Load-Call")}
    assert at_bob == {f"t23-{k}" for k in range(24)}, at_bob


WRAPPING = """\
name: load_wrapping_ports
timeout: 90
agents:
  alice: {role: caller, codecs: [PCMA]}
  bob: {role: callee, codecs: [PCMA]}
load:
  from: alice
  to: bob
  rate: 12
  calls: 180
  hold_s: {min: 2.5, max: 3}
  max_concurrent: 40
  dtmf: per-call
"""


def test_a_load_past_the_rtp_port_wrap_proves_every_call(cli, tmp_path, pjsua_bin):
    """max_concurrent 40 sizes each agent's RTP span to 2 x 2 x 48 + 64 ports (--rtp-port-range), so 180
    calls wrap it: the ports are used again by later calls, and every call is still proven with
    exactly its own digits and its own packets (each call's RTP is taken from the capture within
    its own INVITE..BYE, not every stream that ever went to its address)."""
    from callgen.analysis import analyze_capture

    f = tmp_path / "wrap.yaml"
    f.write_text(WRAPPING)
    r = cli("run", str(f), "-o", str(tmp_path / "out"))
    assert r.status == 0, r.out + r.err
    run = tmp_path / "out" / "load_wrapping_ports"
    rows = _rows(run)
    assert len(rows) == 180 and all(row["verdict"] == "proven" for row in rows), [row["why"] for row in rows if row["why"]]
    assert "--rtp-port-range=254" in (run / "alice.cfg").read_text()
    assert [row["dtmf_seen"] for row in rows] == [f"{k:03d}#" for k in range(180)]
    for row in rows:  # PCMA 20 ms: 50 packets a second, each way, for the call's own hold only
        for way in ("rtp_caller_to_callee", "rtp_callee_to_caller"):
            assert 0 < row[way]["packets"] <= 50 * (row["duration_s"] + 1), row
    analysis = analyze_capture(str(run / "capture.pcap"))
    ports = [int(s.dst.rsplit(":", 1)[1]) for s in analysis.rtp_streams]
    streams_per_port = {p: ports.count(p) for p in set(ports)}
    assert len(rows) * 2 <= len(ports) and max(streams_per_port.values()) >= 2, streams_per_port  # reused
