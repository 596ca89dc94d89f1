"""The typed findings (``callgen.verdict.findings``) against what the verdict writes.

Every key the analysis and the verdict put into a result's ``summary`` has a typed field
(and every field is written by someone): a key without a field would reach the reports
only as an "unknown" key, a field without a key would never be filled.  And the JSON form
is unchanged: every stored result.json reads and writes back byte for byte.
"""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

from capgen import CaptureWriter, RtpSender

from callgen.analysis import analyze_capture
from callgen.verdict import ladder
from callgen.verdict.findings import (
    Corruption,
    DtmfFinding,
    Findings,
    Gap,
    Histogram,
    LegFinding,
    LoadSummary,
    Percentiles,
    Record,
    StreamFinding,
    Timeline,
    Truncation,
    Unproven,
)
from callgen.verdict.legchecks import leg_summary
from callgen.verdict.load import LoadCallRow, load_summary
from callgen.verdict.result import ScenarioResult

ROOT = Path(__file__).resolve().parents[2]
A, B = "127.0.0.1", "127.0.0.2"


def _analysis(tmp_path):
    s = RtpSender(ssrc=0x1234, seq=1, ts=0, event_pt=101)
    t = s.audio(100.0, 20)
    t = s.digit(t, "5")
    s.audio(t, 20)
    path = tmp_path / "c.pcap"
    with CaptureWriter(str(path)) as w:
        for t, p in s.packets:
            w.udp(t, A, 4000, B, 5000, p)
    return analyze_capture(str(path))


def _written_by_verdict() -> set[str]:
    """The keys ``judge`` (verdict/checks.py) and the retries (suite/execute.py) add to the summary."""
    keys = set()
    for path in ("callgen/verdict/checks.py", "callgen/suite/execute.py"):
        for node in ast.walk(ast.parse((ROOT / path).read_text())):
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "summary":
                key = node.slice
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    keys.add(key.value)
                elif isinstance(key, ast.Name):
                    keys.add(getattr(ladder, key.id))
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "replace":
                keys |= {k.arg for k in node.keywords if k.arg == "failed_attempts"}
    return keys


def test_every_summary_key_has_a_field_and_every_field_a_key(tmp_path):
    analysis = _analysis(tmp_path)
    written = set(analysis.to_json()) - {"dialogs"} | _written_by_verdict()
    assert {"legs", "call_flows", "register_flows", "load", "failed_attempts"} <= written  # the source scan works
    fields = set(Findings.json_keys())
    assert written - fields == set(), "summary keys without a typed field in Findings"
    assert fields - written == {"dialogs"}, "Findings fields nothing writes (dialogs: results before call_flows)"


def test_every_stream_dtmf_leg_and_load_key_has_a_field(tmp_path):
    analysis = _analysis(tmp_path)
    (stream,) = analysis.to_json()["rtp_streams"]
    assert set(stream) == set(StreamFinding.json_keys())
    assert set(stream["timeline"]) == set(Timeline.json_keys())
    assert set(Gap.json_keys()) == {"t", "lost"}
    (event,) = analysis.to_json()["dtmf"]
    assert set(event) == set(DtmfFinding.json_keys())
    leg = SimpleNamespace(role="caller", agent="alice", peer="sut", call_id="c1", label=lambda forward: "x")
    (row,) = leg_summary(SimpleNamespace(legs=[leg]))
    assert set(row) == set(LegFinding.json_keys())
    # the share is added by a load share's run, the capture's figures by the load prover (verdict/checks.py)
    prover = {"capture_files": 3, "capture_max_mb": 12.5}
    load = {**load_summary(()), "share": [0, 1], **prover}
    assert set(load) == set(LoadSummary.json_keys()) - {"legs"}  # a load without a SUT between: one leg, no "legs"
    flow = {"packets": 150, "loss_pct": 0.0, "jitter_ms": 1.0}
    leg = {"role": "caller", "agent": "alice", "peer": "SBC", "call_id": "c1", "final_code": 200, "ack": True,
           "bye_answered": True, "rtp_caller_to_callee": flow, "rtp_callee_to_caller": flow, "dtmf_seen": "", "verdict": "proven"}
    relayed = LoadCallRow.from_json({"index": 0, "callee": "bob", "rtp_caller_to_callee": flow, "rtp_callee_to_caller": flow,
                                     "verdict": "proven", "legs": [leg, {**leg, "role": "callee", "agent": "bob", "call_id": "c2",
                                                                         "joined_by": "from-tag"}]})
    assert set({**load_summary((relayed,)), "share": [0, 1], **prover}) == set(LoadSummary.json_keys())
    assert set(load["setup_histogram"]) == set(Histogram.json_keys())
    for key in ("setup_ms", "loss_pct", "jitter_ms"):
        assert set(load[key]) <= set(Percentiles.json_keys()), key
    assert set(Truncation.json_keys()) == {"offset", "bytes_left"} and set(Corruption.json_keys()) == {"offset", "bytes_skipped"}
    assert set(Unproven.json_keys()) == {"index", "why"}


