"""Reports: text, JUnit (validated against the junit-10 schema), JSON, index, --keep, merging."""

from __future__ import annotations

import argparse
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from callgen.reports import apply_keep, format_scenario, format_summary, publish, to_json, write_junit
from callgen.reports.command import register
from callgen.reports.index import render_html, render_markdown
from callgen.reports.merge import ReportInputError, merge_reports
from callgen.suite.execute import SuiteResult
from callgen.verdict.findings import Findings
from callgen.verdict.result import CheckResult, ScenarioResult, Verdict

SCHEMA = xmlschema.XMLSchema(str(Path(__file__).parents[1] / "data" / "junit" / "junit.xsd"))
LADDER = ("alice -> bob INVITE", "alice <- bob 200 OK", "alice -> bob ACK")


def make_suite(out: Path) -> SuiteResult:
    def run_dir(name: str) -> str:
        d = out / name / "run"
        d.mkdir(parents=True, exist_ok=True)
        (d / "capture.pcap").write_bytes(b"\xd4\xc3\xb2\xa1")
        (d / "result.json").write_text("{}")
        return str(d)

    ok = CheckResult("call.answered", True, "200", "200", "answered in 0.1s", "capture")
    bad = CheckResult("dtmf.received[bob]", False, '"123"', '"12"', "digit 3 missing", "capture")
    nasty = CheckResult("log<&>\"", False, "clean\x00", "pjsua said \x1b[31mred\x07 & <b>", "pjsua log bob")
    return SuiteResult(
        results=(
            ScenarioResult("basic call", "/lib/basic.yaml", Verdict.PASS, 1.25, (ok,), run_dir("basic"),
                           ladder=LADDER, summary=Findings.from_dict({"streams": [{"ssrc": "0x1234", "lost": 0, "jitter_ms": 0.52}]})),
            ScenarioResult("dtmf", "/lib/dtmf.yaml", Verdict.FAIL, 2.0, (ok, bad, nasty), run_dir("dtmf"),
                           ladder=LADDER, summary=Findings.from_dict({"first_time": 100.0, "dtmf": [
                               {"digit": "1", "method": "rfc4733", "start": 100.5},
                               {"digit": "2", "method": "sip-info", "start": 101.0}]})),
            ScenarioResult("srtp", "/lib/sec.rtp.yaml", Verdict.ERROR, 0.5, (), run_dir("srtp"),
                           error="pjsua exited with status 1\x01"),
            ScenarioResult("flaky one", "/lib/flaky.yaml", Verdict.FLAKY, 3.0, (ok,), run_dir("flaky-a2"),
                           attempts=2, summary=Findings.from_dict({"failed_attempts": [
                               {"attempt": 1, "verdict": "fail", "error": "", "artefacts": run_dir("flaky"),
                                "duration_s": 1.0, "failed_checks": [bad.to_dict()]}]})),
        ),
        duration_s=6.75,
        jobs=2,
        started="2025-01-01T10:00:00+00:00",
    )


# --------------------------------------------------------------------------- text


def test_format_scenario_lists_checks_and_ladder():
    r = ScenarioResult("x", "/x.yaml", Verdict.FAIL, 1.0,
                       (CheckResult("a", True, "1", "1"), CheckResult("b", False, "2", "3", "wrong")),
                       ladder=LADDER)
    text = format_scenario(r)
    assert "x: FAIL in 1.0s (1 attempt)" in text
    assert "PASS a: expected 1, seen 1" in text
    assert "FAIL b: expected 2, seen 3 (wrong)" in text
    assert "alice <- bob 200 OK" in text


def test_single_scenario_lists_failed_checks_before_passed_ones():
    checks = tuple(CheckResult(f"p{i}", True, "1", "1") for i in range(8))
    checks = checks[:5] + (CheckResult("bad", False, "486", "200"),) + checks[5:]
    text = format_scenario(ScenarioResult("x", "/x.yaml", Verdict.FAIL, 1.0, checks))
    lines = [line.strip() for line in text.splitlines()]
    start = lines.index("checks: 1 of 9 failed")
    assert lines[start + 1] == "FAIL bad: expected 486, seen 200"
    assert [line.split(":")[0] for line in lines[start + 2:start + 10]] == [f"PASS p{i}" for i in range(8)]


