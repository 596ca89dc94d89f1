"""Scenarios an interrupt kept from running are reported as not run: JUnit
``<skipped>`` testcases (not silently absent), and JSON ``not_run`` kept
through merge-reports."""

from __future__ import annotations

import json
import os
import signal
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import xmlschema

from callgen.reports.jsonreport import write_json
from callgen.reports.junit import write_junit
from callgen.reports.merge import merge_reports
from callgen.suite import execute as suite_mod
from callgen.suite.execute import SuiteOptions, run_suite
from tests.suite.test_suite import FakeScenario, result_for


@dataclass(frozen=True)
class CancellableRunOptions:
    out_dir: Path
    cancel: Any = None
    keep: str = "all"


SCHEMA = xmlschema.XMLSchema(str(Path(__file__).parents[1] / "data" / "junit" / "junit.xsd"))


@pytest.fixture
def interrupted_suite(monkeypatch):
    """Run ``names`` one at a time; a real SIGINT arrives while the first one runs,
    once the suite waits for it (as a user's Ctrl-C would)."""
    waiting = threading.Event()
    real_wait = suite_mod.cf.wait

    def wait(*a, **kw):
        waiting.set()
        return real_wait(*a, **kw)

    monkeypatch.setattr(suite_mod.cf, "wait", wait)

    def run(tmp_path: Path, names: tuple[str, ...]):
        sent = threading.Event()
        waiting.clear()

        def run_one(sc, opts):
            if not sent.is_set():
                sent.set()
                assert waiting.wait(5)
                os.kill(os.getpid(), signal.SIGINT)  # the main thread gets KeyboardInterrupt in its wait
                assert opts.cancel.wait(5)  # like a real run, this one ends when the suite cancels it
            return result_for(sc, opts)

        scs = [FakeScenario(n, tmp_path / f"{n}.yaml") for n in names]
        opts = SuiteOptions(run=CancellableRunOptions(out_dir=tmp_path), out_dir=tmp_path / "out", jobs=1)
        return run_suite(scs, opts, run_one=run_one)

    return run


def test_interrupted_junit_lists_the_scenarios_that_never_ran(tmp_path, interrupted_suite):
    suite = interrupted_suite(tmp_path, ("a", "b", "c"))
    assert suite.interrupted and suite.not_run == 2
    path = write_junit(suite, tmp_path / "junit.xml")
    SCHEMA.validate(str(path))
    ts = ET.parse(path).getroot().find("testsuite")
    assert (ts.get("tests"), ts.get("skipped"), ts.get("failures"), ts.get("errors")) == ("3", "2", "0", "0")
    skipped = {tc.get("name"): tc.find("skipped").get("message") for tc in ts.iter("testcase") if tc.find("skipped") is not None}
    assert sorted(skipped) == ["b", "c"]
    assert all("not run" in m for m in skipped.values())
    assert {tc.get("classname") for tc in ts.iter("testcase")} == {f"callgen.{tmp_path.name}"}  # their folder


def test_merged_junit_keeps_the_skipped_ones(tmp_path, interrupted_suite):
    one = write_junit(interrupted_suite(tmp_path / "s0", ("a", "b", "c")), tmp_path / "s0.xml")
    two = write_junit(interrupted_suite(tmp_path / "s1", ("d", "e")), tmp_path / "s1.xml")
    merge_reports([one, two], tmp_path / "all.xml")
    ts = ET.parse(tmp_path / "all.xml").getroot().find("testsuite")
    assert (ts.get("tests"), ts.get("skipped")) == ("5", "3")


def test_merged_json_adds_up_not_run(tmp_path, interrupted_suite):
    one = write_json(interrupted_suite(tmp_path / "s0", ("a", "b", "c")), tmp_path / "s0.json")
    two = write_json(interrupted_suite(tmp_path / "s1", ("d", "e")), tmp_path / "s1.json")
    assert json.loads(one.read_text())["totals"]["not_run"] == 2
    merge_reports([one, two], tmp_path / "all.json")
    merged = json.loads((tmp_path / "all.json").read_text())
    assert merged["totals"]["not_run"] == 3 and merged["interrupted"] is True
    assert merged["totals"]["exit_status"] == 130
