"""``callgen history``: recording nights into an SQLite store, reading them back, the
findings (newly failing, flaky, slower), retention, refusal of foreign or corrupt
files, and two processes writing at once."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from callgen.history.model import scenario_night
from callgen.history.page import render_text
from callgen.history.store import open_store
from callgen.history.trends import build_history
from callgen.verdict.result import Verdict
from tests.conftest import SCENARIOS
from tests.history.history_nights import NIGHTS, night_reports, recorded, write_nights


def record_all(cli, store: Path, reports: list[Path], *extra: str) -> None:
    for report in reports:
        r = cli("history", "record", str(report), "--history", str(store), *extra)
        assert r.status == 0, r.err


def test_one_result_keeps_verdict_setup_time_and_legs():
    data = recorded("pass")
    flow = data["summary"]["call_flows"][0]
    invite = next(m for m in flow["messages"] if m["method"] == "INVITE")
    final = next(m for m in flow["messages"] if m["status"] and m["status"] >= 200)
    entry = scenario_night(data, "abc123")
    assert entry.verdict is Verdict.PASS and entry.revision == "abc123"
    assert entry.setup_ms == pytest.approx((final["time"] - invite["time"]) * 1000, abs=0.01)
    streams = data["summary"]["rtp_streams"]
    assert sorted(leg.leg for leg in entry.legs) == ["call1 alice→bob", "call1 bob→alice"]
    by_jitter = sorted(leg.jitter_ms for leg in entry.legs)
    assert by_jitter == sorted(s["jitter_ms_mean"] for s in streams)
    assert all(leg.loss_pct == 0.0 and leg.codec == "speex/16000" for leg in entry.legs)
    failing = scenario_night(recorded("fail"))
    assert failing.failed_checks == ("call1.final_code: expected 486, seen 200",)


def test_pesq_belongs_to_the_leg_its_receiver_heard():
    data = recorded("pass")
    data["checks"].append({"name": "call1.audio[bob].pesq", "passed": True, "expected": "PESQ MOS-LQO >= 3",
                           "seen": "PESQ MOS-LQO 3.87 (wb, speex/16000), reference found at 0.10 s (correlation 0.93)",
                           "reason": "", "evidence": "recording"})
    legs = {leg.leg: leg.pesq for leg in scenario_night(data).legs}
    assert legs == {"call1 alice→bob": 3.87, "call1 bob→alice": None}


def test_three_nights_read_back_with_findings(cli, tmp_path):
    store = tmp_path / "h.sqlite"
    record_all(cli, store, write_nights(tmp_path))
    with open_store(store) as s:
        stored = s.results()
    history = build_history(stored)
    assert history.nights == NIGHTS
    rows = {r.scenario: r for r in history.rows}
    assert [c.verdict for c in rows["basic_call"].cells] == [Verdict.FAIL, Verdict.FAIL, Verdict.PASS]
    assert [c.mos for c in rows["basic_call"].cells] == [3.1, 3.4, 4.1]
    assert [f.scenario for f in history.newly_failing] == ["busy"]
    assert "call1.final_code: expected 486, seen 200" in history.newly_failing[0].text
    assert [f.scenario for f in history.fixed] == ["basic_call"]
    assert [f.scenario for f in history.flaky] == ["dtmf"]
    assert "1 of its 3 nights" in history.flaky[0].text
    assert [f.scenario for f in history.slower] == ["busy"]
    assert "12.0 s, its median 5.1 s" in history.slower[0].text
    assert rows["busy"].klass == "nightly"  # the library folder, as in JUnit


def test_text_summary_since_a_date(cli, tmp_path):
    store = tmp_path / "h.sqlite"
    record_all(cli, store, write_nights(tmp_path))
    r = cli("history", "report", "--history", str(store), "--text", "--since", "2026-12-01")
    assert r.status == 0, r.err
    assert r.out.splitlines()[0].startswith("callgen history: 2 nights (2026-12-01 .. 2026-12-02), 3 scenarios")
    assert "newly failing: 1\n  busy: FAIL (passed on 2026-12-01)" in r.out
    assert "flaky in the last 7 nights: 1\n  dtmf:" in r.out
    assert not (tmp_path / "callgen-history.html").exists()


def test_report_writes_the_page(cli, tmp_path):
    store = tmp_path / "h.sqlite"
    record_all(cli, store, write_nights(tmp_path))
    page = tmp_path / "page.html"
    r = cli("history", "report", "--history", str(store), "-o", str(page))
    assert r.status == 0, r.err
    text = page.read_text()
    assert text.count('class="night fail"') == 3 and text.count('class="night flaky"') == 1
    assert "<script" not in text and "http" not in text.replace('http-equiv', '')


def test_report_shows_the_last_nights_only(cli, tmp_path):
    store = tmp_path / "h.sqlite"
    record_all(cli, store, write_nights(tmp_path))
    r = cli("history", "report", "--history", str(store), "--text", "--last", "2")
    assert r.status == 0 and r.out.startswith("callgen history: 2 nights (2026-12-01 .. 2026-12-02)")
    page = tmp_path / "p.html"
    assert cli("history", "report", "--history", str(store), "--last", "1", "-o", str(page)).status == 0
    assert page.read_text().count('class="night ') == 3  # one night, three scenarios


def test_retention_keeps_the_newest_nights(cli, tmp_path):
    store = tmp_path / "h.sqlite"
    record_all(cli, store, write_nights(tmp_path), "--history-keep", "2")
    with open_store(store) as s:
        assert {r.night for r in s.results()} == set(NIGHTS[1:])
        legs = s._conn.execute("SELECT COUNT(*) FROM callgen_legs").fetchone()[0]
        results = s._conn.execute("SELECT COUNT(*) FROM callgen_results").fetchone()[0]
    assert results == 6 and legs == 12  # the dropped night's rows went with it
    r = cli("history", "prune", "--history", str(store), "--keep", "1")
    assert r.status == 0 and "1 nights removed (2026-12-01)" in r.out


def test_night_label_groups_shards(cli, tmp_path):
    store = tmp_path / "h.sqlite"
    paths = write_nights(tmp_path)
    record_all(cli, store, paths[:2], "--history-night", "build-17")
    with open_store(store) as s:
        history = build_history(s.results())
    assert history.nights == ("build-17",)
    basic = next(r for r in history.rows if r.scenario == "basic_call")
    assert basic.cells[0].runs == 2


@pytest.mark.parametrize("content, words", [
    (b"\x00\x01garbage that is not a database" * 40, "not an SQLite file"),
    (b"SQLite format 3\x00" + b"\xff" * 2000, "not a usable history store"),
])
def test_corrupt_file_refused_in_one_line(cli, tmp_path, content, words):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(content)
    for argv in (("history", "report", "--history", str(bad), "--text"),
                 ("history", "record", str(write_nights(tmp_path)[0]), "--history", str(bad))):
        r = cli(*argv)
        assert r.status == 2, r.err
        assert len(r.err.strip().splitlines()) == 1 and words in r.err and "Traceback" not in r.err
    assert bad.read_bytes() == content  # left as it was


def test_foreign_sqlite_file_refused(cli, tmp_path):
    other = tmp_path / "app.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE users (id INTEGER, name TEXT)")
    r = cli("history", "record", str(write_nights(tmp_path)[0]), "--history", str(other))
    assert r.status == 2
    assert r.err.strip() == f"callgen: error: history {other}: an SQLite file of something else (tables users), not a callgen history store"
    with sqlite3.connect(other) as conn:
        assert [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["users"]


def test_run_refuses_a_corrupt_store_before_running(cli, tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_text("not a database at all\n" * 20)
    out = tmp_path / "out"
    r = cli("run", str(SCENARIOS / "basic_call.yaml"), "-o", str(out), "--history", str(bad))
    assert r.status == 2 and "not an SQLite file" in r.err
    assert not out.exists()  # nothing ran


def test_env_names_the_store(cli, tmp_path, monkeypatch):
    store = tmp_path / "env.sqlite"
    monkeypatch.setenv("CALLGEN_HISTORY", str(store))
    r = cli("history", "record", str(write_nights(tmp_path)[0]))
    assert r.status == 0 and "as night 2026-11-30" in r.out
    assert cli("history", "report", "--text").out.startswith("callgen history: 1 nights")


def test_report_on_a_missing_store_is_refused(cli, tmp_path):
    r = cli("history", "report", "--history", str(tmp_path / "typo.sqlite"), "--text")
    assert r.status == 2 and "no such file" in r.err
    assert not (tmp_path / "typo.sqlite").exists()


WRITER = """
import json, sys
from callgen.history.record import record_report
from callgen.history.store import open_store
reports = json.loads(open(sys.argv[2]).read())
with open_store(sys.argv[1]) as store:
    for i in range(int(sys.argv[3])):
        report = reports[i % len(reports)]
        record_report(store, report, source=sys.argv[4], night=f"{sys.argv[4]}-{i}", revision_of=lambda f: "")
