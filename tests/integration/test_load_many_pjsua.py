"""A load whose agents must hold more calls than one pjsua runs several real pjsua processes per side
(issue 23): call k placed by caller process k mod N, each callee's calls given to its processes in
turn, and every call proven from the capture against the dialog its own process sent."""

from __future__ import annotations

import json
import re

#: 1100 calls at once is more than one pjsua holds (504): alice and bob run as 3 processes each
DIRECT = """\
name: load_processes_direct
timeout: 60
agents:
  alice: {role: caller, codecs: [PCMA], address: 127.0.0.11}
  bob: {role: callee, codecs: [PCMA], address: 127.0.0.11}
load:
  from: alice
  to: bob
  rate: 10
  ramp_s: 1
  calls: 30
  hold_s: {min: 2.5, max: 3.5}
  seed: 3
  max_concurrent: 1100
  dtmf: per-call
  headers: {X-Load-Call: "p-{n}"}
  expect:
    answered_pct_min: 100
    dtmf_ok_pct_min: 100
"""

#: through the local Kamailio: alice (600 at once) as 2 processes registered as one user, bob and carol
#: (300 each, each its own user) as one process each
THROUGH_KAMAILIO = """\
name: load_processes_kamailio
timeout: 60
targets:
  KAMAILIO:
    local: {kind: kamailio, password: "${SIP_PASSWORD:-local-only-secret}"}
agents:
  alice:
    role: caller
    codecs: [PCMA]
    address: 127.0.0.11
    register: {registrar: "sip:${KAMAILIO}", password: "${SIP_PASSWORD:-local-only-secret}"}
    proxy: "sip:${KAMAILIO};lr"
  bob:
    role: callee
    codecs: [PCMA]
    address: 127.0.0.11
    register: {registrar: "sip:${KAMAILIO}", password: "${SIP_PASSWORD:-local-only-secret}"}
    proxy: "sip:${KAMAILIO};lr"
  carol:
    role: callee
    codecs: [PCMA]
    address: 127.0.0.11
    register: {registrar: "sip:${KAMAILIO}", password: "${SIP_PASSWORD:-local-only-secret}"}
    proxy: "sip:${KAMAILIO};lr"
load:
  from: alice
  to: [bob, carol]
  rate: 10
  ramp_s: 1
  calls: 24
  hold_s: {min: 2.5, max: 3.5}
  seed: 5
  max_concurrent: 600
  dtmf: per-call
  expect:
    answered_pct_min: 100
    dtmf_ok_pct_min: 100
"""


def _rows(run):
    return [json.loads(line) for line in (run / "calls.jsonl").read_text().splitlines()]


def _ended_calls(transcript) -> int:
    return len(re.findall(r"Call \d+ is DISCONNECTED", transcript.read_text()))


def test_three_pjsua_per_side_each_place_and_take_their_turn_and_every_call_is_proven(cli, tmp_path, pjsua_bin):
    f = tmp_path / "load.yaml"
    f.write_text(DIRECT)
    r = cli("render", str(f), "-o", str(tmp_path / "render"))
    assert r.status == 0, r.out + r.err
    assert "load: alice runs as 3 pjsua processes (alice, alice-p2, alice-p3)" in r.out, r.out
    assert "load: bob runs as 3 pjsua processes (bob, bob-p2, bob-p3)" in r.out, r.out
    r = cli("run", str(f), "-o", str(tmp_path / "out"))
    assert r.status == 0, r.out + r.err
    run = tmp_path / "out" / "load_processes_direct"
    rows = _rows(run)
    assert len(rows) == 30 and all(row["verdict"] == "proven" for row in rows), [row["why"] for row in rows]
    assert [row["caller"] for row in rows] == ["alice", "alice-p2", "alice-p3"] * 10
    assert [row["dtmf_seen"] for row in rows] == [f"{k:03d}#" for k in range(30)]
    assert len({row["call_id"] for row in rows}) == 30
    # each process placed (or took) its ten calls: its own transcript shows them end
    for name in ("alice", "alice-p2", "alice-p3", "bob", "bob-p2", "bob-p3"):
        assert _ended_calls(run / f"{name}.transcript.txt") == 10, name


def test_two_caller_processes_through_kamailio_alternate_and_every_call_is_proven(cli, tmp_path, pjsua_bin):
    f = tmp_path / "load.yaml"
    f.write_text(THROUGH_KAMAILIO)
    r = cli("run", str(f), "-o", str(tmp_path / "out"))
    assert r.status == 0, r.out + r.err
    run = tmp_path / "out" / "load_processes_kamailio"
    rows = _rows(run)
    assert len(rows) == 24 and all(row["verdict"] == "proven" for row in rows), [row["why"] for row in rows]
    assert [row["caller"] for row in rows] == ["alice", "alice-p2"] * 12
    assert [row["callee"] for row in rows] == ["bob", "carol"] * 12
    assert [row["dtmf_seen"] for row in rows] == [f"{k:03d}#" for k in range(24)]
    for name, calls in (("alice", 12), ("alice-p2", 12), ("bob", 12), ("carol", 12)):
        assert _ended_calls(run / f"{name}.transcript.txt") == calls, name
