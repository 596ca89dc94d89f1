"""Suite: collection, -k/--tag selection, validation of every file, parallel runs."""

from __future__ import annotations

import concurrent.futures as cf
import io
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from callgen.errors import ExitStatus, ScenarioError, ScenarioErrors, UsageError
from callgen.suite import execute as suite_mod
from callgen.suite.execute import (
    SuiteOptions,
    SuiteResult,
    SuiteValidationError,
    collect,
    keyword_matcher,
    run_folder_name,
    run_suite,
    select,
    stream_progress,
    validate_all,
)
from callgen.verdict.result import CheckResult, ScenarioResult, Verdict


@dataclass(frozen=True)
class FakeScenario:
    name: str
    source: Path
    tags: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class FakeRunOptions:
    out_dir: Path
    pjsua: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    keep: str = "all"


def result_for(sc, opts, verdict=Verdict.PASS, checks=()):
    run_dir = Path(opts.out_dir) / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    return ScenarioResult(name=sc.name, file=str(sc.source), verdict=verdict, duration_s=0.25,
                          checks=tuple(checks), artefacts=str(run_dir), tags=sc.tags)


def options(tmp_path, **kw):
    return SuiteOptions(run=FakeRunOptions(out_dir=tmp_path), out_dir=tmp_path / "out", **kw)


# --------------------------------------------------------------------------- collect


def test_collect_walks_dirs_skips_hidden_and_non_yaml_sorts_and_dedups(tmp_path):
    (tmp_path / "lib" / "sub").mkdir(parents=True)
    (tmp_path / "lib" / ".hidden").mkdir()
    (tmp_path / "lib" / "audio").mkdir()
    for rel in ["lib/b.yaml", "lib/a.yml", "lib/sub/c.yaml", "lib/.hidden/x.yaml", "lib/audio/tone.wav",
                "lib/notes.txt"]:
        (tmp_path / rel).write_text("x")
    got = collect([str(tmp_path / "lib"), str(tmp_path / "lib" / "b.yaml")])
    assert got == sorted(got)
    assert [p.relative_to(tmp_path).as_posix() for p in got] == ["lib/a.yml", "lib/b.yaml", "lib/sub/c.yaml"]


def test_collect_globs_and_missing_paths(tmp_path):
    (tmp_path / "x1.yaml").write_text("")
    (tmp_path / "x2.yaml").write_text("")
    (tmp_path / "x3.wav").write_text("")
    got = collect([str(tmp_path / "x*")])
    assert [p.name for p in got] == ["x1.yaml", "x2.yaml"]
    with pytest.raises(UsageError, match="no such file"):
        collect([str(tmp_path / "missing.yaml")])
    with pytest.raises(UsageError, match="matches no file"):
        collect([str(tmp_path / "nothing*.yaml")])


# --------------------------------------------------------------------------- -k


@pytest.mark.parametrize(
    "expr, candidates, expected",
    [
        ("dtmf", ["basic-dtmf", "x"], True),
        ("DTMF", ["basic-dtmf"], True),
        ("dtmf", ["basic", "call"], False),
        ("basic and not srtp", ["basic-call"], True),
        ("basic and not srtp", ["basic-srtp"], False),
        ("srtp or tls", ["call-tls"], True),
        ("a or b and c", ["a"], True),  # and binds tighter than or
        ("(a or b) and c", ["a"], False),
        ("not (a or b)", ["zzz"], True),
        ("not not a", ["a"], True),
    ],
)
def test_keyword_expressions(expr, candidates, expected):
    assert keyword_matcher(expr)(candidates) is expected


@pytest.mark.parametrize("expr", ["a and", "(a", "a)", "and a", "not", "a b", ""])
def test_bad_keyword_expressions_are_usage_errors(expr):
    with pytest.raises(UsageError):
        keyword_matcher(expr)


def test_select_by_keyword_on_name_or_stem_and_any_tag():
    scs = [
        FakeScenario("basic call", Path("/s/basic.yaml"), ("smoke",)),
        FakeScenario("dtmf inband", Path("/s/dtmf.yaml"), ("dtmf", "slow")),
        FakeScenario("srtp", Path("/s/secure.yaml"), ("security",)),
    ]
    assert [s.name for s in select(scs, "secure", [])] == ["srtp"]  # file stem
    assert [s.name for s in select(scs, "not dtmf", [])] == ["basic call", "srtp"]
    assert [s.name for s in select(scs, None, ["slow", "security"])] == ["dtmf inband", "srtp"]
    assert [s.name for s in select(scs, "call or srtp", ["smoke"])] == ["basic call"]
    assert select(scs, None, []) == scs