def test_format_summary_table(tmp_path):
    text = format_summary(make_suite(tmp_path))
    lines = text.splitlines()
    assert lines[0].split() == ["SCENARIO", "VERDICT", "TIME", "FAILED", "CHECKS"]
    row = next(line for line in lines if line.startswith("dtmf "))
    assert "FAIL" in row and 'dtmf.received[bob]: expected "123", seen "12"' in row
    assert any("error: pjsua exited" in line for line in lines)
    assert any("passed on attempt 2 after 1 failed" in line for line in lines)
    assert lines[-1].startswith("4 scenario runs: 1 passed, 1 failed, 1 error, 1 flaky")


# --------------------------------------------------------------------------- JUnit


def test_junit_validates_and_carries_everything(tmp_path):
    path = write_junit(make_suite(tmp_path), tmp_path / "junit.xml")
    SCHEMA.validate(str(path))
    root = ET.parse(path).getroot()
    (ts,) = root.findall("testsuite")
    assert ts.get("name") == "callgen"
    assert (ts.get("tests"), ts.get("failures"), ts.get("errors"), ts.get("skipped")) == ("4", "1", "1", "0")
    assert ts.get("time") == "6.750" and ts.get("timestamp") and ts.get("hostname")
    cases = {c.get("name"): c for c in ts.findall("testcase")}
    assert cases["basic call"].get("classname") == "callgen.lib"  # the library folder is the class
    assert cases["srtp"].get("classname") == "callgen.lib"
    assert cases["basic call"].get("time") == "1.250"
    fail = cases["dtmf"].find("failure")
    assert 'dtmf.received[bob]: expected "123", seen "12"' in fail.get("message")
    assert "call.answered" not in fail.get("message")  # only failed checks
    out = cases["dtmf"].find("system-out").text
    assert "PASS call.answered" in out and "FAIL dtmf.received[bob]" in out
    assert "artefacts: " + str(tmp_path / "dtmf" / "run") in out
    assert "file: /lib/dtmf.yaml" in out and "alice -> bob ACK" in out
    assert "\x1b" not in out and "\x07" not in out and "& <b>" in out
    assert cases["srtp"].find("error").get("message") == "pjsua exited with status 1"
    flaky = cases["flaky one"]
    assert flaky.find("failure") is None and flaky.find("error") is None
    assert len(flaky.findall("flakyFailure")) == 1
    assert "flaky=true" in flaky.find("system-out").text
    props = {(p.get("name"), p.get("value")) for p in ts.findall("properties/property")}
    assert ("flaky", "callgen.lib::flaky one") in props


def test_junit_class_is_the_library_folder_else_the_first_tag(tmp_path):
    """Jenkins groups test cases by class: one class per library folder, not one per scenario."""
    results = (ScenarioResult("a", "library/sip.v2/a.yaml", Verdict.PASS, 1.0, tags=("smoke",)),
               ScenarioResult("b", "library/sip.v2/b.yaml", Verdict.FAIL, 1.0, (CheckResult("c", False, "1", "2"),)),
               ScenarioResult("c", "c.yaml", Verdict.PASS, 1.0, tags=("nightly", "srtp")),
               ScenarioResult("d", "d.yaml", Verdict.PASS, 1.0))
    path = write_junit(SuiteResult(results, 4.0, 1, started="2025-01-01T10:00:00+00:00"), tmp_path / "j.xml")
    SCHEMA.validate(str(path))
    classes = {tc.get("name"): tc.get("classname") for tc in ET.parse(path).getroot().iter("testcase")}
    assert classes == {"a": "callgen.sip_v2", "b": "callgen.sip_v2", "c": "callgen.nightly", "d": "callgen"}


def test_schema_is_strict_enough_to_catch_mistakes(tmp_path):
    """The validation above means something: the schema rejects what junit-10 rejects."""
    bad = tmp_path / "bad.xml"
    bad.write_text('<testsuites><testsuite name="x" tests="1" failures="0" errors="0" time="1.23456">'
                   '<testcase name="t" file="x.yaml"/></testsuite></testsuites>')
    assert not SCHEMA.is_valid(str(bad))
    bad.write_text('<testsuites><testsuite name="x" tests="1"><testcase name="t"/></testsuite></testsuites>')
    assert not SCHEMA.is_valid(str(bad))


