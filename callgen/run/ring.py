"""A load run's capture in bounded files, each proven while the run goes on.

The capture tool starts a new file every ``file_mb`` MB (tcpdump ``-C``: capture.pcap,
capture.pcap1, ...; dumpcap ``-b filesize:``: capture_00001_<time>.pcap, ... which are
renamed to tcpdump's names once closed, so a run folder looks the same with either tool).
Neither tool is given its own ring (``-W`` / ``files:``): it would overwrite or delete a
file callgen had not read yet, a silent loss.  The ring is callgen's: a prover
(``CaptureProver``, the verdict stage's, handed in by the suite) takes each closed file in
order, analyses it, and releases it; released files stay on disk as long as the capture fits
in ``max_mb`` and are deleted oldest first when the next file would not.  Files not yet
analysed are never deleted: when they alone would pass the limit, ``behind()`` says so and
the load stops with that reason (exit 3).

A file is closed once the tool has opened the next one (both close the old file before they
open the new one) or once the tool has exited.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from callgen.run.evidence import LoadCallRecord

MB = 1_000_000  #: tcpdump's -C unit (dumpcap's filesize is in kB of 1000 bytes)


class CaptureFiles:
    """The files of one rotated capture, in order, and the disk they use."""

    def __init__(self, first: Path, file_mb: int, max_mb: int):
        self.first = Path(first)
        self.file_mb = file_mb
        self.max_mb = max_mb
        self._dumpcap = re.compile(re.escape(self.first.stem) + r"_(\d{5,})_\d+" + re.escape(self.first.suffix) + "$")
        self._lock = threading.Lock()
        self._next = 0  #: the number of the next file to hand out
        self._oldest = 0  #: the oldest file still on disk
        self._analysed: list[int] = []  #: released files still on disk, oldest first
        self._stopped = False
        self._newest = -1  #: the number of dumpcap's newest file seen (it writes that one)
        self.max_on_disk = 0  #: bytes, the most seen at once
        self.deleted = 0  #: files deleted to stay within max_mb

    def path(self, n: int) -> Path:
        """The n-th file (0-based), by tcpdump's names."""
        return self.first if n == 0 else self.first.with_name(self.first.name + str(n))

    def stopped(self) -> None:
        """The tool has exited: every file is closed."""
        with self._lock:
            self._stopped = True
            self._rename_dumpcap(final=True)

    def _rename_dumpcap(self, final: bool) -> None:
        """dumpcap's closed files (all but its newest, unless it has exited) take tcpdump's names."""
        try:
            found = sorted((int(m[1]), e.path) for e in os.scandir(self.first.parent) if (m := self._dumpcap.match(e.name)))
        except OSError:
            return
        for i, (counter, path) in enumerate(found):
            self._newest = max(self._newest, counter - 1)
            if final or i < len(found) - 1:
                os.replace(path, self.path(counter - 1))

    def closed(self) -> list[Path]:
        """Files the tool has closed and nobody took yet, in order; each is handed out once."""
        with self._lock:
            self._rename_dumpcap(final=self._stopped)
            out = []
            while self.path(self._next).is_file() and (
                    self._stopped or self._next < self._newest or self.path(self._next + 1).is_file()):
                out.append(self.path(self._next))
                self._next += 1
            self._trim()
            return out

    def _on_disk(self) -> list[tuple[int, int]]:
        """(number, bytes) of the files on disk, oldest first (the tool's newest included)."""
        out, n = [], self._oldest
        while True:
            try:
                out.append((n, self.path(n).stat().st_size))
            except FileNotFoundError:
                if n >= self._next:
                    break
            n += 1
        if not self._stopped:  # dumpcap's open file still has its own name
            try:
                out += [(-1, e.stat().st_size) for e in os.scandir(self.first.parent) if self._dumpcap.match(e.name)]
            except OSError:
                pass
        return out

    def released(self, path: Path) -> None:
        """The prover is done with ``path``: it may be deleted when the disk is needed, oldest first."""
        with self._lock:
            n = next(k for k in range(self._oldest, self._next) if self.path(k) == path)
            self._analysed.append(n)
            self._analysed.sort()
            self._trim()

    def _trim(self) -> list[tuple[int, int]]:
        """Delete released files, oldest first, until the next file fits within max_mb (at every look at
        the disk: the tool's newest file grows meanwhile); the files left on disk."""
        files = self._on_disk()
        total = sum(size for _, size in files)
        self.max_on_disk = max(self.max_on_disk, total)
        sizes = dict(files)
        while self._analysed and total + self.file_mb * MB > self.max_mb * MB:
            k = self._analysed.pop(0)
            total -= sizes.pop(k, 0)
            self.path(k).unlink(missing_ok=True)
            self.deleted += 1
        while self._oldest < self._next and not self.path(self._oldest).exists():
            self._oldest += 1
        return [(k, size) for k, size in files if k in sizes]

    def behind(self) -> str | None:
        """Why the run must stop: the files not yet analysed would pass ``max_mb`` with the next one."""
        with self._lock:
            waiting = [(n, size) for n, size in self._trim() if n not in self._analysed]
            pending = sum(size for _, size in waiting)
            if pending + self.file_mb * MB <= self.max_mb * MB:
                return None
            return (f"capture {self.first.name}: {len(waiting)} files ({pending / MB:.0f} MB) not yet analysed, with the"
                    f" next one past the limit of {self.max_mb} MB (load.capture.max_mb): callgen's prover fell behind"
                    f" the capture, and no file is deleted before it is analysed")

    def on_disk(self) -> list[Path]:
        """The capture's files on disk now, oldest first."""
        with self._lock:
            return [self.path(n) for n, _ in self._on_disk() if n >= 0]


class CaptureProver(Protocol):
    """Proves a load's calls from its capture files while the run goes on (the verdict stage's
    ``ProverProcess``; the runner only starts, watches and finishes it)."""

    def start(self, files: CaptureFiles, changes: Callable[[], list[tuple[int, LoadCallRecord]]]) -> None:
        """Begin taking ``files.closed()`` in order; ``changes()`` are the load's calls placed or changed since
        it was last called, with their positions."""

    def problem(self) -> str | None:
        """A reason the load must stop (the prover fell behind, or failed); None while all is well."""

    def finish(self, records: Sequence[LoadCallRecord], timeout: float) -> None:
        """After the capture stopped: the remaining files, then every call not proven yet."""

