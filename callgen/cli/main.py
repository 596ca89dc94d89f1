"""Command line: a thin layer over the core.

Every subcommand registers ``func(args, io) -> int`` with ``set_defaults``; the
core raises typed errors (``callgen.errors``) and ``main`` is the one place that
maps them to exit statuses.  Tracebacks only with ``--debug``.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence

from callgen import __version__
from callgen.console import IO
from callgen.errors import CallgenError, ExitStatus

Handler = Callable[[argparse.Namespace, IO], int]


def build_parser() -> argparse.ArgumentParser:
    from callgen.cli.parser import CallgenParser

    parser = CallgenParser(
        prog="callgen",
        description="Run declarative SIP call scenarios with real pjsua processes and prove the outcome from the capture.",
    )
    parser.add_argument("--version", action="version", version=f"callgen {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for register in _registrars():
        register(sub)
    return parser


def _registrars() -> list[Callable[[argparse._SubParsersAction], None]]:
    # Imported lazily so `callgen --help` stays fast and optional parts stay optional.
    from callgen.cli.commands import register_all

    return register_all()


def main(argv: Sequence[str] | None = None, io: IO | None = None) -> int:
    io = io or IO(sys.stdout, sys.stderr)
    parser = build_parser()
    from callgen.cli.parser import parse

    try:
        args = parse(parser, argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    try:
        return int(args.func(args, io))
    except CallgenError as exc:
        if args.debug:
            traceback.print_exc(file=io.err)
        lines = exc.lines() if hasattr(exc, "lines") else [str(exc)]
        for line in lines:
            print(f"callgen: error: {line}", file=io.err)
        if getattr(exc, "snippet", "") and len(lines) == 1:
            print(exc.snippet, file=io.err)
        return int(exc.exit_status)
    except KeyboardInterrupt:
        print("callgen: interrupted", file=io.err)
        return int(ExitStatus.INTERRUPTED)
    except OSError as exc:  # the system refused something no check foresaw (disk full, EIO...)
        if args.debug:
            traceback.print_exc(file=io.err)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"callgen: error: {where}{exc.strerror or exc}", file=io.err)
        return int(ExitStatus.INFRASTRUCTURE)
    except Exception as exc:  # a bug: one line, the traceback with --debug
        if args.debug:
            traceback.print_exc(file=io.err)
        print(f"callgen: error: internal error: {type(exc).__name__}: {str(exc)[:200]} "
              "(run with --debug for the traceback)", file=io.err)
        return int(ExitStatus.INFRASTRUCTURE)
