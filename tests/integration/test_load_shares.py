"""One load in two shares (as two Kubernetes Indexed Job pods would run it), here two
processes on their own loopback addresses, 127.0.0.2 and 127.0.0.3, against one
Kamailio; merge-reports recomputes the load's summary from both shares' per-call rows."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from callgen.sut.kamailio import start_kamailio
from callgen.verdict.load import LoadCallRow, load_summary

SCENARIO = """\
name: load_shares
timeout: 60
agents:
  alice:
    role: caller
    user: alice${SHARD}
    address: ${ADDR}
    codecs: [PCMA]
    register: {registrar: "sip:${KAMAILIO}", password: share-secret}
    proxy: "sip:${KAMAILIO};lr"
  bob:
    role: callee
    user: bob${SHARD}
    address: ${ADDR}
    codecs: [PCMA]
    register: {registrar: "sip:${KAMAILIO}", password: share-secret}
    proxy: "sip:${KAMAILIO};lr"
load:
  from: alice
  to: bob
  rate: 10
  calls: 20
  hold_s: 3
  max_concurrent: 40
  dtmf: per-call
  expect:
    answered_pct_min: 100
"""


def test_two_shares_against_one_kamailio_merge_into_one_load(tmp_path, pjsua_bin):
    f = tmp_path / "shares.yaml"
    f.write_text(SCENARIO)
    kam = start_kamailio(tmp_path / "kamailio", password="share-secret")
    try:
        start = time.time() + 4  # both shares place their first call at the same moment
        runs = []
        for i, addr in enumerate(("127.0.0.2", "127.0.0.3")):
            runs.append(subprocess.Popen(
                [sys.executable, "-m", "callgen", "run", str(f), "-o", str(tmp_path / f"out{i}"), "--json",
                 str(tmp_path / f"share{i}.json"), "--var", f"ADDR={addr}", "--var", f"SHARD={i}",
                 "--var", f"KAMAILIO={kam.address}:{kam.port}", "--load-share", f"{i}/2", "--start-at", str(start)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        outputs = [r.communicate(timeout=120)[0] for r in runs]
    finally:
        kam.stop()
    assert [r.returncode for r in runs] == [0, 0], outputs
    rows = []
    for i in (0, 1):
        share = [json.loads(line) for line in (tmp_path / f"out{i}" / "load_shares" / "calls.jsonl").read_text().splitlines()]
        assert len(share) == 10 and all(row["verdict"] == "proven" for row in share)
        assert [row["index"] for row in share] == list(range(i, 20, 2))  # each share's calls keep their numbers
        assert [row["dtmf_seen"] for row in share] == [f"{k:03d}#" for k in range(i, 20, 2)]
        rows += share
    merged_path = tmp_path / "merged.json"
    r = subprocess.run([sys.executable, "-m", "callgen", "merge-reports", str(tmp_path / "share0.json"),
                        str(tmp_path / "share1.json"), "-o", str(merged_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    merged = json.loads(merged_path.read_text())
    assert merged["duplicates"] == []  # two shares of one load are not a scenario run twice
    load = merged["load"]["load_shares"]
    assert load["shares"] == 2 and load["attempted"] == 20 and load["proven_pct"] == 100.0
    # percentiles recomputed from all 20 rows, not averaged over the shares
    assert load["setup_ms"] == load_summary(tuple(LoadCallRow.from_json(x) for x in rows))["setup_ms"]
