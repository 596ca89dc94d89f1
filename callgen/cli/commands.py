"""Registry of the CLI's subcommands; each module adds its own parser."""

from __future__ import annotations

import argparse
import importlib
from typing import Callable

Registrar = Callable[[argparse._SubParsersAction], None]

#: modules with a ``register(subparsers)``, in help order
COMMAND_MODULES = (
    "callgen.analysis.command",
    "callgen.cli.sut",
    "callgen.analysis.audio",
    "callgen.cli.tls",
    "callgen.reports.command",
    "callgen.k8s.command",
)


def register_all() -> list[Registrar]:
    from callgen.cli import core as cmd_core
    return [*cmd_core.REGISTRARS, *(importlib.import_module(m).register for m in COMMAND_MODULES)]
