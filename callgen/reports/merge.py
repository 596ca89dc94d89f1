"""Combine shard reports (JUnit XML or JSON) into one.

Shards of a scenario library (e.g. an Indexed Kubernetes Job) each write their
own report; CI wants one.  Test cases are sorted, totals recomputed from the
cases, and a scenario that appears in more than one shard is flagged (a
sharding bug: it ran twice) - listed in ``MergeResult.duplicates``, as a
``duplicate`` suite property in JUnit and under ``"duplicates"`` in JSON.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from callgen import __version__
from callgen.errors import UsageError
from callgen.reports.jsonreport import totals, write_json_data
from callgen.reports.junit import build_from_testcases, write_xml
from callgen.verdict.result import ScenarioResult
from callgen.scenario.yamlsrc import read_capped


class ReportInputError(UsageError):
    """A report given to ``merge-reports`` is not a callgen JUnit or JSON report."""


@dataclass(frozen=True)
class MergeResult:
    output: Path
    kind: str  #: "junit" | "json"
    tests: int
    duplicates: tuple[str, ...]  #: "classname::name" (JUnit) or "file::name" (JSON)
    inputs: tuple[Path, ...]
    failed: int = 0  #: test cases that failed (checks) in the merged report
    errors: int = 0  #: test cases that could not complete


def _kind_of_output(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".xml":
        return "junit"
    if suffix == ".json":
        return "json"
    raise UsageError(f"{path}: the output must end in .xml (JUnit) or .json")


def merge_reports(paths: Sequence[Path], output: Path) -> MergeResult:
    """Merge ``paths`` into ``output``; the output's suffix picks the format
    and every input must be of that format."""
    if not paths:
        raise UsageError("merge-reports: no input report given")
    output = Path(output)
    kind = _kind_of_output(output)
    inputs = tuple(Path(p) for p in paths)
    if kind == "junit":
        return _merge_junit(inputs, output)
    return _merge_json(inputs, output)


# --------------------------------------------------------------------------- JUnit


MAX_REPORT_BYTES = 256 << 20  #: a shard report larger than this is refused, not read
MAX_REPORT_DEPTH = 64  #: element/array nesting; callgen's own reports nest a handful of levels


def _read_report(path: Path) -> bytes:
    """The bytes of a report file; a folder, FIFO, device or oversized file is refused by name."""
    try:
        return read_capped(path, MAX_REPORT_BYTES)
    except FileNotFoundError:
        raise ReportInputError(f"{path}: no such file") from None
    except ValueError as exc:
        raise ReportInputError(f"{path}: not read: {exc}") from None
    except OSError as exc:
        raise ReportInputError(f"{path}: cannot read: {exc.strerror}") from None


def _xml_depth_ok(data: bytes, path: Path) -> None:
    """Refuse nesting deeper than MAX_REPORT_DEPTH while parsing (no tree built yet)."""
    depth = 0
    try:
        for event, _ in ET.iterparse(io.BytesIO(data), events=("start", "end")):
            depth += 1 if event == "start" else -1
            if depth > MAX_REPORT_DEPTH:
                raise ReportInputError(f"{path}: XML nested more than {MAX_REPORT_DEPTH} levels deep; not a callgen report")
    except ET.ParseError:
        return  # reported with its position by the real parse


def _parse_xml(path: Path) -> ET.Element:
    data = _read_report(path)
    _xml_depth_ok(data, path)
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        line, col = exc.position
        reason = str(exc).split(":")[0]
        raise ReportInputError(f"{path}:{line}:{col}: not a JUnit XML file ({reason})") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise ReportInputError(f"{path}: root element <{root.tag}> is neither <testsuites> nor <testsuite>")
    return root


def _merge_junit(inputs: tuple[Path, ...], output: Path) -> MergeResult:
    cases: list[ET.Element] = []
    duration = 0.0
    stamps, hosts = [], []
    props: list[tuple[str, str]] = []
    for path in inputs:
        root = _parse_xml(path)
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        for ts in suites:
            cases.extend(ts.iter("testcase"))
            duration += _float(ts.get("time"), path)
            stamps.append(ts.get("timestamp", ""))
            hosts.append(ts.get("hostname", ""))
            for p in ts.findall("properties/property"):
                if p.get("name") not in ("flaky", "duplicate"):
                    props.append((p.get("name", ""), p.get("value", "")))
    cases.sort(key=lambda c: (c.get("classname", ""), c.get("name", "")))
    keys = Counter(f"{c.get('classname', '')}::{c.get('name', '')}" for c in cases)
    dups = tuple(sorted(k for k, n in keys.items() if n > 1))
    unique_props = list(dict.fromkeys(props)) + [("merged_from", str(p)) for p in inputs]
    unique_props += [("duplicate", d) for d in dups]
    root = build_from_testcases(
        cases,
        duration_s=duration,
        timestamp=min((s for s in stamps if s), default=""),
        hostname=hosts[0] if len(set(hosts)) == 1 else ",".join(sorted(set(h for h in hosts if h))),
        properties=unique_props,
    )
    write_xml(root, output)
    failed = sum(1 for c in cases if c.find("failure") is not None)
    errors = sum(1 for c in cases if c.find("error") is not None)
    return MergeResult(output, "junit", len(cases), dups, inputs, failed, errors)


def _float(value: str | None, path: Path) -> float:
    try:
        number = float((value or "0").replace(",", ""))
    except ValueError:
        raise ReportInputError(f"{path}: time={value!r} is not a number") from None
    if not math.isfinite(number):
        raise ReportInputError(f"{path}: time={value!r} is not a finite number")
    return number


# --------------------------------------------------------------------------- JSON


def _load_json(path: Path) -> dict[str, Any]:
    raw = _read_report(path)
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ReportInputError(f"{path}: byte {exc.start}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ReportInputError(f"{path}:{exc.lineno}:{exc.colno}: not a JSON report ({exc.msg})") from None
    except RecursionError:
        raise ReportInputError(f"{path}: JSON nested too deeply; not a callgen report") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise ReportInputError(f"{path}: not a callgen JSON report (no \"results\" list)")
    return data


def _finite(value: Any, key: str, path: Path) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise ReportInputError(f"{path}: {key}={value!r} is not a finite number")
    return number


def _not_run(data: dict[str, Any], path: Path) -> int:
    """The shard's count of scenario runs that never started (kept through the merge)."""
    value = data.get("totals", {}).get("not_run", 0) if isinstance(data.get("totals"), dict) else 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ReportInputError(f"{path}: totals.not_run={value!r} is not a count")
    return value


