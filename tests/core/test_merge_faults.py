"""merge-reports, round two: every bad value in a shard report or a share's calls.jsonl is
exit 2 with one line naming the file and the key (before: exit 3 "internal error"); the
merged JSON is always valid JSON; the XML depth pre-check is linear."""

from __future__ import annotations

import json
import time

import pytest

ROW = {"index": 0, "callee": "bob", "call_id": "c0", "invite_time": 1_700_000_000.0, "final_code": 200,
       "setup_ms": 12.0, "bye_time": 1_700_000_003.0, "duration_s": 3.0, "ack": True, "bye_answered": True,
       "rtp_caller_to_callee": {"packets": 150, "loss_pct": 0.0, "jitter_ms": 0.1},
       "rtp_callee_to_caller": {"packets": 150, "loss_pct": 0.0, "jitter_ms": 0.1},
       "srtp_decrypted": False, "dtmf_sent": "", "dtmf_seen": "", "pjsua_code": 200, "verdict": "proven", "why": []}


def _result(name="s", share=None, artefacts="", duration=1.0):
    summary = {"load": {"attempted": 1, "share": share}} if share is not None else {}
    return {"name": name, "file": f"{name}.yaml", "verdict": "pass", "duration_s": duration, "attempts": 1,
            "tags": [], "error": "", "artefacts": artefacts, "checks": [], "ladder": [], "summary": summary}


def _shard(tmp_path, name, results=(), **extra):
    data = {"started": "2026-01-01T00:00:00+00:00", "duration_s": 1.0, "jobs": 1, "interrupted": False,
            "results": list(results), "totals": {"not_run": 0}}
    data.update(extra)
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return p


def _one_line(r) -> str:
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.err and "internal error" not in r.err, r.err
    return lines[0]


@pytest.mark.parametrize("jobs", ["x", None, -1, 2.5, True, "1e400"])
def test_bad_jobs(cli, tmp_path, jobs):
    bad = _shard(tmp_path, "a.json", jobs=jobs)
    r = cli("merge-reports", "-o", str(tmp_path / "m.json"), str(bad))
    assert r.status == 2
    line = _one_line(r)
    assert line.startswith(f"callgen: error: {bad}: jobs=") and "is not a count" in line, line


def test_mixed_time_zones(cli, tmp_path):
    a = _shard(tmp_path, "a.json", started="2026-01-01T00:00:00+00:00")
    b = _shard(tmp_path, "b.json", started="2026-01-01T00:00:00")
    r = cli("merge-reports", "-o", str(tmp_path / "m.json"), str(a), str(b))
    assert r.status == 2
    line = _one_line(r)
    assert line.startswith(f"callgen: error: {b}: started=") and "time zone" in line, line


@pytest.mark.parametrize("share", [["a", 2], [1], [3, 2], [0, "2"], "0/2", [-1, 2]])
def test_bad_share(cli, tmp_path, share):
    bad = _shard(tmp_path, "a.json", [_result(share=share)])
    r = cli("merge-reports", "-o", str(tmp_path / "m.json"), str(bad))
    assert r.status == 2
    line = _one_line(r)
    assert line.startswith(f"callgen: error: {bad}: results[0].summary.load.share="), line


@pytest.mark.parametrize("row, key", [
    ("not json", "line 2"),
    ({k: v for k, v in ROW.items() if k != "callee"}, "callee"),
    ({**ROW, "index": "zero"}, "index"),
    ({**ROW, "rtp_caller_to_callee": None}, "rtp_caller_to_callee"),
    ({**ROW, "setup_ms": "NaN"}, "setup_ms"),
    ({**ROW, "bye_time": 1e300}, "bye_time"),
    ([1, 2], "line 2"),
])
def test_bad_calls_jsonl_row(cli, tmp_path, row, key):
    run = tmp_path / "run0"
    run.mkdir()
    rows = run / "calls.jsonl"
    rows.write_text(json.dumps(ROW) + "\n" + (row if isinstance(row, str) else json.dumps(row)) + "\n")
    a = _shard(tmp_path, "a.json", [_result(share=[0, 2], artefacts=str(run))])
    r = cli("merge-reports", "-o", str(tmp_path / "m.json"), str(a))
    assert r.status == 2
    line = _one_line(r)
    assert line.startswith(f"callgen: error: {rows}:2: ") and key in line, line


def test_nan_duration_in_a_result_is_refused(cli, tmp_path):
    bad = tmp_path / "a.json"
    bad.write_text(json.dumps({"started": "", "results": [_result()]}).replace('"duration_s": 1.0', '"duration_s": NaN'))
    r = cli("merge-reports", "-o", str(tmp_path / "m.json"), str(bad))
    assert r.status == 2
    assert "results[0].duration_s=nan is not a finite number" in _one_line(r)


def test_merged_json_is_strict_json(cli, tmp_path):
    """Whatever the inputs held, the output parses with a strict parser (no NaN, no Infinity)."""
    run = tmp_path / "run0"
    run.mkdir()
    (run / "calls.jsonl").write_text(json.dumps(ROW) + "\n")
    a = _shard(tmp_path, "a.json", [_result(share=[0, 2], artefacts=str(run))])
    r = cli("merge-reports", "-o", str(tmp_path / "m.json"), str(a))
    assert r.status == 0, r.err

    def refuse(token):
        raise AssertionError(f"not JSON: {token}")

    data = json.loads((tmp_path / "m.json").read_text(), parse_constant=refuse)
    assert data["load"]["s"]["attempted"] == 1


def test_xml_depth_check_is_linear(cli, tmp_path):
    """One 20 MB attribute took 33 s (the pre-check re-parsed 16 KiB chunks)."""
    big = tmp_path / "big.xml"
    big.write_text('<testsuites><testsuite name="x" time="1"><testcase name="a" classname="b" note="'
                   + "x" * (20 << 20) + '"/></testsuite></testsuites>')
    t0 = time.monotonic()
    r = cli("merge-reports", "-o", str(tmp_path / "m.xml"), str(big))
    took = time.monotonic() - t0
    assert r.status == 0, r.err
    assert took < 8, f"{took:.1f} s for a 20 MB attribute"


def test_nan_anywhere_else_is_written_as_null(cli, tmp_path):
    bad = tmp_path / "a.json"
    result = _result()
    result["summary"] = {"jitter_ms": "NAN_HERE", "nested": [{"x": "INF_HERE"}]}
    bad.write_text(json.dumps({"started": "", "results": [result]}).replace('"NAN_HERE"', "NaN")
                   .replace('"INF_HERE"', "-Infinity"))
    r = cli("merge-reports", "-o", str(tmp_path / "m.json"), str(bad))
    assert r.status == 0, r.err

    def refuse(token):
        raise AssertionError(f"not JSON: {token}")

    data = json.loads((tmp_path / "m.json").read_text(), parse_constant=refuse)
    assert data["results"][0]["summary"] == {"jitter_ms": None, "nested": [{"x": None}]}
