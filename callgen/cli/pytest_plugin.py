"""pytest plugin: ``pytest scenarios/`` runs every callgen scenario file as a test.

Registered as the ``pytest11`` entry point ``callgen``.  A YAML file is a
scenario when it carries the ``# yaml-language-server: $schema=...scenario.schema.json``
line or a top-level ``agents:`` key; other YAML (CI configs, manifests) is
left alone.  Each file is one test item:

* the scenario is loaded at collection (its name and tags become ``-k``
  keywords); an invalid file becomes a failing item whose report is the
  one-line ``ScenarioError`` (file:line: key path: message);
* running it calls the runner; FAIL and ERROR fail the test and the report
  lists the failed checks with expected vs seen - no Python traceback;
* ``verdict`` and ``artefacts`` are recorded as ``user_properties`` (they
  reach ``--junitxml`` and travel through pytest-xdist workers).

Options: ``--callgen-out DIR`` (default ``<rootdir>/callgen-out``),
``--callgen-var NAME=VALUE`` (repeatable), ``--callgen-pjsua PATH``; ini
``callgen_collect = false`` turns collection off (e.g. for a repository whose
tests/ holds scenario fixtures).

Loading and running go through two hooks, ``pytest_callgen_load_scenario``
and ``pytest_callgen_run_scenario``; a conftest can implement them (e.g. a
fake runner in tests) and the defaults here call ``callgen.scenario.loader`` and
``callgen.suite.single``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from callgen.errors import CallgenError, UsageError
from callgen.reports.text import clean_line, failed_check_line, one_line
from callgen.verdict.result import ScenarioResult, Verdict

_SCHEMA_LINE = re.compile(r"^#\s*yaml-language-server:\s*\$schema=\S*scenario\.schema\.json", re.M)
_AGENTS_KEY = re.compile(r"^agents\s*:", re.M)
_SNIFF_BYTES = 64 * 1024


def is_scenario_file(path: Path) -> bool:
    """Cheap test without parsing: a scenario with a YAML syntax error must
    still be collected so its error is reported, and a CI config must not."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError:
        return False
    return bool(_SCHEMA_LINE.search(head) or _AGENTS_KEY.search(head))


