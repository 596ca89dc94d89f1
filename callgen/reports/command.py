"""CLI glue of suites and reports.

* ``register(subparsers)`` adds ``callgen merge-reports -o OUT IN...``.
* ``add_suite_arguments(parser)`` and ``run_suite_command(args, io)`` give the
  ``run`` command (owned by the CLI layer) the suite options
  (-k, --tag, -j, --retries, --repeat, --junit, --json, --keep) and the whole
  collect -> validate -> select -> run -> report flow in one call.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from callgen.errors import ExitStatus, InfrastructureError, UsageError
from callgen.fileio import not_replaceable, write_atomic
from callgen.reports import publish
from callgen.reports.index import PAGE_NAME, failures_first
from callgen.reports.keep import KEEP_CHOICES
from callgen.reports.merge import merge_reports
from callgen.reports.text import failing_pages, format_scenario, format_summary


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "merge-reports",
        help="combine shard reports (JUnit XML or JSON) into one",
        description="Combine the JUnit XML (or JSON) reports of several shards into one: "
        "test cases sorted, totals recomputed, scenarios reported by more than one shard flagged.",
    )
    p.add_argument("-o", "--output", required=True, type=Path, help="merged report; .xml for JUnit, .json for JSON")
    p.add_argument("inputs", nargs="+", type=Path, metavar="IN", help="shard reports, all of the output's format")
    p.add_argument("--html", type=Path, metavar="FILE",
                   help="also write one HTML index of every shard's scenarios, failures first (JSON reports only)")
    p.set_defaults(func=merge_command)


def merge_command(args: argparse.Namespace, io: Any) -> int:
    output = Path(args.output)
    check_report_path(output, "-o")
    prepare_dir(output.parent, "-o")
    probe_write(output, "-o")
    html = getattr(args, "html", None)
    if html is not None:
        if output.suffix.lower() != ".json":
            raise UsageError(f"--html {html}: the merged index is drawn from JSON reports (merge to a .json -o)")
        check_report_path(html, "--html")
        prepare_dir(html.parent, "--html")
        probe_write(html, "--html")
    res = merge_reports(args.inputs, args.output)
    if html is not None:
        write_merged_index(res.output, html)
        print(f"html index: {html}", file=io.out)
    for dup in res.duplicates:
        print(f"callgen: warning: {dup} is reported by more than one shard", file=io.err)
    print(f"merged {len(res.inputs)} {res.kind} reports, {res.tests} tests, {res.failed} failed, {res.errors} error"
          f" -> {res.output}", file=io.out)
    # a nightly job gates on the merged report as it would on one run: failures exit 1
    return int(ExitStatus.CHECKS_FAILED) if res.failed or res.errors else 0


def write_merged_index(merged_json: Path, html: Path) -> Path:
    """One self-contained index page of a merged JSON report (the shards' run folders may be
    on other machines: their links are relative to where the shard ran)."""
    import json

    from callgen.reports.index import render_html
    from callgen.suite.execute import SuiteResult
    from callgen.verdict.result import ScenarioResult

    with open(merged_json, encoding="utf-8") as f:
        data = json.load(f)
    suite = SuiteResult(tuple(ScenarioResult.from_dict(d) for d in data.get("results", ())), float(data.get("duration_s") or 0.0),
                        int(data.get("jobs") or 0), started=str(data.get("started", "")),
                        interrupted=bool(data.get("interrupted")),
                        not_run=int((data.get("totals") or {}).get("not_run", 0) or 0))
    return write_atomic(html, render_html(suite, html.parent))


def prepare_dir(path: Path, what: str) -> None:
    """Create ``path`` (a folder) or say why not: exit 2 when the argument is
    wrong (it or a parent is a file), 3 when the system refuses (read-only,
    no permission, disk full)."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{what} {path}: is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UsageError(f"{what} {path}: a parent of it is a file, not a folder") from None
    except OSError as exc:
        raise InfrastructureError(f"{what} {path}: cannot create the folder: {exc.strerror}") from None


def check_report_path(path: Path, what: str) -> None:
    """A report path must be new or a regular file: never a folder, link, device, FIFO or socket."""
    why = not_replaceable(path)
    if why:
        raise UsageError(f"{what} {path}: {why.replace('a folder, not a regular file', 'a folder, not a file')}")


def probe_write(path: Path, what: str) -> None:
    """Open ``path`` for appending as the report writer will, removing it again if it is new.
    Non-blocking and not following links: a FIFO or link that appears meanwhile cannot hang or mislead it."""
    existed = os.path.lexists(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK | os.O_NOFOLLOW, 0o644)
        os.close(fd)
    except IsADirectoryError:
        raise UsageError(f"{what} {path}: is a folder, not a file") from None
    except OSError as exc:
        raise InfrastructureError(f"{what} {path}: cannot write: {exc.strerror}") from None
    if not existed:
        path.unlink()


#: the file that marks a folder as callgen's output folder (an earlier run may be written into again)
OUTPUT_MARKER = ".callgen-output"


