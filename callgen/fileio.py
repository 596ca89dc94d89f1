"""Writing callgen's own files so that a full disk or a read-only folder is a
named infrastructure error (exit 3), never a traceback or a 0-byte report."""

from __future__ import annotations

import os
from pathlib import Path

from callgen.errors import InfrastructureError


class OutputError(InfrastructureError):
    """A file callgen writes could not be written (disk full, read-only, not a folder)."""


def describe_os_error(exc: OSError, path: Path | str | None = None) -> str:
    where = path if path is not None else exc.filename
    return f"cannot write {where}: {exc.strerror or exc}"


def write_atomic(path: Path | str, data: str | bytes, *, mode: int = 0o644) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it over
    ``path``: readers see the old file or the whole new one, never a cut one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise OutputError(describe_os_error(exc, path)) from None
    return path
