"""Suites: many scenario files collected, selected, validated and run in parallel.

Flow: ``collect`` (paths -> files) -> ``validate_all`` (files -> scenarios, every
error reported at once) -> ``select`` (``-k`` / ``--tag``) -> ``run_suite``
(scenarios -> ``SuiteResult``) -> ``callgen.reports``.

Exit status of a suite (``SuiteResult.exit_status``), decided here once:

* 0   every result is PASS or FLAKY (a FLAKY scenario failed at least once and
      passed on a retry; it is shown as flaky everywhere but does not fail CI,
      which is what ``--retries`` is asked for);
* 1   at least one FAIL (a check failed) - wins over ERROR, because a failed
      check is a finding about the system under test;
* 3   no FAIL but at least one ERROR (infrastructure, timeout);
* 130 the run was interrupted (results finished so far are still reported).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime as dt
import glob
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from callgen.cancel import CancelToken
from callgen.errors import ExitStatus, Interrupted, ScenarioError, ScenarioErrors, UsageError
from callgen.verdict.findings import AttemptFinding, FailedCheck
from callgen.verdict.result import ScenarioResult, Verdict

if TYPE_CHECKING:  # pragma: no cover - the runner is written in parallel
    from callgen.run.runner import RunOptions

YAML_SUFFIXES = (".yaml", ".yml")


class ScenarioLike(Protocol):
    """What the suite needs of ``callgen.scenario.loader.Scenario``."""

    name: str
    tags: tuple[str, ...]
    source: Path


# --------------------------------------------------------------------------- collect


def collect(paths: Sequence[str]) -> list[Path]:
    """Scenario files named by files, directories (recursive) and globs.

    Directories are walked for ``*.yaml``/``*.yml``, skipping hidden folders
    (``.git``, ``.venv``...); anything that is not YAML (audio, certificates)
    is ignored.  A named file is taken whatever its suffix, because the user
    asked for it.  Sorted and deduplicated so shards see a stable order.
    """
    found: set[Path] = set()
    for raw in paths:
        matches: Iterable[str]
        if glob.has_magic(raw):
            matches = glob.glob(raw, recursive=True)
            if not matches:
                raise UsageError(f"{raw}: the pattern matches no file")
        else:
            matches = [raw]
        for m in matches:
            p = Path(m)
            if p.is_dir():
                found.update(_walk_yaml(p))
            elif p.is_file():
                if glob.has_magic(raw) and p.suffix.lower() not in YAML_SUFFIXES:
                    continue
                found.add(p.resolve())
            else:
                raise UsageError(f"{raw}: no such file or directory")
    return sorted(found)


def _walk_yaml(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith(".") and name.lower().endswith(YAML_SUFFIXES):
                yield (Path(dirpath) / name).resolve()


# --------------------------------------------------------------------------- select

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


class _KeywordParser:
    """Recursive descent over ``expr := or; or := and ('or' and)*;
    and := not ('and' not)*; not := 'not' not | '(' or ')' | WORD``.

    A WORD matches when it is a case-insensitive substring of one of the
    candidate strings (scenario name, file stem), as pytest's ``-k`` does.
    Built as a small parser rather than ``eval`` so nothing a user types runs.
    """

    MAX_LENGTH = 1000  #: characters of a -k expression
    MAX_DEPTH = 32  #: nested 'not' and brackets

    def __init__(self, expr: str):
        if len(expr) > self.MAX_LENGTH:
            raise UsageError(f"-k {expr[:30]!r}...: longer than {self.MAX_LENGTH} characters ({len(expr)})")
        self.expr = expr
        self.depth = 0
        self.tokens = [m.group(1) for m in _TOKEN.finditer(expr)]
        if "".join(self.tokens) != re.sub(r"\s+", "", expr):  # pragma: no cover - regex covers all
            raise UsageError(f"-k {expr!r}: cannot tokenize")
        self.pos = 0

    def parse(self) -> Callable[[Sequence[str]], bool]:
        if not self.tokens:
            raise UsageError("-k: empty expression")
        node = self._or()
        if self.pos != len(self.tokens):
            self._fail(f"unexpected {self.tokens[self.pos]!r}")
        return node

    def _fail(self, what: str) -> None:
        shown = repr(self.expr) if len(self.expr) <= 60 else f"{self.expr[:30]!r}..."
        raise UsageError(f"-k {shown}: {what} at token {self.pos + 1}")

    def _deeper(self) -> None:
        self.depth += 1
        if self.depth > self.MAX_DEPTH:
            self._fail(f"nested more than {self.MAX_DEPTH} levels deep ('not' and brackets)")

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _or(self) -> Callable[[Sequence[str]], bool]:
        parts = [self._and()]
        while self._peek() == "or":
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda c, ps=tuple(parts): any(p(c) for p in ps))

    def _and(self) -> Callable[[Sequence[str]], bool]:
        parts = [self._not()]
        while self._peek() == "and":
            self.pos += 1
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else (lambda c, ps=tuple(parts): all(p(c) for p in ps))

    def _not(self) -> Callable[[Sequence[str]], bool]:
        tok = self._peek()
        if tok is None:
            self._fail("expression ends too early")
        self.pos += 1
        if tok == "not":
            self._deeper()
            inner = self._not()
            self.depth -= 1
            return lambda c: not inner(c)
        if tok == "(":
            self._deeper()
            inner = self._or()
            if self._peek() != ")":
                self._fail("missing ')'")
            self.pos += 1
            self.depth -= 1
            return inner
        if tok in (")", "and", "or"):
            self._fail(f"unexpected {tok!r}")
        word = tok.lower()
        return lambda c: any(word in s.lower() for s in c)


def keyword_matcher(expr: str) -> Callable[[Sequence[str]], bool]:
    """Compile a ``-k`` expression; raises ``UsageError`` naming the bad token."""
    return _KeywordParser(expr).parse()


def select(scenarios: Sequence[ScenarioLike], keyword: str | None, tags: Sequence[str]) -> list[ScenarioLike]:
    """Scenarios matching ``-k keyword`` (on name and file stem) and having any of ``tags``."""
    match = keyword_matcher(keyword) if keyword else None
    wanted = set(tags)
    out = []
    for sc in scenarios:
        if match is not None and not match((sc.name, Path(sc.source).stem)):
            continue
        if wanted and not wanted.intersection(sc.tags):
            continue
        out.append(sc)
    return out


# --------------------------------------------------------------------------- validate


class SuiteValidationError(ScenarioErrors):
    """Several scenario files are invalid; ``errors`` holds one error per problem."""

    def __init__(self, errors: Sequence[ScenarioError]):
        flat: list[ScenarioError] = []
        for e in errors:
            flat.extend(e.errors if isinstance(e, ScenarioErrors) else [e])
        super().__init__(flat)
        self.snippet = ""  # one line per problem; a snippet of the first would mislead
        files = {e.location.rsplit(":", 1)[0] if e.location[-1:].isdigit() else e.location for e in flat}
        self.header = (f"{len(flat)} problem{'s' if len(flat) != 1 else ''} in {len(files)} "
                       f"invalid scenario file{'s' if len(files) != 1 else ''}:")

    def __str__(self) -> str:
        return self.header + "\n" + "\n".join("  " + line for line in self.lines())


def validate_all(
    paths: Sequence[Path],
    variables: Mapping[str, str] | None = None,
    *,
    load: Callable[..., Any] | None = None,
) -> list[Any]:
    """Load every file and report ALL invalid ones in one error.

    Stopping at the first bad file makes a user fix a 40-file library one run
    at a time; one line per file is what they need.
    """
    if load is None:
        from callgen.scenario.loader import load_scenario as load
    variables = dict(variables or {})
    loaded, errors = [], []
    for p in paths:
        try:
            loaded.append(load(Path(p), variables=variables))
        except ScenarioError as exc:
            if not exc.location:
                exc = ScenarioError(exc.message, location=str(p), path=exc.path)
            errors.append(exc)
    if errors:
        raise SuiteValidationError(errors)
    return loaded


# --------------------------------------------------------------------------- run


def default_jobs() -> int:
    """Parallel scenarios by default: each scenario runs several pjsua
    processes plus tcpdump, so more than a few per machine only adds jitter."""
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class SuiteOptions:
    """How a suite runs.  ``run`` is the runner's ``RunOptions`` template;
    ``out_dir`` of each run is replaced by a folder of its own under ``out_dir``."""

    run: RunOptions
    out_dir: Path
    jobs: int = 0  #: 0 = ``default_jobs()``
    retries: int = 0
    repeat: int = 1

    def __post_init__(self) -> None:
        if self.jobs < 0 or self.retries < 0 or self.repeat < 1:
            raise UsageError("-j/--retries must be >= 0 and --repeat >= 1")


@dataclass(frozen=True)
class NotRun:
    """A scenario run that never started (the suite was interrupted first)."""

    name: str  #: as a result would be named (``name`` or ``name[#k]``)
    file: str


@dataclass(frozen=True)
class SuiteResult:
    results: tuple[ScenarioResult, ...]
    duration_s: float
    jobs: int
    started: str = ""  #: ISO 8601 UTC start time
    interrupted: bool = False
    not_run: int = 0  #: scenario runs never started because of an interrupt
    not_run_units: tuple[NotRun, ...] = ()  #: which ones (reported as skipped in JUnit)

    @property
    def exit_status(self) -> int:
        """See the module docstring for the rules."""
        if self.interrupted:
            return int(ExitStatus.INTERRUPTED)
        verdicts = {r.verdict for r in self.results}
        if Verdict.FAIL in verdicts:
            return int(ExitStatus.CHECKS_FAILED)
        if Verdict.ERROR in verdicts:
            return int(ExitStatus.INFRASTRUCTURE)
        return int(ExitStatus.OK)

    def count(self, verdict: Verdict) -> int:
        return sum(1 for r in self.results if r.verdict is verdict)


@dataclass(frozen=True)
class ProgressEvent:
    """One line of live progress: a run started or finished (``result`` set)."""

    kind: str  #: "start" | "retry" | "finish"
    name: str
    attempt: int
    index: int  #: 1-based position of this run in the suite
    total: int
    result: ScenarioResult | None = None


def stream_progress(stream: TextIO) -> Callable[[ProgressEvent], None]:
    """A progress callback printing one line per event; safe across threads."""
    lock = threading.Lock()

    def report(ev: ProgressEvent) -> None:
        width = len(str(ev.total))
        head = f"[{ev.index:>{width}}/{ev.total}]"
        if ev.kind == "finish" and ev.result is not None:
            r = ev.result
            tries = f" after {r.attempts} attempts" if r.attempts > 1 else ""
            line = f"{head} {r.verdict.value.upper():<5} {ev.name} ({r.duration_s:.1f}s{tries})"
        elif ev.kind == "retry":
            line = f"{head} RETRY {ev.name} (attempt {ev.attempt})"
        else:
            line = f"{head} START {ev.name}"
        with lock:
            stream.write(line + "\n")
            stream.flush()

    return report


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def run_folder_name(name: str, *, repeat: int = 0, attempt: int = 1) -> str:
    """Folder name of one run: sanitized scenario name plus ``-rK``/``-aN``
    so repeats and retries never share a folder."""
    base = _UNSAFE.sub("_", name).strip("._") or "scenario"
    base = base[:80]
    if repeat:
        base += f"-r{repeat}"
    if attempt > 1:
        base += f"-a{attempt}"
    return base


@dataclass(frozen=True)
class _Unit:
    """One (scenario, repeat) to run, with its retries, in one worker."""

    index: int
    scenario: Any
    display: str  #: result name: ``name`` or ``name[#k]``
    folder: str  #: base folder name, unique in the suite
    repeat: int  #: 0 when --repeat is 1


def _units(scenarios: Sequence[ScenarioLike], repeat: int) -> list[_Unit]:
    ordered = sorted(scenarios, key=lambda s: (str(s.source), s.name))
    bases: dict[str, int] = {}
    units = []
    for sc in ordered:
        base = run_folder_name(sc.name)
        n = bases.get(base, 0)
        bases[base] = n + 1
        if n:
            base = f"{base}-{n + 1}"
        for k in range(1, repeat + 1):
            display = f"{sc.name}[#{k}]" if repeat > 1 else sc.name
            units.append(_Unit(len(units), sc, display, base, k if repeat > 1 else 0))
    return units


def run_suite(
    scenarios: Sequence[ScenarioLike],
    options: SuiteOptions,
    *,
    run_one: Callable[[Any, Any], ScenarioResult] | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
) -> SuiteResult:
    """Run every scenario (``repeat`` times each) with ``jobs`` in parallel.

    Results come back sorted by file, name and repeat whatever the finishing
    order, so two runs of the same library give comparable reports.  On
    KeyboardInterrupt nothing new starts; runs in progress finish (their
    runner tears down its processes) and are reported, then
    ``interrupted`` is set.
    """
    if run_one is None:
        from callgen.suite.single import run_scenario as run_one
    jobs = options.jobs or default_jobs()
    units = _units(scenarios, options.repeat)
    notify = progress or (lambda ev: None)
    stop = CancelToken()  # Ctrl-C: also wakes every pjsua wait in the runs in progress
    started_at = dt.datetime.now(dt.UTC)
    t0 = time.monotonic()
    results: dict[int, ScenarioResult] = {}
    interrupted = False
    pool = cf.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="callgen-run")
    try:
        futures: dict[cf.Future, _Unit] = {}
        try:
            for u in units:
                futures[pool.submit(_run_unit, u, len(units), options, run_one, notify, stop)] = u
        except KeyboardInterrupt:  # Ctrl-C while the first runs start: submit no more
            interrupted = True
            stop.set()
        pending = set(futures)
        while pending:
            try:
                done, pending = cf.wait(pending, timeout=0.5, return_when=cf.FIRST_COMPLETED)
            except KeyboardInterrupt:
                if interrupted:  # a second Ctrl-C: stop waiting for the runs in progress
                    raise
                interrupted = True
                stop.set()
                for f in pending:
                    f.cancel()
                continue
            for f in done:
                if f.cancelled():
                    continue
                res = f.result()
                if res is not None:
                    results[futures[f].index] = res
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    ordered = tuple(results[i] for i in sorted(results))
    return SuiteResult(
        results=ordered,
        duration_s=time.monotonic() - t0,
        jobs=jobs,
        started=started_at.isoformat(timespec="seconds"),
        interrupted=interrupted or stop.is_set(),
        not_run=len(units) - len(ordered),
        not_run_units=tuple(NotRun(u.display, str(u.scenario.source)) for u in units if u.index not in results),
    )


def _run_unit(
    unit: _Unit,
    total: int,
    options: SuiteOptions,
    run_one: Callable[[Any, Any], ScenarioResult],
    notify: Callable[[ProgressEvent], None],
    stop: CancelToken,
) -> ScenarioResult | None:
    """Run one unit with its retries; ``None`` if the suite stopped first."""
    failed: list[ScenarioResult] = []
    total_time = 0.0
    for attempt in range(1, options.retries + 2):
        if stop.is_set():
            return _combine(unit, failed, None, total_time) if failed else None
        notify(ProgressEvent("start" if attempt == 1 else "retry", unit.display, attempt, unit.index + 1, total))
        run_dir = options.out_dir / run_folder_name(unit.folder, repeat=unit.repeat, attempt=attempt)
        overrides: dict[str, Any] = {"out_dir": run_dir, "keep": "all"}
        if "cancel" in {f.name for f in dataclasses.fields(options.run)}:
            overrides["cancel"] = stop
        run_opts = dataclasses.replace(options.run, **overrides)
        t0 = time.monotonic()
        try:
            res = run_one(unit.scenario, run_opts)
        except Interrupted as exc:  # the runner cleaned up; no retry, nothing new starts
            stop.set()
            failed.append(_error_result(unit, run_dir, str(exc), time.monotonic() - t0))
            final = _combine(unit, failed, None, total_time + failed[-1].duration_s)
            notify(ProgressEvent("finish", unit.display, attempt, unit.index + 1, total, final))
            return final
        except Exception as exc:  # a runner bug must not take the other scenarios down
            res = _error_result(unit, run_dir, f"{type(exc).__name__}: {exc}", time.monotonic() - t0)
        total_time += res.duration_s
        if res.verdict in (Verdict.PASS, Verdict.FLAKY):
            final = _combine(unit, failed, res, total_time)
            notify(ProgressEvent("finish", unit.display, attempt, unit.index + 1, total, final))
            return final
        failed.append(res)
    final = _combine(unit, failed, None, total_time)
    notify(ProgressEvent("finish", unit.display, len(failed), unit.index + 1, total, final))
    return final


def _error_result(unit: _Unit, run_dir: Path, error: str, duration: float) -> ScenarioResult:
    return ScenarioResult(
        name=unit.scenario.name,
        file=str(unit.scenario.source),
        verdict=Verdict.ERROR,
        duration_s=duration,
        error=error,
        artefacts=str(run_dir),
        tags=tuple(unit.scenario.tags),
    )


def _combine(
    unit: _Unit, failed: list[ScenarioResult], passed: ScenarioResult | None, total_time: float
) -> ScenarioResult:
    """The one result reported for a unit.

    A pass after failures is FLAKY, never PASS; the failed attempts travel in
    ``summary.failed_attempts`` (verdict, error, failed checks, folder) so
    every report can show what went wrong first.
    """
    last = passed if passed is not None else failed[-1]
    attempts = len(failed) + (1 if passed is not None else 0)
    verdict = last.verdict
    if passed is not None and failed:
        verdict = Verdict.FLAKY
    summary = last.summary
    if failed and attempts > 1:
        summary = dataclasses.replace(summary, failed_attempts=tuple(
            AttemptFinding.build(**{
                "attempt": i,
                "verdict": r.verdict.value,
                "error": r.error,
                "artefacts": r.artefacts,
                "duration_s": round(r.duration_s, 3),
                "failed_checks": tuple(FailedCheck.from_dict(c.to_dict()) for c in r.failed_checks),
            })
            for i, r in enumerate(failed, 1)
        ), keys=summary.keys if "failed_attempts" in summary.keys else (*summary.keys, "failed_attempts"))
    return dataclasses.replace(
        last,
        name=unit.display,
        verdict=verdict,
        attempts=attempts,
        duration_s=total_time,
        summary=summary,
        tags=tuple(last.tags) or tuple(unit.scenario.tags),
    )