def check_output_dir(path: Path, what: str) -> None:
    """``path`` may be callgen's output folder: refused (exit 2) if it is a link, or a folder holding
    files while not callgen's own (no marker): callgen would mix its pages into someone else's files."""
    if path.is_symlink():
        raise UsageError(f"{what} {path}: is a symbolic link; give a real folder (callgen does not follow links)")
    if path.is_dir() and not (path / OUTPUT_MARKER).is_file():
        try:
            foreign = next(iter(os.scandir(path)), None) is not None
        except OSError:
            foreign = False  # an unreadable folder: the write probe says what the system refuses
        if foreign:
            raise UsageError(f"{what} {path}: is a folder with files that are not callgen's "
                             f"(no {OUTPUT_MARKER} marker); give a new or empty folder")
    prepare_dir(path, what)


def mark_output_dir(path: Path, what: str) -> None:
    """Mark ``path`` (checked) as callgen's output folder, so a later run may write into it again."""
    marker = path / OUTPUT_MARKER
    if not marker.is_file():
        try:
            fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            os.write(fd, b"callgen output folder: callgen run -o may write here again\n")
            os.close(fd)
        except OSError as exc:
            raise InfrastructureError(f"{what} {path}: cannot write: {exc.strerror}") from None


def check_outputs(out_dir: Path, *, junit: Path | None = None, json_path: Path | None = None) -> None:
    """Before anything runs: can the output folder and the report files be written?"""
    check_output_dir(out_dir, "--out")
    probe_write(out_dir / ".callgen-write-probe", "--out")
    for option, path in (("--junit", junit), ("--json", json_path)):
        if path is None:
            continue
        path = Path(path)
        check_report_path(path, option)
        prepare_dir(path.parent, option)
        probe_write(path, option)


def _var(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE")
    return key, value


def add_suite_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a suite run; the caller adds ``paths`` and runner options."""
    g = parser.add_argument_group("suite")
    g.add_argument("-k", dest="keyword", metavar="EXPR",
                   help="only scenarios whose name or file stem matches EXPR (substrings with and/or/not/())")
    g.add_argument("--tag", action="append", default=[], help="only scenarios with this tag (repeatable: any of)")
    g.add_argument("-j", "--jobs", type=int, default=0, help="scenarios run in parallel (default: min(4, CPUs))")
    g.add_argument("--retries", type=int, default=0, help="rerun a failed scenario up to N times (pass -> FLAKY)")
    g.add_argument("--repeat", type=int, default=1, help="run each scenario N times, each its own result")
    g.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report")
    g.add_argument("--json", dest="json_report", type=Path, metavar="FILE", help="write a JSON report")
    g.add_argument("--keep", choices=KEEP_CHOICES, default="all",
                   help="run folders to keep after reports: all, failed (FAIL/ERROR/FLAKY) or none")
    g.add_argument("--var", action="append", type=_var, default=[], metavar="NAME=VALUE",
                   help="scenario variable (repeatable)")


def run_suite_command(
    args: argparse.Namespace,
    io: Any,
    *,
    make_run_options: Callable[[argparse.Namespace, Path], Any],
    load: Callable[..., Any] | None = None,
    run_one: Callable[[Any, Any], Any] | None = None,
    after: Callable[[Any], None] | None = None,
) -> int:
    """collect ``args.paths`` -> validate all -> select -> run -> reports.

    ``make_run_options(args, out_dir)`` builds the runner's ``RunOptions``
    (the CLI layer knows its fields); ``args.out`` is the output folder;
    ``after(suite)`` runs once the reports are written (the history records there).
    """
    from callgen.suite.execute import SuiteOptions, collect, run_suite, select, stream_progress, validate_all

    files = collect(args.paths)
    if not files:
        raise UsageError(f"no scenario file found in {' '.join(args.paths)}")
    shard = getattr(args, "shard", None)
    if shard is not None:
        from callgen.suite.sharding import shard as take_shard

        files = [Path(p) for p in take_shard([str(f) for f in files], *shard)]
        if not files:
            io.out.write(f"shard {shard[0]}/{shard[1]}: no scenario in this shard\n")
            return 0
    variables = dict(args.var)
    scenarios = validate_all(files, variables, load=load)
    chosen = select(scenarios, args.keyword, args.tag)
    if not chosen:
        raise UsageError(f"no scenario matches (-k {args.keyword!r}, --tag {args.tag})")
    if getattr(args, "list_only", False):
        for sc in chosen:
            tags = f"  [{', '.join(sc.tags)}]" if sc.tags else ""
            io.out.write(f"{sc.name}  {sc.source}{tags}\n")
        return 0
    out_dir = Path(args.out)
    check_outputs(out_dir, junit=args.junit, json_path=args.json_report)
    mark_output_dir(out_dir, "--out")
    options = SuiteOptions(run=make_run_options(args, out_dir), out_dir=out_dir, jobs=args.jobs,
                           retries=args.retries, repeat=args.repeat)
    suite = run_suite(chosen, options, run_one=run_one, progress=stream_progress(io.err))
    if len(chosen) * args.repeat == 1 and suite.results:  # a single run: show it in full
        io.out.write(format_scenario(suite.results[0]))
    io.out.write(format_summary(suite))
    done = publish(suite, out_dir, junit=args.junit, json_path=args.json_report, keep=args.keep)
    io.out.write(f"report: {done.index_html}\n")
    io.out.write(failing_pages(failures_first(suite.results), out_dir, PAGE_NAME))
    if after is not None:
        after(suite)
    return suite.exit_status
