"""JUnit XML that CI servers (Jenkins, GitLab, GitHub test reporters) understand.

The document follows the Jenkins xUnit plugin's ``junit-10.xsd`` (the schema
pytest validates its own xunit2 output against; a copy is in
``tests/data/junit/junit.xsd``).  That schema is strict, so:

* ``<testcase>`` carries only ``classname``, ``name`` and ``time``; the
  scenario file is the first line of ``<system-out>`` (a ``file`` attribute
  or per-testcase ``<properties>`` would make the document invalid);
* a FLAKY scenario is a passed testcase with one ``<flakyFailure>`` per failed
  attempt (Surefire's own way to say "flaky", shown by Jenkins), the line
  ``flaky=true`` in its system-out and a suite property ``flaky``;
* a scenario that failed every retry gets ``<rerunFailure>`` for the earlier
  attempts.

Every string passes through ``xml_text`` which drops characters that XML 1.0
cannot carry (control characters from pjsua logs); ElementTree escapes the rest.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callgen import __version__
from callgen.fileio import write_atomic
from callgen.reports.text import check_line, failed_check_line, one_line
from callgen.verdict.findings import AttemptFinding
from callgen.verdict.result import ScenarioResult, Verdict

if TYPE_CHECKING:
    from callgen.suite.execute import SuiteResult

_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: Any) -> str:
    """``value`` as a string XML 1.0 can hold: illegal characters removed."""
    return _ILLEGAL_XML.sub("", str(value))


def junit_time(seconds: float) -> str:
    """Surefire's time format: digits, at most 3 decimals, never negative."""
    return f"{max(0.0, float(seconds)):.3f}"


def classname(result: ScenarioResult) -> str:
    """``callgen.<library folder>`` (else ``callgen.<first tag>``, else ``callgen``): CI groups
    a library's scenarios as one class, each scenario a test of it."""
    return classname_of(result.file, result.tags)


def classname_of(file: str, tags: tuple[str, ...] | list[str] = ()) -> str:
    """Dots in the folder or tag would read as packages, so they become ``_``."""
    group = Path(file.replace("\\", "/")).parent.name if file else ""
    group = group or (tags[0] if tags else "")
    return "callgen." + re.sub(r"[^\w-]", "_", group) if group else "callgen"


def not_run_testcase(name: str, file: str) -> ET.Element:
    """A scenario the suite never started (interrupted): a ``<skipped>`` testcase, so CI
    shows the work as not done instead of leaving it out of the totals."""
    tc = ET.Element("testcase", {"classname": xml_text(classname_of(file)), "name": xml_text(name),
                                 "time": junit_time(0)})
    _el(tc, "skipped", "", message="not run: the suite was interrupted before this scenario started")
    _el(tc, "system-out", f"file: {file}\nscenario: {name}\nverdict: not run\n")
    return tc


def _el(parent: ET.Element, tag: str, text: str = "", **attrs: Any) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
    if text:
        el.text = xml_text(text)
    return el


def failure_message(result: ScenarioResult) -> str:
    """One line: every failed check with expected vs seen."""
    return "; ".join(failed_check_line(c) for c in result.failed_checks) or one_line(result.error) or result.verdict.value


def _system_out(result: ScenarioResult) -> str:
    lines = [f"file: {result.file}", f"scenario: {result.name}", f"verdict: {result.verdict.value}",
             f"attempts: {result.attempts}"]
    if result.verdict is Verdict.FLAKY:
        lines.append("flaky=true")
    lines.append(f"artefacts: {result.artefacts}")
    if result.tags:
        lines.append("tags: " + ", ".join(result.tags))
    if result.error:
        lines.append("error: " + result.error)
    lines.append("checks:")
    lines.extend("  " + check_line(c) for c in result.checks)
    for att in result.summary.failed_attempts:
        lines.append(_attempt_line(att))
    if result.ladder:
        lines.append("SIP ladder:")
        lines.extend("  " + line for line in result.ladder)
    return "\n".join(lines) + "\n"


def _attempt_line(att: AttemptFinding) -> str:
    checks = "; ".join(f"{c.name}: expected {c.expected}, seen {c.seen}" for c in att.failed_checks)
    detail = one_line(att.error or checks)
    return f"failed attempt {att.attempt}: {att.verdict}: {detail} (artefacts: {att.artefacts})"


