"""merge-reports on hostile inputs: one line naming the file, exit 2, no traceback."""

from __future__ import annotations

import json
import os

import pytest


def _shard(tmp_path, name="s0.json", **extra):
    data = {"started": "2026-01-01T00:00:00+00:00", "duration_s": 1.0, "jobs": 1, "interrupted": False,
            "results": [], "totals": {"not_run": 0}, **extra}
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return p


@pytest.mark.parametrize("kind, output, reason", [
    ("deep_json", "m.json", "JSON nested too deeply"),
    ("deep_xml", "m.xml", "XML nested more than 64 levels deep"),
    ("directory", "m.json", "not read: a directory, not a regular file"),
    ("fifo", "m.xml", "not read: a FIFO, not a regular file"),
    ("nan_duration", "m.json", "duration_s=nan is not a finite number"),
    ("nan_time", "m.xml", "time='nan' is not a finite number"),
])
def test_hostile_report_is_refused_with_one_line(kind, output, reason, cli, tmp_path):
    bad = tmp_path / "bad"
    if kind == "deep_json":
        bad.write_text('{"results": ' + "[" * 100_000 + "]" * 100_000 + "}")
    elif kind == "deep_xml":
        bad.write_text('<testsuites><testsuite name="x"><testcase name="a" classname="b">' + "<x>" * 100_000
                       + "</x>" * 100_000 + "</testcase></testsuite></testsuites>")
    elif kind == "directory":
        bad.mkdir()
    elif kind == "fifo":
        os.mkfifo(bad)
    elif kind == "nan_duration":
        bad = _shard(tmp_path, "bad", duration_s=float("nan"))
    elif kind == "nan_time":
        bad.write_text('<testsuites><testsuite name="x" time="nan"></testsuite></testsuites>')
    r = cli("merge-reports", "-o", str(tmp_path / output), str(bad))
    assert r.status == 2
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.err
    assert lines[0].startswith(f"callgen: error: {bad}") and reason in lines[0]
    assert not (tmp_path / output).exists()


def test_output_that_is_a_folder(cli, tmp_path):
    r = cli("merge-reports", "-o", str(tmp_path), str(_shard(tmp_path)))
    assert r.status == 2
    assert r.err.strip() == f"callgen: error: -o {tmp_path}: is a folder, not a file"


def test_output_under_a_file(cli, tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    r = cli("merge-reports", "-o", str(f / "m.json"), str(_shard(tmp_path)))
    assert r.status == 2
    assert r.err.strip() == f"callgen: error: -o {f}: is a file, not a folder"
