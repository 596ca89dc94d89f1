"""Writing callgen's own files so that a full disk or a read-only folder is a
named infrastructure error (exit 3), never a traceback or a 0-byte report."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from callgen.errors import InfrastructureError


class OutputError(InfrastructureError):
    """A file callgen writes could not be written (disk full, read-only, not a folder)."""


def describe_os_error(exc: OSError, path: Path | str | None = None) -> str:
    where = path if path is not None else exc.filename
    return f"cannot write {where}: {exc.strerror or exc}"


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def not_replaceable(path: Path | str) -> str | None:
    """Why callgen must not replace ``path`` (it exists and is not a regular file), or None.

    A report is written by renaming a new file over its path: over a device node, a
    FIFO or a socket that would replace what is not callgen's, and over a symbolic
    link it would replace the link, not write where it points."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError:
        return None  # the write itself reports what the system refuses
    if stat.S_ISLNK(mode):
        return "is a symbolic link; give the path of a regular file (callgen does not follow links)"
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return f"is {kind}, not a regular file" if kind.startswith("a ") else kind


def write_atomic(path: Path | str, data: str | bytes | Iterable[str], *, mode: int = 0o644) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it over
    ``path``: readers see the old file or the whole new one, never a cut one.
    Only a regular file is ever replaced, and no link is followed.  ``data`` may be
    an iterable of text pieces, written as they come (a large report is never one string)."""
    path = Path(path)
    why = not_replaceable(path)
    if why:
        raise OutputError(f"cannot write {path}: it {why}")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pieces = [data] if isinstance(data, (str, bytes)) else data
    try:
        try:  # O_EXCL|O_NOFOLLOW: a file or link planted at the temporary name is never written through
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        except FileExistsError:  # a leftover of a crashed writer with our pid, or planted: drop the name
            tmp.unlink()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        try:
            for piece in pieces:
                view = memoryview(piece.encode("utf-8") if isinstance(piece, str) else piece)
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


def make_private(folder: Path | str) -> None:
    """``folder`` and everything in it readable by its owner only (folders 0700, files 0600),
    also what other programs created there (pjsua's log, the capture, Kamailio's log): a
    run folder can hold the digest exchange, SDES keys and passwords. Links are not followed."""
    for root, dirs, files in os.walk(folder):
        for name, mode in [(d, 0o700) for d in dirs] + [(f, 0o600) for f in files]:
            path = os.path.join(root, name)
            try:
                if not stat.S_ISLNK(os.lstat(path).st_mode):
                    os.chmod(path, mode)
            except OSError:
                pass  # gone meanwhile, or not ours: the folder's 0700 still guards it
