"""The core subcommands: validate, render, run, doctor."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from callgen.console import IO
from callgen.errors import ExitStatus, ScenarioError, ScenarioErrors, UsageError


def _validate(args: argparse.Namespace, io: IO) -> int:
    from callgen.pjsua.toolpaths import find_pjsua
    from callgen.run.preflight import load_checked
    from callgen.scenario.targets import placeholder_target

    pjsua = find_pjsua(None, required=False)  # codec names are checked against it
    bad = 0
    for f in _scenario_files(args.files):
        try:  # no Kubernetes lookups while validating: targets get a placeholder
            s = load_checked(Path(f), pjsua, resolver=placeholder_target)
        except ScenarioErrors as exc:
            bad += 1
            for line in exc.lines():
                print(f"callgen: error: {line}", file=io.err)
        except ScenarioError as exc:
            bad += 1
            print(f"callgen: error: {exc}", file=io.err)
            if exc.snippet:
                print(exc.snippet, file=io.err)
        else:
            print(f"{f}: ok ({s.name}: {len(s.agents)} agents, {len(s.calls)} calls)", file=io.out)
    return int(ExitStatus.INVALID_INPUT) if bad else 0


def _scenario_files(paths: list[str]) -> list[str]:
    """Files as given; folders and globs expanded as ``run`` expands them."""
    import glob

    from callgen.suite.execute import collect

    out: list[str] = []
    for raw in paths:
        if not (Path(raw).is_dir() or glob.has_magic(raw)):
            out.append(raw)
            continue
        found = collect([raw])
        if not found:
            raise UsageError(f"{raw}: no scenario file found in the folder" if Path(raw).is_dir()
                             else f"{raw}: the pattern matches no scenario file")
        here = Path.cwd()
        out += [str(p.relative_to(here)) if p.is_relative_to(here) else str(p) for p in found]
    return out


def _render(args: argparse.Namespace, io: IO) -> int:
    from callgen.pjsua.features import Feature, supported_features
    from callgen.pjsua.toolpaths import find_pjsua
    from callgen.reports.command import prepare_dir
    from callgen.run.plan import plan_run
    from callgen.run.ports import BLOCK, FIRST
    from callgen.scenario.loader import load_scenario

    scenario = load_scenario(Path(args.file))
    out = Path(args.output)
    prepare_dir(out, "-o")
    # Rendering for inspection: a fixed, documented port block instead of a locked free one.
    pjsua = find_pjsua(None, required=False)  # what a run with it would pass (--quick-exit)
    plan = plan_run(scenario, out.resolve(), args.port_base or FIRST, BLOCK,
                    quick_exit=pjsua is not None and Feature.QUICK_EXIT in supported_features(pjsua))
    for ap in plan.agents:
        write_private(ap.config_path, ap.config_text(scenario))
        print(f"{ap.config_path}  ({ap.name}: {ap.agent.role.value}, SIP {ap.sip_port}, RTP {ap.rtp_port})", file=io.out)
    for note in plan.notes:
        print(note, file=io.out)
    return 0


def write_private(path: Path, text: str) -> None:
    """A config may hold a digest password: owner-only (0600), also when the file existed before."""
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), 0o600)  # O_CREAT's mode does not apply to an existing file
        f.write(text)


def _doctor(args: argparse.Namespace, io: IO) -> int:
    from callgen.cli.doctor import codec_list, diagnose

    findings = diagnose(args.pjsua)
    missing = False
    for f in findings:
        mark = "ok  " if f.ok else ("MISS" if f.required else "warn")
        print(f"[{mark}] {f.name:9} {f.detail}", file=io.out)
        if not f.ok and f.hint:
            print(f"         fix: {f.hint}", file=io.out)
        missing |= f.required and not f.ok
    if findings[0].ok:
        print(f"         codecs: {', '.join(codec_list(args.pjsua))}", file=io.out)
    return int(ExitStatus.CHECKS_FAILED) if missing else 0


def _default_out() -> Path:
    return Path("callgen-runs") / time.strftime("%Y%m%d-%H%M%S")


def _run(args: argparse.Namespace, io: IO) -> int:
    from callgen.history.command import record_suite
    from callgen.pjsua.toolpaths import find_pjsua
    from callgen.reports.command import run_suite_command
    from callgen.run.preflight import load_checked
    from callgen.run.runner import RunOptions
    from callgen.run.signals import interrupt_once

    _check_start_at(args.start_at)
    args.shard = _shard_of(args)
    if args.out is None:
        args.out = _default_out()
        if args.shard is not None:  # shards of one job must not share report paths
            from callgen.suite.sharding import shard_label

            args.out = args.out.with_name(args.out.name + "-" + shard_label(*args.shard))

    def make_options(a: argparse.Namespace, out_dir: Path) -> RunOptions:
        return RunOptions(out_dir=out_dir, pjsua=a.pjsua, keep=a.keep, progress=_progress_line(io), start_at=a.start_at)

    pjsua = find_pjsua(args.pjsua, required=False)
    share = _load_share_of(args)

    def load(path: Path, *, variables=None):
        scenario = load_checked(path, pjsua, variables=variables)
        if share is not None and scenario.load is not None:
            scenario = dataclasses.replace(scenario, load=scenario.load.shared(*share))
        if args.start_at is not None and scenario.load is not None:  # refused before anything starts
            wait = args.start_at - time.time()
            if wait > scenario.timeout:
                raise ScenarioError(f"--start-at is {wait:.0f} s away, past the scenario timeout ({scenario.timeout:g} s)",
                                    location=str(path))
        return scenario

    recorder = None if args.list_only else _history_recorder(args)
    with interrupt_once():
        status = run_suite_command(args, io, make_run_options=make_options, load=load,
                                   after=record_suite(recorder, io) if recorder and recorder.enabled else None)
    if status == ExitStatus.INTERRUPTED:
        print(f"callgen: interrupted; the artefacts written so far are kept in {args.out}", file=io.err)
    return status


def _history_recorder(args: argparse.Namespace):
    """The history store opened before anything runs (a bad one stops the run first), or None."""
    import os

    from callgen.history.command import Recorder

    return Recorder(args, os.environ)
def _check_start_at(start_at: float | None) -> None:
    import math

    if start_at is not None and not math.isfinite(start_at):
        raise UsageError(f"--start-at {start_at}: not a finite time (give seconds since the epoch, e.g. $(date +%s))")


def _progress_line(io: IO):
    """A load run's live line on a terminal ("\r" rewrites it); nothing in CI logs."""
    isatty = getattr(io.err, "isatty", None)
    if not (isatty and isatty()):
        return None

    def show(text: str) -> None:
        # clear to the end of the line before any newline: a shorter line leaves nothing behind
        final = text.endswith("\n")
        io.err.write("\r" + text.rstrip("\n") + "\033[K" + ("\n" if final else ""))
        io.err.flush()

    return show