def _attempt_elements(tc: ET.Element, result: ScenarioResult) -> None:
    attempts = result.summary.failed_attempts
    if result.verdict is Verdict.FLAKY:
        tag = "flaky"
    elif result.verdict in (Verdict.FAIL, Verdict.ERROR):
        tag = "rerun"
        attempts = attempts[:-1]  # the last one is the <failure>/<error> itself
    else:
        return
    for att in attempts:
        kind = "Error" if att.verdict == Verdict.ERROR.value else "Failure"
        el = _el(tc, f"{tag}{kind}", "", message=_attempt_line(att), type=f"callgen.{att.verdict}")
        _el(el, "system-out", f"artefacts: {att.artefacts}\n")


def testcase(result: ScenarioResult) -> ET.Element:
    tc = ET.Element("testcase", {"classname": xml_text(classname(result)), "name": xml_text(result.name),
                                 "time": junit_time(result.duration_s)})
    details = "\n".join(check_line(c) for c in result.failed_checks)
    if result.verdict is Verdict.FAIL:
        _el(tc, "failure", details + "\n", message=failure_message(result), type="callgen.CheckFailed")
    elif result.verdict is Verdict.ERROR:
        text = result.error + ("\n" + details if details else "") + "\n"
        _el(tc, "error", text, message=one_line(result.error) or failure_message(result), type="callgen.Error")
    _attempt_elements(tc, result)
    _el(tc, "system-out", _system_out(result))
    return tc


def threshold_testcases(result: ScenarioResult) -> list[ET.Element]:
    """A load run's thresholds (``load.*`` checks), one testcase each beside the scenario's,
    so CI shows which threshold failed, the failed calls named in the failure text."""
    out = []
    for c in result.checks:
        if not c.name.startswith("load."):
            continue
        tc = ET.Element("testcase", {"classname": xml_text(classname(result) + ".load"),
                                     "name": xml_text(f"{result.name} {c.name}"), "time": junit_time(0)})
        if not c.passed:
            _el(tc, "failure", check_line(c) + "\n", message=failed_check_line(c), type="callgen.ThresholdMissed")
        _el(tc, "system-out", f"expected: {c.expected}\nseen: {c.seen}\nevidence: {c.evidence}\n")
        out.append(tc)
    return out


def build_junit(suite: SuiteResult, *, hostname: str | None = None) -> ET.Element:
    """``<testsuites>`` with one ``<testsuite name="callgen">``."""
    return build_from_testcases(
        [tc for r in suite.results for tc in (testcase(r), *threshold_testcases(r))]
        + [not_run_testcase(n.name, n.file) for n in suite.not_run_units],
        duration_s=suite.duration_s,
        timestamp=suite.started,
        hostname=hostname or socket.gethostname(),
        properties=[("callgen_version", __version__), ("jobs", str(suite.jobs))]
        + [("interrupted", "true")] * suite.interrupted,
    )


def build_from_testcases(
    cases: Iterable[ET.Element],
    *,
    duration_s: float,
    timestamp: str,
    hostname: str,
    properties: Iterable[tuple[str, str]] = (),
) -> ET.Element:
    """Assemble the document, counting totals from the testcases themselves
    (so a merge recomputes them the same way)."""
    cases = list(cases)
    counts = {
        "tests": len(cases),
        "failures": sum(1 for c in cases if c.find("failure") is not None),
        "errors": sum(1 for c in cases if c.find("error") is not None),
        "skipped": sum(1 for c in cases if c.find("skipped") is not None),
    }
    flaky = [f"{c.get('classname')}::{c.get('name')}" for c in cases if c.find("flakyFailure") is not None]
    root = ET.Element("testsuites", {"name": "callgen", "tests": str(counts["tests"]),
                                     "failures": str(counts["failures"]), "errors": str(counts["errors"]),
                                     "time": junit_time(duration_s)})
    ts = _el(root, "testsuite", "", name="callgen", **{k: str(v) for k, v in counts.items()},
             time=junit_time(duration_s), timestamp=timestamp, hostname=hostname)
    props = list(properties) + [("flaky", name) for name in flaky]
    if props:
        pe = ET.SubElement(ts, "properties")
        for name, value in props:
            _el(pe, "property", "", name=name, value=value)
    ts.extend(cases)
    return root


def write_xml(root: ET.Element, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.indent(root)
    write_atomic(path, ET.tostring(root, encoding="utf-8", xml_declaration=True))


def write_junit(suite: SuiteResult, path: Path) -> Path:
    write_xml(build_junit(suite), path)
    return Path(path)