print("done")
"""


def test_two_processes_write_at_once(tmp_path):
    store = tmp_path / "shared.sqlite"  # made by whichever shard comes first
    reports = tmp_path / "reports.json"
    reports.write_text(json.dumps(night_reports()))
    n = 40
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(store), str(reports), str(n), name],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in ("shard0", "shard1")]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e for _, e in outs]
    with sqlite3.connect(store) as conn:
        runs = conn.execute("SELECT source, COUNT(*) FROM callgen_runs GROUP BY source ORDER BY source").fetchall()
        results = conn.execute("SELECT COUNT(*) FROM callgen_results").fetchone()[0]
        orphans = conn.execute("SELECT COUNT(*) FROM callgen_results WHERE run_id NOT IN (SELECT id FROM callgen_runs)").fetchone()[0]
    assert runs == [("shard0", n), ("shard1", n)]
    assert results == 2 * n * 3 and orphans == 0


def test_merge_reports_records_the_merged_night(cli, tmp_path):
    paths = write_nights(tmp_path)
    store = tmp_path / "h.sqlite"
    merged = tmp_path / "merged.json"
    r = cli("merge-reports", "-o", str(merged), str(paths[2]), "--history", str(store), "--history-night", "n3")
    assert "history: 3 scenario runs recorded as night n3" in r.out, r.err
    with open_store(store) as s:
        assert sorted((x.entry.scenario, x.entry.verdict.value) for x in s.results()) == [
            ("basic_call", "pass"), ("busy", "fail"), ("dtmf", "pass")]
    r = cli("merge-reports", "-o", str(tmp_path / "m.xml"), str(tmp_path / "x.xml"), "--history", str(store))
    assert r.status == 2 and "JSON merge" in r.err


def test_a_junit_merge_with_the_store_in_the_environment_just_merges(cli, tmp_path, monkeypatch):
    from callgen.reports.junit import write_junit
    from callgen.suite.execute import SuiteResult
    from callgen.verdict.result import ScenarioResult

    monkeypatch.setenv("CALLGEN_HISTORY", str(tmp_path / "h.sqlite"))
    shard = write_junit(SuiteResult((ScenarioResult("a", "/l/a.yaml", Verdict.PASS, 1.0),), 1.0, 1, started="x"),
                        tmp_path / "s.xml")
    r = cli("merge-reports", "-o", str(tmp_path / "m.xml"), str(shard))
    assert r.status == 0, r.err
    assert "history:" not in r.out and not (tmp_path / "h.sqlite").exists()


def test_text_summary_of_an_empty_range(cli, tmp_path):
    store = tmp_path / "h.sqlite"
    record_all(cli, store, write_nights(tmp_path))
    r = cli("history", "report", "--history", str(store), "--text", "--since", "2030-01-01")
    assert r.status == 0 and r.out == "callgen history: no night recorded in this range\n"
    assert render_text(build_history([])) == r.out


@pytest.mark.integration
@pytest.mark.tool("pjsua", "tcpdump")
def test_a_real_run_records_its_night(cli, tmp_path):
    """`run --history` on a real call: the figures come from its capture, the revision from git."""
    store = tmp_path / "h.sqlite"
    scenario = SCENARIOS / "basic_call.yaml"
    r = cli("run", str(scenario), "-o", str(tmp_path / "out"), "--history", str(store), "--json", str(tmp_path / "r.json"))
    assert r.status == 0, r.out + r.err
    assert "history: 1 scenario runs recorded as night" in r.out
    with open_store(store) as s:
        (row,) = s.results()
    data = json.loads((tmp_path / "r.json").read_text())["results"][0]
    head = subprocess.run(["git", "-C", str(scenario.parent), "rev-parse", "--short=12", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    assert row.entry.revision.split("+")[0] == head
    assert row.entry.verdict is Verdict.PASS and row.entry.setup_ms and row.entry.setup_ms > 0
    assert len(row.entry.legs) == len(data["summary"]["rtp_streams"]) == 2
    assert {leg.mos for leg in row.entry.legs} == {s["mos"] for s in data["summary"]["rtp_streams"]}
