"""``python -m callgen.analysis FILE [--json] ...``: the analyser without the full CLI."""

import argparse
import sys

from callgen.analysis.command import register
from callgen.console import IO
from callgen.errors import CallgenError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m callgen.analysis")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    args = parser.parse_args(["analyze", *(sys.argv[1:] if argv is None else argv)])
    io = IO(sys.stdout, sys.stderr)
    try:
        return args.func(args, io)
    except CallgenError as exc:
        print(f"callgen: error: {exc}", file=sys.stderr)
        return int(exc.exit_status)


raise SystemExit(main())