# --------------------------------------------------------------------------- validate


def test_validate_all_reports_every_invalid_file(tmp_path):
    files = [tmp_path / n for n in ("a.yaml", "b.yaml", "c.yaml", "d.yaml")]

    def load(path, *, variables):
        if path.name in ("b.yaml", "d.yaml"):
            raise ScenarioError("unknown key", location=f"{path}:3", path="agents.bob.answr")
        return FakeScenario(path.stem, path)

    with pytest.raises(SuiteValidationError) as ei:
        validate_all(files, {}, load=load)
    err = ei.value
    assert isinstance(err, ScenarioError) and err.exit_status == ExitStatus.INVALID_INPUT
    assert len(err.errors) == 2
    lines = str(err).splitlines()
    assert lines[0] == "2 problems in 2 invalid scenario files:"
    assert lines[1].strip() == f"{tmp_path / 'b.yaml'}:3: agents.bob.answr: unknown key"
    assert "d.yaml:3" in lines[2]
    ok = validate_all(files[:1], {"x": "1"}, load=load)
    assert [s.name for s in ok] == ["a"]


def test_validate_all_flattens_several_errors_of_one_file(tmp_path):
    def load(path, *, variables):
        raise ScenarioErrors([ScenarioError("bad port", location=f"{path}:4", path="agents.a.port"),
                              ScenarioError("bad role", location=f"{path}:9", path="agents.b.role")])

    with pytest.raises(SuiteValidationError) as ei:
        validate_all([tmp_path / "x.yaml"], load=load)
    assert str(ei.value).splitlines()[0] == "2 problems in 1 invalid scenario file:"
    assert len(ei.value.errors) == 2


def test_validate_all_names_the_file_when_the_error_has_no_location(tmp_path):
    def load(path, *, variables):
        raise ScenarioError("not a mapping")

    with pytest.raises(SuiteValidationError, match=r"x\.yaml: not a mapping"):
        validate_all([tmp_path / "x.yaml"], load=load)


# --------------------------------------------------------------------------- run


def test_runs_in_parallel_up_to_jobs(tmp_path):
    barrier = threading.Barrier(2, timeout=5)

    def run_one(sc, opts):
        barrier.wait()  # only returns if two runs are in flight at once
        return result_for(sc, opts)

    scs = [FakeScenario(n, tmp_path / f"{n}.yaml") for n in ("a", "b")]
    res = run_suite(scs, options(tmp_path, jobs=2), run_one=run_one)
    assert [r.verdict for r in res.results] == [Verdict.PASS, Verdict.PASS]
    assert res.jobs == 2 and res.exit_status == 0


def test_results_sorted_whatever_the_finishing_order(tmp_path):
    b_done = threading.Event()

    def run_one(sc, opts):
        if sc.name == "a":
            assert b_done.wait(5)  # "a" finishes last
        res = result_for(sc, opts)
        if sc.name == "b":
            b_done.set()
        return res

    scs = [FakeScenario("b", tmp_path / "2.yaml"), FakeScenario("a", tmp_path / "1.yaml")]
    res = run_suite(scs, options(tmp_path, jobs=2), run_one=run_one)
    assert [r.name for r in res.results] == ["a", "b"]


def test_retry_that_passes_is_flaky_never_pass(tmp_path):
    calls: list[Path] = []

    def run_one(sc, opts):
        calls.append(opts.out_dir)
        assert opts.keep == "all"  # the suite applies --keep itself, after reports
        if len(calls) == 1:
            return result_for(sc, opts, Verdict.FAIL, [CheckResult("dtmf", False, "123", "12")])
        return result_for(sc, opts)

    res = run_suite([FakeScenario("x", tmp_path / "x.yaml")], options(tmp_path, retries=2), run_one=run_one)
    (r,) = res.results
    assert r.verdict is Verdict.FLAKY and r.attempts == 2
    assert r.summary.failed_attempts[0].failed_checks[0].seen == "12"
    assert len(set(calls)) == 2 and calls[1].name == "x-a2"
    assert res.exit_status == 0
    assert r.duration_s == pytest.approx(0.5)


def test_retries_exhausted_keeps_the_failure(tmp_path):
    def run_one(sc, opts):
        return result_for(sc, opts, Verdict.FAIL, [CheckResult("c", False, "a", "b")])

    res = run_suite([FakeScenario("x", tmp_path / "x.yaml")], options(tmp_path, retries=2), run_one=run_one)
    (r,) = res.results
    assert r.verdict is Verdict.FAIL and r.attempts == 3
    assert len(r.summary.failed_attempts) == 3
    assert res.exit_status == ExitStatus.CHECKS_FAILED