class CallgenHookSpecs:
    """Hooks a conftest may implement to replace loading or running."""

    @pytest.hookspec(firstresult=True)
    def pytest_callgen_load_scenario(self, path: Path, variables: Mapping[str, str]) -> Any:
        """Return the loaded scenario of ``path`` or raise ``ScenarioError``."""

    @pytest.hookspec(firstresult=True)
    def pytest_callgen_run_scenario(
        self, scenario: Any, out_dir: Path, variables: Mapping[str, str], config: pytest.Config
    ) -> ScenarioResult:
        """Run ``scenario`` with ``out_dir`` (new, empty) as its run folder; return its result."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(CallgenHookSpecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("callgen", "callgen SIP scenarios")
    group.addoption("--callgen-out", metavar="DIR", default=None,
                    help="folder for the scenarios' run folders (default: <rootdir>/callgen-out)")
    group.addoption("--callgen-var", metavar="NAME=VALUE", action="append", default=[],
                    help="scenario variable, repeatable")
    group.addoption("--callgen-pjsua", metavar="PATH", default=None, help="pjsua binary to use")
    parser.addini("callgen_collect", type="bool", default=True,
                  help="collect callgen scenario YAML files as tests (default true)")


def variables_of(config: pytest.Config) -> dict[str, str]:
    out = {}
    for item in config.getoption("callgen_var") or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise pytest.UsageError(f"--callgen-var {item!r}: expected NAME=VALUE")
        out[key] = value
    return out


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix.lower() not in (".yaml", ".yml"):
        return None
    if not parent.config.getini("callgen_collect") or not is_scenario_file(file_path):
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


@pytest.hookimpl(trylast=True)
def pytest_callgen_load_scenario(path: Path, variables: Mapping[str, str]) -> Any:
    """The same loading as ``callgen validate`` and ``callgen run``: what a run would
    refuse, and the codecs of the pjsua in use (one path for all three)."""
    from callgen.pjsua.toolpaths import find_pjsua
    from callgen.run.preflight import load_checked

    return load_checked(path, find_pjsua(required=False), variables=variables)


@pytest.hookimpl(trylast=True)
def pytest_callgen_run_scenario(
    scenario: Any, out_dir: Path, variables: Mapping[str, str], config: pytest.Config
) -> ScenarioResult:
    from callgen.run.runner import RunOptions
    from callgen.suite.single import run_scenario
    # the variables were applied when the scenario was loaded (pytest_callgen_load_scenario)
    options = RunOptions(out_dir=out_dir, pjsua=config.getoption("callgen_pjsua"), keep="all")
    return run_scenario(scenario, options)


class ScenarioFile(pytest.File):
    """One scenario YAML file; yields exactly one item named after the file stem
    (stable across xdist workers even when the file is invalid)."""

    def collect(self):
        item = ScenarioItem.from_parent(self, name=self.path.stem)
        yield item


class ScenarioFailed(Exception):
    """The scenario ran and its verdict is FAIL or ERROR."""

    def __init__(self, result: ScenarioResult):
        super().__init__(result.verdict.value)
        self.result = result


class ScenarioItem(pytest.Item):
    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.scenario: Any = None
        self.load_error: CallgenError | None = None
        self.result: ScenarioResult | None = None
        try:
            self.scenario = self.ihook.pytest_callgen_load_scenario(
                path=self.path, variables=variables_of(self.config))
        except CallgenError as exc:
            self.load_error = exc
        if self.scenario is not None:
            self.extra_keyword_matches.add(str(self.scenario.name))
            self.extra_keyword_matches.update(str(t) for t in getattr(self.scenario, "tags", ()))

    def _out_dir(self) -> Path:
        """A new, empty run folder ``<out>/<file path with _>[-N]``: the runner
        uses it as is, and a second pytest session must not mix its files
        into the first one's (``mkdir`` without ``exist_ok`` claims it, also
        against another xdist worker)."""
        base = self.config.getoption("callgen_out")
        root = Path(base) if base else self.config.rootpath / "callgen-out"
        try:
            rel = self.path.relative_to(self.config.rootpath).with_suffix("")
        except ValueError:
            rel = Path(self.path.stem)
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", rel.as_posix()).strip("._") or "scenario"
        root.mkdir(parents=True, exist_ok=True)
        for n in range(1, 10_000):
            candidate = root / (name if n == 1 else f"{name}-{n}")
            try:
                candidate.mkdir()
                return candidate
            except FileExistsError:
                continue
        raise UsageError(f"{root}: cannot create a run folder for {name} (10000 exist)")

    def runtest(self) -> None:
        if self.load_error is not None:
            raise self.load_error
        result = self.ihook.pytest_callgen_run_scenario(
            scenario=self.scenario, out_dir=self._out_dir(), variables=variables_of(self.config),
            config=self.config)
        if not isinstance(result, ScenarioResult):
            raise UsageError(f"{self.path}: the runner returned {type(result).__name__}, not a ScenarioResult")
        self.result = result
        self.user_properties.append(("verdict", result.verdict.value))
        self.user_properties.append(("artefacts", result.artefacts))
        if result.verdict in (Verdict.FAIL, Verdict.ERROR):
            raise ScenarioFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        exc = excinfo.value
        if isinstance(exc, ScenarioFailed):
            return failure_text(exc.result)
        if isinstance(exc, CallgenError):
            text = f"callgen: error: {exc}"
            snippet = getattr(exc, "snippet", "")
            return text + ("\n" + snippet if snippet else "")
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        name = self.scenario.name if self.scenario is not None else self.path.name
        return self.path, None, f"callgen scenario: {name}"


def failure_text(result: ScenarioResult) -> str:
    """What pytest shows for a failed scenario: verdict, failed checks with
    expected vs seen, error, artefacts folder, SIP ladder."""
    failed = result.failed_checks
    first = one_line(result.error) if result.error else (failed_check_line(failed[0]) if failed else "")
    more = len(failed) - (0 if result.error else 1)
    # pytest's short summary shows (the start of) the first line only: make it say what failed.
    lines = [f"{result.verdict.value.upper()} {first or result.name}" + (f" (+{more} more)" if more > 0 else ""),
             f"scenario {result.name!r}: {result.verdict.value.upper()} in {result.duration_s:.1f}s"]
    if result.error:
        lines.append(f"error: {one_line(result.error)}")
    lines.extend(f"FAILED {failed_check_line(c)}" + (f" ({one_line(c.reason)})" if c.reason else "")
                 for c in result.failed_checks)
    if result.artefacts:
        lines.append(f"artefacts: {result.artefacts}")
    if result.ladder:
        lines.append("SIP ladder:")
        lines.extend(f"  {clean_line(line)}" for line in result.ladder)
    return "\n".join(lines)
