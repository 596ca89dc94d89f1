"""Recording a suite report (the ``--json`` form) into the history store."""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callgen.errors import UsageError
from callgen.history.model import RunInfo, ScenarioNight, night_of, scenario_night
from callgen.history.store import HistoryStore

GIT_TIMEOUT_S = 10.0


def load_report(path: Path) -> dict[str, Any]:
    """A JSON suite report from a file, or one line saying why it is not one (merge-reports' reader)."""
    from callgen.reports.merge import load_json_report

    return load_json_report(path)


def git_revision(folder: Path) -> str:
    """The git commit the folder is checked out at ("" outside a repository or without git);
    ``+dirty`` when the folder has uncommitted changes."""
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, timeout=GIT_TIMEOUT_S)
        if head.returncode != 0:
            return ""
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no", "--", "."],
                               capture_output=True, text=True, timeout=GIT_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return head.stdout.strip() + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


class RevisionFinder:
    """Git revision per scenario folder, asked once per folder; a fixed revision when given
    (``CALLGEN_LIBRARY_REVISION`` in a pod that has the library but not its .git)."""

    def __init__(self, fixed: str = ""):
        self.fixed = fixed
        self._seen: dict[Path, str] = {}

    def __call__(self, scenario_file: str) -> str:
        if self.fixed:
            return self.fixed
        folder = Path(scenario_file).parent if scenario_file else Path(".")
        if not folder.is_dir():
            return ""
        key = folder.resolve()
        if key not in self._seen:
            self._seen[key] = git_revision(key)
        return self._seen[key]


def utc_text(started: Any) -> str:
    """A run's start as UTC ISO text (sorts and compares as text in both stores); now when unknown."""
    try:
        when = dt.datetime.fromisoformat(str(started))
    except (TypeError, ValueError):
        when = dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Recorded:
    run_id: int
    night: str
    scenarios: int
    pruned: tuple[str, ...]


def entries_of(data: Mapping[str, Any], revision_of: Callable[[str], str], where: str = "report") -> list[ScenarioNight]:
    results = data.get("results")
    if not isinstance(results, list):
        raise UsageError(f"{where}: not a callgen JSON report (no \"results\" list)")
    out = []
    for i, d in enumerate(results):
        if not isinstance(d, Mapping):
            raise UsageError(f"{where}: results[{i}]: not an object")
        try:
            out.append(scenario_night(d, revision_of(str(d.get("file", "")))))
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"{where}: results[{i}]: not a scenario result ({exc})") from None
    return out


def record_report(store: HistoryStore, data: Mapping[str, Any], *, source: str, night: str | None = None,
                  keep_nights: int | None = None, revision_of: Callable[[str], str] | None = None) -> Recorded:
    """Store one suite report as one run of ``night`` (default: the UTC date it started),
    then drop nights beyond ``keep_nights``."""
    entries = entries_of(data, revision_of or RevisionFinder(), source)
    started = utc_text(data.get("started"))
    run = RunInfo(night=night or night_of(started), started=started, source=source,
                  callgen_version=str(data.get("callgen_version", "")))
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    run_id = store.record(run, entries, now)
    pruned = store.prune(keep_nights) if keep_nights else []
    return Recorded(run_id, run.night, len(entries), tuple(pruned))
