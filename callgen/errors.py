"""Typed errors raised by callgen's core, and the exit codes they map to.

The CLI (``callgen.cli.main``) is the one place that turns these into exit statuses;
every other module raises.  Exit codes are documented in the README.
"""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    """Process exit codes of the ``callgen`` command."""

    OK = 0  #: every check passed
    CHECKS_FAILED = 1  #: the run completed but at least one check failed (doctor: something missing)
    INVALID_INPUT = 2  #: a scenario, capture or argument is invalid; nothing was run
    INFRASTRUCTURE = 3  #: pjsua/tcpdump missing or not permitted, a process died, a timeout outside the checks
    INTERRUPTED = 130  #: SIGINT, SIGTERM or SIGHUP; artefacts written so far are kept


class CallgenError(Exception):
    """Base class of every error callgen reports without a traceback."""

    exit_status = ExitStatus.INFRASTRUCTURE


class ScenarioError(CallgenError):
    """A scenario file is invalid (YAML syntax, schema, semantic check).

    ``location`` is ``file:line`` and ``path`` the dotted key path, e.g.
    ``scenarios/x.yaml:7`` and ``agents.bob.answer``.
    """

    exit_status = ExitStatus.INVALID_INPUT

    def __init__(self, message: str, *, location: str = "", path: str = "", snippet: str = ""):
        self.location = location
        self.path = path
        self.snippet = snippet
        self.message = message
        head = ": ".join(p for p in (location, path, message) if p)
        super().__init__(head)


class UsageError(CallgenError):
    """Bad command-line arguments or options."""

    exit_status = ExitStatus.INVALID_INPUT


class CaptureFormatError(CallgenError):
    """A capture file is truncated, garbage or of an unsupported link type.

    The message names the file and the byte offset.
    """

    exit_status = ExitStatus.INVALID_INPUT


class InfrastructureError(CallgenError):
    """Something callgen depends on is missing or misbehaved (pjsua, tcpdump,
    permissions, a child process that died)."""

    exit_status = ExitStatus.INFRASTRUCTURE


class AgentTimeout(InfrastructureError):
    """A wait on a pjsua agent ran out; the message names what was awaited."""


class Interrupted(CallgenError):
    """The run was interrupted by SIGINT, SIGTERM or SIGHUP."""

    exit_status = ExitStatus.INTERRUPTED


MAX_PROBLEMS = 20  #: problems listed per scenario file; the rest are counted


def _file_of(location: str) -> str:
    """``file`` of a ``file:line`` location."""
    head, _, tail = location.rpartition(":")
    return head if head and tail.isdigit() else location


class ScenarioErrors(ScenarioError):
    """Several independent problems in one or more scenario files; one line each."""

    def __init__(self, errors: list[ScenarioError]):
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.message, location=first.location, path=first.path, snippet=first.snippet)

    def lines(self) -> list[str]:
        """One line per problem, at most MAX_PROBLEMS per file, then one per file saying how many more."""
        by_file: dict[str, list[ScenarioError]] = {}
        for e in self.errors:
            by_file.setdefault(_file_of(e.location), []).append(e)
        shown: list[str] = []
        for where, errors in by_file.items():
            shown += [str(e) for e in errors[:MAX_PROBLEMS]]
            if len(errors) > MAX_PROBLEMS:
                shown.append(f"{where}: {len(errors) - MAX_PROBLEMS} more problems not shown (fix the ones above first)")
        return shown

    def __str__(self) -> str:
        return "\n".join(self.lines())
