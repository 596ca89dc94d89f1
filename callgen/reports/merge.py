"""Combine shard reports (JUnit XML or JSON) into one.

Shards of a scenario library (e.g. an Indexed Kubernetes Job) each write their
own report; CI wants one.  Test cases are sorted, totals recomputed from the
cases, and a scenario that appears in more than one shard is flagged (a
sharding bug: it ran twice) - listed in ``MergeResult.duplicates``, as a
``duplicate`` suite property in JUnit and under ``"duplicates"`` in JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.parsers import expat

from callgen import __version__
from callgen.errors import UsageError
from callgen.reports.jsonreport import totals, write_json_streamed
from callgen.reports.junit import build_from_testcases, write_xml
from callgen.scenario.yamlsrc import read_capped
from callgen.verdict.result import ScenarioResult


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


class _TooDeep(Exception):
    pass


def _xml_depth_ok(data: bytes, path: Path) -> None:
    """Refuse nesting deeper than MAX_REPORT_DEPTH while parsing (no tree built yet).

    One ``Parse`` call over the whole document: linear.  (``iterparse`` feeds expat 16 KiB
    at a time, and expat re-scans a token that spans chunks from its start, so one 20 MB
    attribute took 33 s.)"""
    parser = expat.ParserCreate()
    depth = 0

    def start(name, attrs):  # noqa: ARG001 - expat's handler signature
        nonlocal depth
        depth += 1
        if depth > MAX_REPORT_DEPTH:
            raise _TooDeep

    def end(name):  # noqa: ARG001
        nonlocal depth
        depth -= 1

    parser.StartElementHandler, parser.EndElementHandler = start, end
    try:
        parser.Parse(data, True)
    except _TooDeep:
        raise ReportInputError(f"{path}: XML nested more than {MAX_REPORT_DEPTH} levels deep; not a callgen report") from None
    except expat.ExpatError:
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


def load_json_report(path: Path) -> dict[str, Any]:
    """A callgen JSON suite report from a file (at most MAX_REPORT_BYTES), or one line saying why it is not one."""
    raw = _read_report(path)
    try:
        data = json.loads(raw)  # bytes: no decoded copy of a large report
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


def _count(value: Any, key: str, path: Path) -> int:
    """A non-negative whole number (not a bool, not a float)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ReportInputError(f"{path}: {key}={_shown(value)} is not a count")
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


def _checked_result(d: Any, i: int, path: Path) -> ScenarioResult:
    """``results[i]`` as a ScenarioResult; every value merge-reports computes with is checked."""
    key = f"results[{i}]"
    if not isinstance(d, dict):
        raise ReportInputError(f"{path}: {key}: not an object")
    summary = d.get("summary")
    load = summary.get("load") if isinstance(summary, dict) else None
    if load is not None and not isinstance(load, dict):
        raise ReportInputError(f"{path}: {key}.summary.load: not an object")
    share = load.get("share") if isinstance(load, dict) else None
    if share is not None:
        ok = (isinstance(share, list) and len(share) == 2
              and all(isinstance(v, int) and not isinstance(v, bool) for v in share) and 0 <= share[0] < share[1])
        if not ok:
            raise ReportInputError(f"{path}: {key}.summary.load.share={_shown(share)} is not [I, N] with 0 <= I < N")
    try:
        r = ScenarioResult.from_dict(d)
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportInputError(f"{path}: {key}: invalid result ({exc})") from None
    _finite(r.duration_s, f"{key}.duration_s", path)
    return r


def _share(r: ScenarioResult) -> tuple[int, int] | None:
    """The load share [I, N] of a result (checked by ``_checked_result``); None unless N > 1."""
    load = r.summary.load
    share = load.share if load is not None and len(load.share) == 2 else None
    return (share[0], share[1]) if share is not None and share[1] > 1 else None


def merged_loads(results: Sequence[ScenarioResult], inputs: Sequence[Path]) -> dict[str, Any]:
    """A sharded load's summary over all its shares, recomputed from every share's per-call
    rows (calls.jsonl in each run folder): percentiles are recomputed, never averaged."""
    from callgen.verdict.load import LoadCallRow, load_summary

    groups: dict[str, list[ScenarioResult]] = {}
    for r in results:
        if r.summary.load is not None:
            groups.setdefault(r.name, []).append(r)
    out: dict[str, Any] = {}
    for name, shares in sorted(groups.items()):
        rows, missing = [], []
        for r in shares:
            path = _rows_path(r, inputs)
            if path is None:
                missing.append(r.artefacts)
                continue
            rows += _read_rows(path, LoadCallRow)
        _span_ok(rows, name)
        rows.sort(key=lambda row: row.index)
        out[name] = {**load_summary(tuple(rows)), "shares": len(shares), "rows_missing": missing}
    return out


#: a row's numbers: name -> (may be None, smallest, largest)
_ROW_NUMBERS = {"index": (False, 0, 10**9), "invite_time": (True, 0, 1e11), "bye_time": (True, 0, 1e11),
                "setup_ms": (True, 0, 1e9), "duration_s": (True, 0, 1e9), "final_code": (True, 100, 699),
                "pjsua_code": (True, 0, 10**6)}