def _load_share_of(args: argparse.Namespace) -> tuple[int, int] | None:
    """--load-share I/N, or from a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, CALLGEN_SHARDS)."""
    return _share_option("--load-share", args.load_share_text, args.load_share_from_env)


def _shard_of(args: argparse.Namespace) -> tuple[int, int] | None:
    return _share_option("--shard", args.shard_text, args.shard_from_env)


def _share_option(option: str, text: str | None, from_env: bool) -> tuple[int, int] | None:
    """``option I/N`` or ``option-from-env`` (an Indexed Job's JOB_COMPLETION_INDEX and CALLGEN_SHARDS)."""
    import os

    from callgen.suite.sharding import parse_shard, shard_from_env

    if text and from_env:
        raise UsageError(f"give {option} or {option}-from-env, not both")
    if text:
        return parse_shard(text, option)
    if from_env:
        found = shard_from_env(os.environ)
        if found is None:
            raise UsageError(f"{option}-from-env: JOB_COMPLETION_INDEX is not set (not in an Indexed Job?)")
        return found
    return None


def register_validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check scenario files against the schema; run nothing",
                       description="Validate scenario files (files, directories, globs, as run takes them); "
                                   "print one line per problem (file:line: key: message).")
    p.add_argument("files", nargs="+", metavar="PATH")
    p.set_defaults(func=_validate)


def register_render(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="write the pjsua config file of every agent for inspection")
    p.add_argument("file", metavar="FILE")
    p.add_argument("-o", "--output", default="callgen-render", metavar="DIR", help="folder for the .cfg files")
    p.add_argument("--port-base", type=int, default=0, help="first port of the block to render with")
    p.set_defaults(func=_render)


def register_doctor(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check pjsua, tcpdump and friends; exit 1 if something required is missing")
    p.add_argument("--pjsua", help="pjsua binary to check")
    p.set_defaults(func=_doctor)


def register_run(sub: argparse._SubParsersAction) -> None:
    from callgen.reports.command import add_suite_arguments

    p = sub.add_parser("run", help="run scenarios with real pjsua processes and prove the outcome from the capture",
                       description="Run scenario files (files, directories, globs).")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("-o", "--out", type=Path, default=None, metavar="DIR",
                   help="output folder (default: a new folder under ./callgen-runs/)")
    p.add_argument("--pjsua", help="pjsua binary (default: $PJSUA, .build/bin/pjsua, PATH)")
    p.add_argument("--list", dest="list_only", action="store_true", help="show what would run, run nothing")
    p.add_argument("--shard", dest="shard_text", metavar="I/N",
                   help="run only shard I of N (0-based): sorted(files)[I::N]")
    p.add_argument("--shard-from-env", action="store_true",
                   help="take the shard from JOB_COMPLETION_INDEX and CALLGEN_SHARDS (Kubernetes Indexed Job)")
    p.add_argument("--load-share", dest="load_share_text", metavar="I/N",
                   help="a load scenario: run share I of N (its part of the rate, concurrency and calls)")
    p.add_argument("--load-share-from-env", action="store_true",
                   help="take the load share from JOB_COMPLETION_INDEX and CALLGEN_SHARDS")
    p.add_argument("--start-at", type=float, default=None, metavar="EPOCH",
                   help="a load scenario: place the first call at this time (seconds since the epoch), so shares start together")
    add_suite_arguments(p)
    from callgen.history.command import add_history_arguments

    add_history_arguments(p)
    p.set_defaults(func=_run)


REGISTRARS = [register_validate, register_render, register_run, register_doctor]
