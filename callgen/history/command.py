"""``callgen history record|report|prune`` and the ``--history`` options of ``run`` and
``merge-reports``.

The store is ``--history FILE`` (an SQLite file, made when new) or ``--history URL``
(``postgresql://...``, shared by a team), else ``$CALLGEN_HISTORY``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from callgen.errors import ExitStatus, UsageError
from callgen.history.page import render_page, render_text
from callgen.history.record import RevisionFinder, record_report
from callgen.history.store import ENV, HistoryStore, is_postgres_url, open_store, redact
from callgen.history.trends import build_history

DEFAULT_KEEP_NIGHTS = 366  #: nights kept unless --history-keep says otherwise
DEFAULT_LAST_NIGHTS = 60  #: nights a report shows (a page of 366 nights x 200 scenarios was 17 MB)
REVISION_ENV = "CALLGEN_LIBRARY_REVISION"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be 1 or more")
    return value


def _factor(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: not a number") from None
    if not value > 1.0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text}: must be a finite number above 1")
    return value


def _date(text: str) -> str:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: not a date (YYYY-MM-DD or an ISO time)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).isoformat(timespec="seconds")


def target_of(option: str | None, env: Mapping[str, str]) -> str | None:
    """``--history`` or ``$CALLGEN_HISTORY``; None when neither is set."""
    return option or env.get(ENV) or None


def add_history_arguments(parser: argparse.ArgumentParser) -> None:
    """``--history``, ``--history-night``, ``--history-keep`` for a command that records."""
    g = parser.add_argument_group("history")
    g.add_argument("--history", metavar="FILE|URL",
                   help=f"record this run into a history store: an SQLite file or a postgresql:// URL (default: ${ENV})")
    g.add_argument("--history-night", metavar="LABEL",
                   help="the night to record under (default: the UTC date the run started); shards of one night share it")
    g.add_argument("--history-keep", type=_positive, default=DEFAULT_KEEP_NIGHTS, metavar="NIGHTS",
                   help=f"keep only the newest NIGHTS nights in the store (default {DEFAULT_KEEP_NIGHTS})")


def _open_existing(target: str) -> HistoryStore:
    """Open a store to read: a file must already exist (a typo must not make an empty one)."""
    if not is_postgres_url(target) and not Path(target).exists():
        raise UsageError(f"history {target}: no such file")
    return open_store(target)


class Recorder:
    """Checked before a run (a bad store stops the run before any call), records after it.
    The store is opened again to record: a run may outlast a database server's idle timeout."""

    def __init__(self, args: argparse.Namespace, env: Mapping[str, str]):
        self.target = target_of(getattr(args, "history", None), env)
        self.night = getattr(args, "history_night", None)
        self.keep = getattr(args, "history_keep", DEFAULT_KEEP_NIGHTS)
        self.revision = RevisionFinder(env.get(REVISION_ENV, ""))
        if self.target:
            open_store(self.target).close()  # made when new, refused when foreign or damaged

    @property
    def enabled(self) -> bool:
        return self.target is not None

    def record(self, data: Mapping[str, Any], source: str, io: Any) -> None:
        if self.target is None:
            return
        with open_store(self.target) as store:
            done = record_report(store, data, source=source, night=self.night, keep_nights=self.keep,
                                 revision_of=self.revision)
        pruned = f"; {len(done.pruned)} old nights removed" if done.pruned else ""
        print(f"history: {done.scenarios} scenario runs recorded as night {done.night} in {redact(self.target or '')}{pruned}",
              file=io.out)


def record_suite(recorder: Recorder, io: Any) -> Callable[[Any], None]:
    """The ``after`` hook of a suite run: record its JSON report."""
    from callgen.reports.jsonreport import to_json

    def after(suite: Any) -> None:
        if suite.interrupted:  # a cut night would read as scenarios that vanished
            print("history: the run was interrupted; not recorded", file=io.err)
            return
        recorder.record(to_json(suite), "run", io)

    return after


