"""Where callgen finds the programs it drives."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from callgen.errors import InfrastructureError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def find_pjsua(explicit: str | None = None, *, required: bool = True) -> str | None:
    """--pjsua, then $PJSUA, then the project's own build, then PATH."""
    candidates = [explicit, os.environ.get("PJSUA"), str(PROJECT_ROOT / ".build" / "bin" / "pjsua"), shutil.which("pjsua")]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    if required:
        raise InfrastructureError(
            "pjsua not found (looked at --pjsua, $PJSUA, .build/bin/pjsua, PATH); run 'make setup' to build it"
        )
    return None
