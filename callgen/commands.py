"""Registry of the CLI's subcommands; each module adds its own parser."""

from __future__ import annotations

import argparse
from typing import Callable

Registrar = Callable[[argparse._SubParsersAction], None]


def register_all() -> list[Registrar]:
    regs: list[Registrar] = []
    from callgen import cmd_core

    regs.extend(cmd_core.REGISTRARS)
    return regs