def test_junit_rerun_failures_for_a_scenario_that_failed_every_retry(tmp_path):
    bad = CheckResult("c", False, "a", "b")
    atts = [{"attempt": i, "verdict": "fail", "error": "", "artefacts": f"/o/x-a{i}", "failed_checks": [bad.to_dict()]}
            for i in (1, 2)]
    r = ScenarioResult("x", "/x.yaml", Verdict.FAIL, 1.0, (bad,), attempts=2, summary=Findings.from_dict({"failed_attempts": atts}))
    path = write_junit(SuiteResult((r,), 1.0, 1, started="t"), tmp_path / "j.xml")
    SCHEMA.validate(str(path))
    tc = ET.parse(path).getroot().find("testsuite/testcase")
    assert len(tc.findall("failure")) == 1 and len(tc.findall("rerunFailure")) == 1


# --------------------------------------------------------------------------- JSON


def test_json_report(tmp_path):
    suite = make_suite(tmp_path)
    data = json.loads(json.dumps(to_json(suite)))
    assert set(data) >= {"callgen_version", "started", "duration_s", "jobs", "results", "totals"}
    assert data["totals"] == {"tests": 4, "passed": 1, "failed": 1, "errors": 1, "flaky": 1, "not_run": 0,
                              "exit_status": 1}
    back = [ScenarioResult.from_dict(d) for d in data["results"]]
    assert back[1].failed_checks[0].seen == '"12"'


# --------------------------------------------------------------------------- index and --keep


def test_index_links_files_and_escapes(tmp_path):
    suite = make_suite(tmp_path)
    page = render_html(suite, tmp_path)
    assert 'href="basic/run/capture.pcap"' in page and 'href="dtmf/run/result.json"' in page
    assert "&lt;b&gt;" in page and "<b>" not in page and "\x1b" not in page
    assert "ssrc=0x1234" in page and "alice &lt;- bob 200 OK" in page
    assert page.count("<script") == 1  # the page's own filter script, nothing from the data
    md = render_markdown(suite, tmp_path)
    assert "[capture.pcap](<basic/run/capture.pcap>)" in md
    assert "| dtmf | FAIL |" in md and "DTMF: 1 (+0.500 s, rfc4733), 2 (+1.000 s, sip-info)" in md


def test_keep_failed_deletes_only_passing_run_folders(tmp_path):
    suite = make_suite(tmp_path)
    done = publish(suite, tmp_path, junit=tmp_path / "junit.xml", json_path=tmp_path / "report.json", keep="failed")
    assert [p.name for p in done.deleted] == ["basic"]
    assert not (tmp_path / "basic").exists()
    for kept in ("dtmf", "srtp", "flaky", "flaky-a2"):
        assert (tmp_path / kept / "run" / "capture.pcap").exists(), kept
    for report in ("junit.xml", "report.json", "index.html", "summary.md"):
        assert (tmp_path / report).is_file(), report
    assert "run folder removed" in (tmp_path / "index.html").read_text()


def test_keep_none_deletes_all_run_folders_but_not_reports_or_outside(tmp_path):
    out = tmp_path / "out"
    suite = make_suite(out)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    r = ScenarioResult("ext", "/e.yaml", Verdict.PASS, 1.0, artefacts=str(outside))
    suite = SuiteResult(suite.results + (r,), 1.0, 1)
    publish(suite, out, junit=out / "junit.xml", keep="none")
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "junit.xml", "summary.md"]
    assert outside.is_dir()
    assert apply_keep(suite, out, "all") == []


# --------------------------------------------------------------------------- merge


def _shard(tmp_path: Path, name: str, results) -> Path:
    return write_junit(SuiteResult(tuple(results), 2.0, 1, started="2025-01-01T10:00:00+00:00"), tmp_path / name)


def test_merge_junit_shards(tmp_path):
    a = ScenarioResult("a", "/l/a.yaml", Verdict.PASS, 1.0)
    b = ScenarioResult("b", "/l/b.yaml", Verdict.FAIL, 1.0, (CheckResult("c", False, "1", "2"),))
    c = ScenarioResult("c", "/l/c.yaml", Verdict.ERROR, 1.0, error="boom")
    s1 = _shard(tmp_path, "s1.xml", [c, a])
    s2 = _shard(tmp_path, "s2.xml", [b, a])
    res = merge_reports([s1, s2], tmp_path / "all.xml")
    SCHEMA.validate(str(res.output))
    ts = ET.parse(res.output).getroot().find("testsuite")
    assert (ts.get("tests"), ts.get("failures"), ts.get("errors"), ts.get("time")) == ("4", "1", "1", "4.000")
    assert [t.get("name") for t in ts.findall("testcase")] == ["a", "a", "b", "c"]
    assert res.duplicates == ("callgen.l::a",)
    assert ("duplicate", "callgen.l::a") in {(p.get("name"), p.get("value")) for p in ts.iter("property")}


