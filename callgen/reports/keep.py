"""``--keep failed|all|none``: which run folders survive once reports are written.

Only folders strictly inside the output folder are ever removed, and only the
run folder of a result (the output folder's direct child that holds it), so
the reports next to them (JUnit, JSON, index) are never touched.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from callgen.errors import UsageError
from callgen.verdict.result import ScenarioResult, Verdict

if TYPE_CHECKING:
    from callgen.suite.execute import SuiteResult

KEEP_CHOICES = ("all", "failed", "none")


def _folders(result: ScenarioResult) -> Iterable[str]:
    yield result.artefacts
    for att in result.summary.failed_attempts:
        yield att.artefacts


def run_folder_of(artefacts: str, out_dir: Path) -> Path | None:
    """The output folder's direct child holding ``artefacts``; None if outside."""
    if not artefacts:
        return None
    out = out_dir.resolve()
    path = Path(artefacts)
    path = (path if path.is_absolute() else out / path).resolve()
    try:
        rel = path.relative_to(out)
    except ValueError:
        return None
    return out / rel.parts[0] if rel.parts else None


def folders_to_delete(suite: SuiteResult, out_dir: Path, keep: str) -> list[Path]:
    """Folders ``keep`` removes.  ``failed`` keeps FAIL, ERROR and FLAKY runs
    (a flaky scenario's failed attempts are the evidence worth keeping)."""
    if keep not in KEEP_CHOICES:
        raise UsageError(f"--keep {keep!r}: choose one of {', '.join(KEEP_CHOICES)}")
    if keep == "all":
        return []
    protected: set[Path] = set()
    doomed: set[Path] = set()
    for r in suite.results:
        target = doomed if keep == "none" or r.verdict is Verdict.PASS else protected
        for art in _folders(r):
            folder = run_folder_of(art, Path(out_dir))
            if folder is not None:
                target.add(folder)
    return sorted(f for f in doomed - protected if f.is_dir())


def apply_keep(suite: SuiteResult, out_dir: Path, keep: str) -> list[Path]:
    """Delete the run folders ``keep`` does not want; returns what was deleted."""
    gone = folders_to_delete(suite, out_dir, keep)
    for folder in gone:
        shutil.rmtree(folder, ignore_errors=True)
    return gone