def test_the_verdicts_json_reads_back_typed_and_writes_the_same(tmp_path):
    analysis = _analysis(tmp_path)
    summary = analysis.to_json()
    summary.pop("dialogs")
    findings = Findings.from_dict(summary)
    assert json.dumps(findings.to_dict()) == json.dumps(summary)
    (s,) = findings.rtp_streams
    assert s.ssrc == 0x1234 and s.packets and s.timeline is not None and s.timeline.counts
    assert [e.digit for e in findings.dtmf] == ["5"]


def _stored_results():
    for path in sorted((ROOT / "tests" / "data").rglob("*.json")):
        data = json.loads(path.read_text())
        for r in data.get("results", [data]) if isinstance(data, dict) else ():
            if isinstance(r, dict) and isinstance(r.get("summary"), dict):
                yield path, r


def test_stored_results_read_and_write_back_byte_for_byte():
    seen = 0
    for path, r in _stored_results():
        seen += 1
        again = ScenarioResult.from_dict(r).to_dict()
        assert json.dumps(again["summary"], indent=1) == json.dumps(r["summary"], indent=1), path
    assert seen >= 4


def test_a_key_no_field_names_is_kept_and_listed_as_other_finding():
    d = {"packets": 3, "note": "kept", "rtcp": [1, 2], "truncated": None}
    f = Findings.from_dict(d)
    assert f.to_dict() == d and list(f.to_dict()) == list(d)
    assert f.other() == {"note": "kept", "rtcp": [1, 2], "truncated": None}
    assert f.packets == 3


def test_records_are_frozen_and_compare_by_value():
    a = StreamFinding.from_dict({"src": A, "packets": 4})
    assert a == StreamFinding.from_dict({"packets": 4, "src": A})
    assert issubclass(StreamFinding, Record)
    try:
        a.packets = 5  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError("a finding must be frozen")


def test_a_load_summary_reads_back_typed_and_writes_the_same():
    load = {**load_summary(()), "share": [1, 2]}
    load["unproven"] = [{"index": 3, "why": ["no BYE"]}]
    summary = {"packets": 0, "rtp_streams_count": 0, "dtmf_events_count": 0, "load": load}
    f = Findings.from_dict(summary)
    assert json.dumps(f.to_dict()) == json.dumps(summary)
    assert f.load is not None and f.load.share == (1, 2) and f.load.attempted == 0
    assert f.load.setup_ms is not None and "p99" in f.load.setup_ms.keys and "p99" not in f.load.loss_pct.keys
    assert f.load.unproven[0].why == ("no BYE",)


def test_a_value_of_another_shape_is_not_read_but_kept():
    d = {"load": [1, 2], "rtp_streams": {"src": A}, "warnings": "one", "legs": [], "packets": 5}
    f = Findings.from_dict(d)
    assert f.load is None and f.rtp_streams == () and f.warnings == () and f.legs == {}
    assert f.to_dict() == d and list(f.to_dict()) == list(d)
    assert set(f.other()) == {"load", "rtp_streams", "warnings", "legs"}
