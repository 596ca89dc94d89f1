"""Registry of the CLI's subcommands; each module adds its own parser."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

Registrar = Callable[[argparse._SubParsersAction], None]

#: modules with a ``register(subparsers)``, in help order
COMMAND_MODULES = (
    "callgen.analysis.command",
    "callgen.cli.sut",
    "callgen.analysis.audio",
    "callgen.cli.tls",
    "callgen.reports.command",
    "callgen.k8s.command",
    "callgen.history.command",
)


def _history_on_merge(subparsers: argparse._SubParsersAction) -> None:
    """``merge-reports --history``: the history layer sits above reports, so the CLI wires it."""
    from callgen.history.command import attach_to_merge

    attach_to_merge(subparsers.choices["merge-reports"])


def register_all() -> list[Registrar]:
    from callgen.cli import core as cmd_core
    return [*cmd_core.REGISTRARS, *(importlib.import_module(m).register for m in COMMAND_MODULES), _history_on_merge]
