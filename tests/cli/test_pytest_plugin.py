"""The pytest plugin, driven through pytester with the real loader and a fake runner.

The fake runner is a conftest implementing ``pytest_callgen_run_scenario``:
each scenario's verdict comes from its name, so failures are real failures.
"""

from __future__ import annotations

import importlib.metadata
import xml.etree.ElementTree as ET

import pytest

pytest_plugins = ["pytester"]


def _plugin_args() -> list[str]:
    """``-p callgen.cli.pytest_plugin`` unless the entry point already loads it
    (registering it twice is an error)."""
    eps = importlib.metadata.entry_points(group="pytest11")
    if any(ep.value == "callgen.cli.pytest_plugin" for ep in eps):
        return []
    return ["-p", "callgen.cli.pytest_plugin"]


FAKE_RUNNER = '''
import json
from pathlib import Path
from callgen.verdict.result import CheckResult, ScenarioResult, Verdict

def pytest_callgen_run_scenario(scenario, out_dir, variables, config):
    run = Path(out_dir) / "run"
    run.mkdir(parents=True, exist_ok=True)
    (run / "seen.json").write_text(json.dumps({"variables": dict(variables)}))
    ok = CheckResult("call.answered", True, "200", "200")
    if scenario.name.startswith("fail"):
        checks = (ok, CheckResult("dtmf.received[bob]", False, '"123"', '"12"', "digit 3 missing"))
        return ScenarioResult(scenario.name, str(scenario.source), Verdict.FAIL, 0.5, checks, str(run),
                              ladder=("alice -> bob INVITE", "alice <- bob 486 Busy Here"))
    if scenario.name.startswith("error"):
        return ScenarioResult(scenario.name, str(scenario.source), Verdict.ERROR, 0.1, (), str(run),
                              error="pjsua exited with status 1")
    return ScenarioResult(scenario.name, str(scenario.source), Verdict.PASS, 0.2, (ok,), str(run))
'''


def scenario(name: str, *, header: bool = True, tags: str = "[smoke]") -> str:
    head = "# yaml-language-server: $schema=../schemas/scenario.schema.json\n" if header else ""
    return (head + f"name: {name}\ntags: {tags}\nagents:\n  alice: {{role: caller}}\n  bob: {{role: callee}}\n"
            "calls:\n  - from: alice\n    to: bob\n")


@pytest.fixture
def lib(pytester: pytest.Pytester):
    pytester.makeconftest(FAKE_RUNNER)
    d = pytester.mkdir("scenarios")
    (d / "basic.yaml").write_text(scenario("basic-call"))
    (d / "no_header.yml").write_text(scenario("plain-call", header=False, tags="[nightly]"))
    (d / "dtmf.yaml").write_text(scenario("fail-dtmf"))
    (d / "infra.yaml").write_text(scenario("error-infra"))
    (d / "ci.yaml").write_text("stages: [test]\njobs:\n  build:\n    script: make\n")
    (d / "k8s.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: agents}\n")
    return pytester


def test_collects_only_scenario_files(lib):
    res = lib.runpytest(*_plugin_args(), "--collect-only", "-q", "scenarios")
    items = sorted(line for line in res.outlines if "::" in line)
    assert items == ["scenarios/basic.yaml::basic", "scenarios/dtmf.yaml::dtmf",
                     "scenarios/infra.yaml::infra", "scenarios/no_header.yml::no_header"]


def test_outcomes_and_failure_report_without_traceback(lib):
    res = lib.runpytest(*_plugin_args(), "scenarios")
    res.assert_outcomes(passed=2, failed=2)
    out = res.stdout.str()
    assert 'FAILED dtmf.received[bob]: expected "123", seen "12" (digit 3 missing)' in out
    assert "alice <- bob 486 Busy Here" in out
    assert "error: pjsua exited with status 1" in out
    assert "call.answered" not in out.split("FAILURES")[1].split("short test summary")[0]  # only failed checks
    assert "Traceback" not in out and "def runtest" not in out and "raise ScenarioFailed" not in out
    assert res.ret == 1
    summary = [line for line in res.outlines if line.startswith("FAILED scenarios/dtmf.yaml")]
    assert summary and "FAIL dtmf.received[bob]: expected" in summary[0]


def test_invalid_scenario_shows_the_scenario_error_line(lib):
    bad = lib.path / "scenarios" / "bad.yaml"
    bad.write_text(scenario("basic-call").replace("role: callee", "role: operator"))
    res = lib.runpytest(*_plugin_args(), "scenarios/bad.yaml")
    res.assert_outcomes(failed=1)
    line = next(line for line in res.outlines if line.startswith("callgen: error:"))
    assert "bad.yaml:" in line and "agents.bob.role" in line
    assert "Traceback" not in res.stdout.str()


def test_keyword_selection_by_scenario_name_and_tag(lib):
    res = lib.runpytest(*_plugin_args(), "scenarios", "-k", "nightly or basic-call")
    res.assert_outcomes(passed=2)


def test_out_dir_and_variables_reach_the_runner(lib):
    out = lib.path / "artefacts"
    res = lib.runpytest(*_plugin_args(), "scenarios/basic.yaml", f"--callgen-out={out}",
                        "--callgen-var", "host=127.0.0.1", "--callgen-var", "n=2")
    res.assert_outcomes(passed=1)
    seen = list(out.rglob("seen.json"))
    assert len(seen) == 1 and seen[0].parent.parent.name == "scenarios_basic"
    assert '"host": "127.0.0.1"' in seen[0].read_text() and '"n": "2"' in seen[0].read_text()
    lib.runpytest(*_plugin_args(), "scenarios/basic.yaml", f"--callgen-out={out}").assert_outcomes(passed=1)
    assert sorted(p.name for p in out.iterdir()) == ["scenarios_basic", "scenarios_basic-2"]  # never reused


def test_bad_variable_is_a_usage_error(lib):
    res = lib.runpytest(*_plugin_args(), "scenarios/basic.yaml", "--callgen-var", "novalue")
    assert res.ret != 0
    assert "expected NAME=VALUE" in res.stderr.str() + res.stdout.str()


def test_junitxml_gets_verdict_and_artefacts(lib):
    xml = lib.path / "junit.xml"
    res = lib.runpytest(*_plugin_args(), "scenarios", f"--junitxml={xml}")
    res.assert_outcomes(passed=2, failed=2)
    cases = {c.get("name"): c for c in ET.parse(xml).getroot().iter("testcase")}
    props = {p.get("name"): p.get("value") for p in cases["dtmf"].iter("property")}
    assert props["verdict"] == "fail" and props["artefacts"].endswith("run")
    assert 'expected "123", seen "12"' in cases["dtmf"].find("failure").get("message")


def test_collection_can_be_turned_off(lib):
    lib.makeini("[pytest]\ncallgen_collect = false\n")
    res = lib.runpytest(*_plugin_args(), "scenarios")
    assert res.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_works_with_xdist(lib):
    pytest.importorskip("xdist")
    res = lib.runpytest_subprocess(*_plugin_args(), "-n", "2", "-p", "no:cacheprovider", "scenarios")
    res.assert_outcomes(passed=2, failed=2)
    assert 'FAILED dtmf.received[bob]: expected "123", seen "12"' in res.stdout.str()
