"""Reports of scenario runs: text for the terminal, JUnit XML and JSON for CI,
an HTML/Markdown index of the artefacts, and merging of shard reports.

``publish`` is the one entry point a command needs after ``run_suite``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from callgen.reports.index import write_index
from callgen.reports.jsonreport import to_json, write_json
from callgen.reports.junit import build_junit, write_junit
from callgen.reports.keep import KEEP_CHOICES, apply_keep
from callgen.reports.merge import MergeResult, merge_reports
from callgen.reports.text import format_scenario, format_summary

if TYPE_CHECKING:
    from callgen.suite.execute import SuiteResult

__all__ = [
    "KEEP_CHOICES", "MergeResult", "Published", "apply_keep", "build_junit", "format_scenario",
    "format_summary", "merge_reports", "publish", "to_json", "write_index", "write_json", "write_junit",
]


@dataclass(frozen=True)
class Published:
    junit: Path | None
    json: Path | None
    index_html: Path
    summary_md: Path
    deleted: tuple[Path, ...]


def publish(
    suite: SuiteResult,
    out_dir: Path,
    *,
    junit: Path | None = None,
    json_path: Path | None = None,
    keep: str = "all",
) -> Published:
    """Write every report of a suite, then apply ``--keep``.

    Order matters: JUnit and JSON name the run folders as they were; the
    index is written after ``--keep`` so it lists only files that still exist
    and says which folders were removed.
    """
    out_dir = Path(out_dir)
    junit_path = write_junit(suite, junit) if junit else None
    json_file = write_json(suite, json_path) if json_path else None
    deleted = apply_keep(suite, out_dir, keep)
    html, md = write_index(suite, out_dir)
    return Published(junit_path, json_file, html, md, tuple(deleted))