def test_merge_json_shards(tmp_path):
    from callgen.reports.jsonreport import write_json

    a = ScenarioResult("a", "/l/a.yaml", Verdict.PASS, 1.0)
    b = ScenarioResult("b", "/l/b.yaml", Verdict.FLAKY, 1.0, attempts=2)
    j1 = write_json(SuiteResult((b,), 10.0, 2, started="2025-01-01T10:00:00+00:00"), tmp_path / "1.json")
    j2 = write_json(SuiteResult((a,), 5.0, 2, started="2025-01-01T10:00:08+00:00"), tmp_path / "2.json")
    res = merge_reports([j1, j2], tmp_path / "all.json")
    data = json.loads(res.output.read_text())
    assert [r["name"] for r in data["results"]] == ["a", "b"]
    assert data["totals"]["tests"] == 2 and data["totals"]["flaky"] == 1 and data["totals"]["exit_status"] == 0
    assert data["duration_s"] == 13.0 and data["jobs"] == 4 and data["duplicates"] == []


def test_merge_bad_inputs_name_the_file(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<testsuites>\n<testsuite>\n</testsuites>")
    with pytest.raises(ReportInputError, match=r"bad\.xml:3:\d+: not a JUnit XML file"):
        merge_reports([bad], tmp_path / "o.xml")
    other = tmp_path / "other.xml"
    other.write_text("<html/>")
    with pytest.raises(ReportInputError, match="neither"):
        merge_reports([other], tmp_path / "o.xml")
    js = tmp_path / "bad.json"
    js.write_text('{"results": [\n{"name": 1}]}')
    with pytest.raises(ReportInputError, match=r"bad\.json: results\[0\]"):
        merge_reports([js], tmp_path / "o.json")
    with pytest.raises(ReportInputError, match=r"missing\.json: no such file"):
        merge_reports([tmp_path / "missing.json"], tmp_path / "o.json")


def test_merge_reports_subcommand(tmp_path):
    a = ScenarioResult("a", "/l/a.yaml", Verdict.PASS, 1.0)
    s1, s2 = _shard(tmp_path, "1.xml", [a]), _shard(tmp_path, "2.xml", [a])
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["merge-reports", "-o", str(tmp_path / "m.xml"), str(s1), str(s2)])
    streams = argparse.Namespace(out=io.StringIO(), err=io.StringIO())
    assert args.func(args, streams) == 0
    assert "2 junit reports, 2 tests" in streams.out.getvalue()
    assert "callgen.l::a is reported by more than one shard" in streams.err.getvalue()


@pytest.mark.parametrize("suffix", [".xml", ".json"])
def test_merge_reports_exit_status_says_whether_the_merge_holds_failures(cli, tmp_path, suffix):
    from callgen.reports.jsonreport import write_json

    def shard(name, *results):
        suite = SuiteResult(tuple(results), 2.0, 1, started="2025-01-01T10:00:00+00:00")
        return str(write_junit(suite, tmp_path / (name + suffix)) if suffix == ".xml" else write_json(suite, tmp_path / (name + suffix)))

    good = shard("good", ScenarioResult("a", "/l/a.yaml", Verdict.PASS, 1.0),
                 ScenarioResult("f", "/l/f.yaml", Verdict.FLAKY, 1.0, attempts=2))
    bad = shard("bad", ScenarioResult("b", "/l/b.yaml", Verdict.FAIL, 1.0, (CheckResult("c", False, "1", "2"),)))
    broken = shard("broken", ScenarioResult("e", "/l/e.yaml", Verdict.ERROR, 1.0, error="boom"))
    assert cli("merge-reports", "-o", str(tmp_path / ("ok" + suffix)), good).status == 0
    for other in (bad, broken):
        r = cli("merge-reports", "-o", str(tmp_path / ("all" + suffix)), good, other)
        assert r.status == 1, r.err
        assert "1 failed" in r.out or "1 error" in r.out


