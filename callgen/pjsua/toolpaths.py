"""Where callgen finds the programs it drives."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from callgen.errors import InfrastructureError, UsageError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def find_pjsua(explicit: str | None = None, *, required: bool = True) -> str | None:
    """--pjsua, then $PJSUA, then the project's own build, then PATH."""
    for given, what in ((explicit, "--pjsua"), (os.environ.get("PJSUA"), "$PJSUA")):
        if given:  # a pjsua the user named must be used, or refused loudly
            if os.path.isdir(given):  # a wrong argument, whatever is asked: exit 2 before anything runs
                raise UsageError(f"{what} {given}: is a folder, not the pjsua program")
            if os.path.isfile(given) and os.access(given, os.X_OK):
                return given
            if required:
                raise InfrastructureError(f"{what}={given} is not an executable file")
            return None
    candidates = [str(PROJECT_ROOT / ".build" / "bin" / "pjsua"), shutil.which("pjsua")]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    if required:
        raise InfrastructureError(
            "pjsua not found (looked at --pjsua, $PJSUA, .build/bin/pjsua, PATH); run 'make setup' to build it"
        )
    return None