def _share(r: ScenarioResult) -> tuple[int, int] | None:
    load = r.summary.get("load")
    share = load.get("share") if isinstance(load, dict) else None
    return (int(share[0]), int(share[1])) if isinstance(share, list) and len(share) == 2 and share[1] > 1 else None


def merged_loads(results: Sequence[ScenarioResult], inputs: Sequence[Path]) -> dict[str, Any]:
    """A sharded load's summary over all its shares, recomputed from every share's per-call
    rows (calls.jsonl in each run folder): percentiles are recomputed, never averaged."""
    from callgen.verdict.load import LoadCallRow, load_summary

    groups: dict[str, list[ScenarioResult]] = {}
    for r in results:
        if isinstance(r.summary.get("load"), dict):
            groups.setdefault(r.name, []).append(r)
    out: dict[str, Any] = {}
    for name, shares in sorted(groups.items()):
        rows, missing = [], []
        for r in shares:
            path = _rows_path(r, inputs)
            if path is None:
                missing.append(r.artefacts)
                continue
            rows += [LoadCallRow.from_json(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
        rows.sort(key=lambda row: row.index)
        out[name] = {**load_summary(tuple(rows)), "shares": len(shares), "rows_missing": missing}
    return out


def _rows_path(r: ScenarioResult, inputs: Sequence[Path]) -> Path | None:
    """A share's calls.jsonl: its run folder as recorded, or beside one of the merged reports."""
    folder = Path(r.artefacts)
    candidates = [folder] + [p.parent / folder for p in inputs if not folder.is_absolute()]
    return next((c / "calls.jsonl" for c in candidates if (c / "calls.jsonl").is_file()), None)


def _parse_time(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None


def _merge_json(inputs: tuple[Path, ...], output: Path) -> MergeResult:
    results: list[ScenarioResult] = []
    spans: list[tuple[dt.datetime, float]] = []
    jobs = 0
    not_run = 0
    interrupted = False
    for path in inputs:
        data = _load_json(path)
        not_run += _not_run(data, path)
        for i, d in enumerate(data["results"]):
            try:
                results.append(ScenarioResult.from_dict(d))
            except (KeyError, TypeError, ValueError) as exc:
                raise ReportInputError(f"{path}: results[{i}]: invalid result ({exc})") from None
        start = _parse_time(data.get("started", ""))
        if start is not None:
            spans.append((start, _finite(data.get("duration_s", 0.0), "duration_s", path)))
        jobs += int(data.get("jobs", 0))
        interrupted = interrupted or bool(data.get("interrupted"))
    results.sort(key=lambda r: (r.file, r.name))
    # the shares of one load scenario are meant to appear once each (--load-share I/N)
    keys = Counter(f"{r.file}::{r.name}" + (f"#share{_share(r)[0]}" if _share(r) else "") for r in results)
    dups = tuple(sorted(k for k, n in keys.items() if n > 1))
    started = min((s for s, _ in spans), default=None)
    # Shards run side by side: the merged wall time spans first start to last end.
    duration = max(((s - started).total_seconds() + d for s, d in spans), default=0.0) if started else 0.0
    merged = {
        "callgen_version": __version__,
        "started": started.isoformat(timespec="seconds") if started else "",
        "duration_s": round(duration, 3),
        "jobs": jobs,
        "interrupted": interrupted,
        "results": [r.to_dict() for r in results],
        "totals": totals(results, interrupted=interrupted, not_run=not_run),
        "duplicates": list(dups),
        "merged_from": [str(p) for p in inputs],
    }
    loads = merged_loads(results, inputs)
    if loads:
        merged["load"] = loads
    write_json_data(merged, output)
    return MergeResult(output, "json", len(results), dups, inputs, merged["totals"]["failed"], merged["totals"]["errors"])