def test_terminal_text_has_no_control_characters(tmp_path):
    text = format_summary(make_suite(tmp_path)) + "".join(format_scenario(r) for r in make_suite(tmp_path).results)
    assert not [ch for ch in text if ord(ch) < 32 and ch != "\n"]
    assert "pjsua said [31mred & <b>" in text


def test_run_suite_command_end_to_end_with_fakes(tmp_path):
    """collect -> validate -> select -> run -> publish, as `callgen run` calls it."""
    from dataclasses import dataclass

    from callgen.reports.command import add_suite_arguments, run_suite_command

    @dataclass(frozen=True)
    class Sc:
        name: str
        source: Path
        tags: tuple = ()

    @dataclass(frozen=True)
    class Opts:
        out_dir: Path
        keep: str = "all"

    for n in ("a", "b", "c"):
        (tmp_path / f"{n}.yaml").write_text("x")

    def run_one(sc, opts):
        opts.out_dir.mkdir(parents=True)
        (opts.out_dir / "capture.pcap").write_bytes(b"")
        verdict = Verdict.FAIL if sc.name == "b" else Verdict.PASS
        return ScenarioResult(sc.name, str(sc.source), verdict, 0.1,
                              (CheckResult("k", verdict is Verdict.PASS, "1", "2"),), str(opts.out_dir))

    parser = argparse.ArgumentParser()
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--out", type=Path)
    add_suite_arguments(parser)
    out = tmp_path / "out"
    args = parser.parse_args([str(tmp_path), "--out", str(out), "-k", "not c", "--keep", "failed",
                              "--junit", str(out / "junit.xml"), "--var", "x=1"])
    streams = argparse.Namespace(out=io.StringIO(), err=io.StringIO())
    status = run_suite_command(args, streams, make_run_options=lambda a, o: Opts(out_dir=o),
                               load=lambda p, variables: Sc(p.stem, p), run_one=run_one)
    assert status == 1
    assert "[2/2] FAIL  b" in streams.err.getvalue()
    assert "\nb         FAIL" in streams.out.getvalue() and "k: expected 1, seen 2" in streams.out.getvalue()
    assert sorted(p.name for p in out.iterdir()) == [".callgen-output", "b", "index.html", "junit.xml", "summary.md"]
    SCHEMA.validate(str(out / "junit.xml"))
    # the failing scenario's own page is named, so the reader goes straight to it
    page = out / "b" / "report.html"
    assert page.is_file() and f"FAIL b: {page}\n" in streams.out.getvalue()
    assert "PASS a:" not in streams.out.getvalue()


def test_merge_reports_writes_one_html_index_of_every_shard(cli, tmp_path):
    """Shards' JSON merged into one page a nightly reader opens: failures first, every shard's scenarios."""
    from callgen.reports.jsonreport import write_json

    def shard(name, *results):
        return str(write_json(SuiteResult(tuple(results), 2.0, 1, started="2025-01-01T10:00:00+00:00"), tmp_path / f"{name}.json"))

    one = shard("s0", ScenarioResult("alpha", "/l/alpha.yaml", Verdict.PASS, 1.0))
    two = shard("s1", ScenarioResult("beta", "/l/beta.yaml", Verdict.FAIL, 1.0,
                                     (CheckResult("call1.final_code", False, "200", "486<script>"),)))
    page = tmp_path / "site" / "index.html"
    r = cli("merge-reports", "-o", str(tmp_path / "all.json"), "--html", str(page), one, two)
    assert r.status == 1, r.err
    html = page.read_text()
    assert "alpha" in html and "beta" in html
    assert html.index("beta") < html.index("alpha")  # failures first
    assert "call1.final_code" in html and "486&lt;script&gt;" in html and "486<script>" not in html
    assert f"html index: {page}" in r.out


def test_merge_reports_html_needs_the_json_form(cli, tmp_path):
    from callgen.reports.junit import write_junit as junit

    x = str(junit(SuiteResult((ScenarioResult("a", "/l/a.yaml", Verdict.PASS, 1.0),), 1.0, 1), tmp_path / "a.xml"))
    r = cli("merge-reports", "-o", str(tmp_path / "all.xml"), "--html", str(tmp_path / "i.html"), x)
    assert r.status == 2
    assert "--html" in r.err and "JSON" in r.err