_ROW_DIRECTIONS = ("rtp_caller_to_callee", "rtp_callee_to_caller")
MAX_LOAD_SPAN_S = 7 * 86400  #: first INVITE to last BYE of a merged load


def _read_rows(path: Path, row_type: Any) -> list:
    """A share's calls.jsonl, every row checked: a bad one is ``file:line: key: message``."""
    raw = _read_report(path)
    rows = []
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            d = json.loads(line, parse_constant=lambda c: math.nan)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise ReportInputError(f"{where}: line {n} is not a JSON row ({getattr(exc, 'msg', exc)})") from None
        if not isinstance(d, dict):
            raise ReportInputError(f"{where}: line {n} is not a JSON object")
        _row_ok(d, where)
        try:
            rows.append(row_type.from_json(d))
        except (KeyError, TypeError, ValueError) as exc:
            raise ReportInputError(f"{where}: invalid row ({exc})") from None
    return rows


def _row_ok(d: dict[str, Any], where: str) -> None:
    if not isinstance(d.get("callee"), str):
        raise ReportInputError(f"{where}: callee: missing or not text")
    for key, (optional, lo, hi) in _ROW_NUMBERS.items():
        v = d.get(key)
        if v is None and optional:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
            raise ReportInputError(f"{where}: {key}: {_shown(v)} is not a number from {lo:g} to {hi:g}")
    for key in _ROW_DIRECTIONS:
        v = d.get(key)
        if not isinstance(v, dict) or isinstance(v.get("packets"), bool) or not isinstance(v.get("packets"), int):
            raise ReportInputError(f"{where}: {key}: not an object with a packet count")
        for sub in ("loss_pct", "jitter_ms"):
            x = v.get(sub)
            if x is not None and (isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x)):
                raise ReportInputError(f"{where}: {key}.{sub}: {_shown(x)} is not a finite number")


def _span_ok(rows: list, name: str) -> None:
    times = [t for r in rows for t in (r.invite_time, r.bye_time) if t is not None]
    if times and max(times) - min(times) > MAX_LOAD_SPAN_S:
        raise ReportInputError(f"load {name}: its calls.jsonl rows span {max(times) - min(times):.0f} s "
                               f"(more than {MAX_LOAD_SPAN_S} s): not the rows of one load")


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


def _same_zone_kind(spans: list[tuple[dt.datetime, float, Path]]) -> None:
    """Start times with and without a time zone cannot be compared: name the odd one."""
    aware = [s for s in spans if s[0].utcoffset() is not None]
    if aware and len(aware) < len(spans):
        first, odd = aware[0], next(s for s in spans if s[0].utcoffset() is None)
        raise ReportInputError(f"{odd[2]}: started={odd[0].isoformat()!r} has no time zone, "
                               f"while {first[2]}'s has one: the shards' start times cannot be compared")


def _merge_json(inputs: tuple[Path, ...], output: Path) -> MergeResult:
    results: list[ScenarioResult] = []
    spans: list[tuple[dt.datetime, float, Path]] = []
    jobs = 0
    not_run = 0
    interrupted = False
    for path in inputs:
        data = load_json_report(path)
        not_run += _not_run(data, path)
        found = data["results"]
        for i, d in enumerate(found):  # each dict dropped once read: the results are what is kept
            results.append(_checked_result(d, i, path))
            found[i] = None
        data["results"] = found = None
        start = _parse_time(data.get("started", ""))
        if start is not None:
            spans.append((start, _finite(data.get("duration_s", 0.0), "duration_s", path), path))
        jobs += _count(data.get("jobs", 0), "jobs", path)
        interrupted = interrupted or bool(data.get("interrupted"))
    results.sort(key=lambda r: (r.file, r.name))
    # the shares of one load scenario are meant to appear once each (--load-share I/N)
    keys = Counter(f"{r.file}::{r.name}" + (f"#share{_share(r)[0]}" if _share(r) else "") for r in results)
    dups = tuple(sorted(k for k, n in keys.items() if n > 1))
    _same_zone_kind(spans)
    started = min((s for s, _, _ in spans), default=None)
    # Shards run side by side: the merged wall time spans first start to last end.
    duration = max(((s - started).total_seconds() + d for s, d, _ in spans), default=0.0) if started else 0.0
    head = {
        "callgen_version": __version__,
        "started": started.isoformat(timespec="seconds") if started else "",
        "duration_s": round(duration, 3),
        "jobs": jobs,
        "interrupted": interrupted,
    }
    tail = {
        "totals": totals(results, interrupted=interrupted, not_run=not_run),
        "duplicates": list(dups),
        "merged_from": [str(p) for p in inputs],
    }
    loads = merged_loads(results, inputs)
    if loads:
        tail["load"] = loads
    write_json_streamed(head, "results", (r.to_dict() for r in results), tail, output)
    return MergeResult(output, "json", len(results), dups, inputs, tail["totals"]["failed"], tail["totals"]["errors"])