def attach_to_merge(parser: argparse.ArgumentParser) -> None:
    """``merge-reports --history``: record the merged JSON report as one night."""
    add_history_arguments(parser)
    merge = parser.get_default("func")

    def merge_and_record(args: argparse.Namespace, io: Any) -> int:
        if Path(args.output).suffix.lower() != ".json":
            if args.history:
                raise UsageError("--history: record from a JSON merge (-o FILE.json); JUnit lacks the figures")
            return merge(args, io)  # $CALLGEN_HISTORY set for the runs: a JUnit merge records nothing
        recorder = Recorder(args, os.environ)
        status = merge(args, io)
        if status in (ExitStatus.OK, ExitStatus.CHECKS_FAILED) and recorder.enabled:
            data = json.loads(Path(args.output).read_text(encoding="utf-8"))
            recorder.record(data, f"merge-reports {args.output}", io)
        return status

    parser.set_defaults(func=merge_and_record)


def _record_cmd(args: argparse.Namespace, io: Any) -> int:
    from callgen.history.record import load_report

    data = load_report(Path(args.report))
    recorder = Recorder(args, os.environ)
    if not recorder.enabled:
        raise UsageError(f"history record: give --history FILE|URL or set ${ENV}")
    recorder.record(data, str(args.report), io)
    return 0


def _report_cmd(args: argparse.Namespace, io: Any) -> int:
    from callgen.fileio import write_atomic

    target = target_of(args.history, os.environ)
    if target is None:
        raise UsageError(f"history report: give --history FILE|URL or set ${ENV}")
    with _open_existing(target) as store:
        stored = store.results(args.since)
    history = build_history(stored, flaky_window=args.nights, slower_factor=args.slower, last=args.last)
    if args.text:
        io.out.write(render_text(history))
    if args.output or not args.text:
        out = Path(args.output or "callgen-history.html")
        if out.is_dir():
            raise UsageError(f"-o {out}: is a folder, not a file")
        if not out.parent.is_dir():
            raise UsageError(f"-o {out}: the folder {out.parent} does not exist")
        write_atomic(out, render_page(history))
        print(f"history page: {out}", file=io.out if not args.text else io.err)
    return 0


def _prune_cmd(args: argparse.Namespace, io: Any) -> int:
    target = target_of(args.history, os.environ)
    if target is None:
        raise UsageError(f"history prune: give --history FILE|URL or set ${ENV}")
    with _open_existing(target) as store:
        removed = store.prune(args.keep)
    print(f"history: {len(removed)} nights removed" + (f" ({', '.join(removed)})" if removed else ""), file=io.out)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("history", help="the results of run after run: record a report, write the history page",
                              description="Keep every night's results in a store (SQLite file or PostgreSQL) and "
                                          "show them: a strip of nights per scenario, trends, what newly fails.")
    sub = p.add_subparsers(dest="history_command", metavar="ACTION")
    sub.required = True
    rec = sub.add_parser("record", help="record a JSON suite report (run --json, merge-reports -o X.json)")
    rec.add_argument("report", type=Path, metavar="REPORT.json")
    add_history_arguments(rec)
    rec.set_defaults(func=_record_cmd)
    rep = sub.add_parser("report", help="write the history page (HTML) and/or a text summary")
    rep.add_argument("--history", metavar="FILE|URL", help=f"the store (default: ${ENV})")
    rep.add_argument("-o", "--output", type=Path, metavar="FILE.html",
                     help="the page to write (default callgen-history.html unless --text alone)")
    rep.add_argument("--text", action="store_true", help="print a text summary (for chat or a CI log)")
    rep.add_argument("--since", type=_date, metavar="DATE", help="only runs started on or after DATE (YYYY-MM-DD)")
    rep.add_argument("--last", type=_positive, default=DEFAULT_LAST_NIGHTS, metavar="N",
                     help=f"show the last N nights (default {DEFAULT_LAST_NIGHTS}; medians are taken over them)")
    rep.add_argument("--nights", type=_positive, default=7, metavar="N", help="the window of 'flaky in the last N nights' (7)")
    rep.add_argument("--slower", type=_factor, default=1.5, metavar="FACTOR",
                     help="'slower than its median' when the last night took more than FACTOR times its median (1.5)")
    rep.set_defaults(func=_report_cmd)
    pr = sub.add_parser("prune", help="keep only the newest nights")
    pr.add_argument("--history", metavar="FILE|URL", help=f"the store (default: ${ENV})")
    pr.add_argument("--keep", type=_positive, required=True, metavar="NIGHTS", help="nights to keep")
    pr.set_defaults(func=_prune_cmd)
