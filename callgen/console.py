"""Where a command writes (every layer's commands take one; tests pass StringIO objects)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO


@dataclass
class IO:
    out: TextIO
    err: TextIO
