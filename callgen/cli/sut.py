"""``callgen with-kamailio -- COMMAND...``: run a command next to a real Kamailio.

Starts Kamailio (registrar + proxy, digest auth) on a free loopback port,
exports ``KAMAILIO=127.0.0.1:PORT`` and ``SIP_PASSWORD`` to the command (the
scenario library's registrar scenarios use them), runs it, and stops Kamailio
whatever happens.  The exit status is the command's.
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
from pathlib import Path

from callgen import spawn
from callgen.console import IO
from callgen.errors import UsageError
from callgen.run.signals import shielded, sigterm_as_interrupt


def _with_kamailio(args: argparse.Namespace, io: IO) -> int:
    from callgen.sut.kamailio import start_kamailio

    command = [c for c in args.command if c != "--"] if args.command[:1] == ["--"] else list(args.command)
    if not command:
        raise UsageError("with-kamailio: give the command to run after '--'")
    password = args.password or os.environ.get("SIP_PASSWORD") or secrets.token_urlsafe(12).replace("-", "x")
    from callgen.reports.command import prepare_dir

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="callgen-kamailio-"))
    prepare_dir(workdir, "--workdir")
    with sigterm_as_interrupt():
        kam = start_kamailio(workdir, port=args.port, password=password)
        try:
            target = f"{kam.address}:{kam.port}"
            print(f"kamailio: listening on {target} (log {kam.log_path})", file=io.err)
            env = {**os.environ, "KAMAILIO": target, "SIP_PASSWORD": password}
            proc = spawn.popen(command, env=env, own_group=False)  # in our group: it sees the terminal's Ctrl-C
            try:
                return proc.wait()
            except KeyboardInterrupt:
                proc.terminate()  # the child gets its own chance to clean up
                proc.wait(15)
                raise
            finally:
                if proc.returncode is not None:
                    spawn.reaped(proc)
        finally:
            with shielded():
                kam.stop()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("with-kamailio", help="run a command next to a real Kamailio registrar/proxy",
                       description="Start Kamailio on a free loopback port, export KAMAILIO=host:port and "
                                   "SIP_PASSWORD, run COMMAND, stop Kamailio.")
    p.add_argument("--port", type=int, default=None, help="UDP port (default: a free one)")
    p.add_argument("--password", help="digest password (default: $SIP_PASSWORD or a random one; prefer "
                                      "$SIP_PASSWORD: a command-line value is visible to every user in ps)")
    p.add_argument("--workdir", help="folder for Kamailio's config, pid and log (default: a temp folder)")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND ...")
    p.set_defaults(func=_with_kamailio)