def test_repeat_gives_one_result_per_repeat_with_own_folder(tmp_path):
    seen = []

    def run_one(sc, opts):
        seen.append(opts.out_dir.name)
        return result_for(sc, opts)

    res = run_suite([FakeScenario("call me", tmp_path / "x.yaml")], options(tmp_path, repeat=3, jobs=2),
                    run_one=run_one)
    assert [r.name for r in res.results] == ["call me[#1]", "call me[#2]", "call me[#3]"]
    assert sorted(seen) == ["call_me-r1", "call_me-r2", "call_me-r3"]


def test_same_name_in_two_files_does_not_share_a_folder(tmp_path):
    seen = []

    def run_one(sc, opts):
        seen.append(opts.out_dir)
        return result_for(sc, opts)

    scs = [FakeScenario("same", tmp_path / "a.yaml"), FakeScenario("same", tmp_path / "b.yaml")]
    run_suite(scs, options(tmp_path), run_one=run_one)
    assert len(set(seen)) == 2


def test_runner_exception_becomes_error_and_others_still_run(tmp_path):
    def run_one(sc, opts):
        if sc.name == "boom":
            raise RuntimeError("pjsua vanished")
        return result_for(sc, opts)

    scs = [FakeScenario("boom", tmp_path / "a.yaml"), FakeScenario("fine", tmp_path / "b.yaml")]
    res = run_suite(scs, options(tmp_path), run_one=run_one)
    assert [r.verdict for r in res.results] == [Verdict.ERROR, Verdict.PASS]
    assert "pjsua vanished" in res.results[0].error
    assert res.exit_status == ExitStatus.INFRASTRUCTURE


def test_progress_lines(tmp_path):
    out = io.StringIO()
    run_suite([FakeScenario("a", tmp_path / "a.yaml")], options(tmp_path),
              run_one=lambda sc, o: result_for(sc, o), progress=stream_progress(out))
    lines = out.getvalue().splitlines()
    assert lines == ["[1/1] START a", "[1/1] PASS  a (0.2s)"]


def test_interrupt_stops_new_work_and_keeps_finished_results(tmp_path, monkeypatch):
    started, release = threading.Event(), threading.Event()
    real_wait = cf.wait
    calls = {"n": 0}

    def fake_wait(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 1:
            assert started.wait(5)
            raise KeyboardInterrupt
        release.set()
        return real_wait(*a, **kw)

    def run_one(sc, opts):
        started.set()
        assert release.wait(5)
        return result_for(sc, opts)

    monkeypatch.setattr(suite_mod.cf, "wait", fake_wait)
    scs = [FakeScenario(n, tmp_path / f"{n}.yaml") for n in ("a", "b", "c")]
    res = run_suite(scs, options(tmp_path, jobs=1), run_one=run_one)
    assert res.interrupted and res.not_run == 2
    assert [r.name for r in res.results] == ["a"]
    assert res.exit_status == ExitStatus.INTERRUPTED


@pytest.mark.parametrize(
    "verdicts, status",
    [
        ([Verdict.PASS, Verdict.FLAKY], 0),
        ([Verdict.PASS, Verdict.ERROR], 3),
        ([Verdict.ERROR, Verdict.FAIL], 1),
        ([], 0),
    ],
)
def test_exit_status_rules(verdicts, status):
    results = tuple(ScenarioResult(f"s{i}", "f.yaml", v, 1.0) for i, v in enumerate(verdicts))
    assert SuiteResult(results, 1.0, 1).exit_status == status


def test_run_folder_names_are_safe():
    assert run_folder_name("a/b c:d", repeat=2, attempt=3) == "a_b_c_d-r2-a3"
    assert run_folder_name("../..") == "scenario"


def test_bad_suite_options():
    with pytest.raises(UsageError):
        SuiteOptions(run=None, out_dir=Path("."), repeat=0)


def test_runner_interrupted_stops_retries_and_new_work(tmp_path):
    from callgen.errors import Interrupted

    calls = []

    def run_one(sc, opts):
        calls.append(sc.name)
        raise Interrupted("interrupted; partial artefacts kept")

    scs = [FakeScenario(n, tmp_path / f"{n}.yaml") for n in ("a", "b")]
    res = run_suite(scs, options(tmp_path, jobs=1, retries=3), run_one=run_one)
    assert calls == ["a"]  # no retry of a, b never started
    assert [r.verdict for r in res.results] == [Verdict.ERROR]
    assert res.not_run == 1 and res.interrupted and res.exit_status == ExitStatus.INTERRUPTED
