"""Split a scenario library into N disjoint, balanced shards.

A Kubernetes Indexed Job runs the same image N times; each pod gets
``JOB_COMPLETION_INDEX`` (0..N-1) and must pick its own part of the library
without talking to the others.  The only shared input is the file list, so the
split has to be a pure function of (files, index, count): sort, then take every
``count``-th file starting at ``index``.  Sorting makes the result independent
of directory listing order; striding keeps shard sizes within one of each other
(sizes differ by at most 1), which a contiguous split does not give for free.

Weight balancing (by expected call duration) was considered and left out: the
durations are not known before a first run, and a split that changes when a
scenario's timing changes would move scenarios between shards from run to run,
which makes per-shard history hard to compare.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from callgen.errors import UsageError

#: Environment variables a pod of an Indexed Job reads (the index is set by Kubernetes).
INDEX_ENV = "JOB_COMPLETION_INDEX"
COUNT_ENV = "CALLGEN_SHARDS"

_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def shard(paths: Sequence[str], index: int, count: int) -> list[str]:
    """Return the paths of shard ``index`` out of ``count`` (0-based).

    Every path lands in exactly one shard; with more shards than paths the
    surplus shards are empty (a pod with nothing to do reports success).
    Duplicate paths are kept once, so a path cannot run twice.
    """
    _check(index, count)
    ordered = sorted(set(paths))
    return ordered[index::count]


def parse_shard(text: str, option: str = "--shard") -> tuple[int, int]:
    """Parse ``--shard I/N`` (0 <= I < N), e.g. ``"2/5" -> (2, 5)``; errors name ``option``."""
    m = _SHARD_RE.match(text or "")
    if not m:
        raise UsageError(f"{option}: expected INDEX/COUNT such as 0/4, got {text!r}")
    index, count = int(m.group(1)), int(m.group(2))
    try:
        _check(index, count)
    except UsageError as exc:
        raise UsageError(f"{option} {text.strip()}: {exc}") from None
    return index, count


def shard_from_env(env: Mapping[str, str]) -> tuple[int, int] | None:
    """Read the shard from an Indexed Job's environment.

    Returns None when ``JOB_COMPLETION_INDEX`` is not set (not running as an
    indexed pod).  When the index is set, ``CALLGEN_SHARDS`` must be too: a pod
    that silently ran the whole library would duplicate every other shard.
    """
    raw_index = env.get(INDEX_ENV)
    if raw_index is None or raw_index.strip() == "":
        return None
    raw_count = env.get(COUNT_ENV)
    if raw_count is None or raw_count.strip() == "":
        raise UsageError(f"{INDEX_ENV}={raw_index} is set but {COUNT_ENV} is not; set it to the Job's completions")
    try:
        index = int(raw_index.strip())
    except ValueError:
        raise UsageError(f"{INDEX_ENV}: expected a non-negative integer, got {raw_index!r}") from None
    try:
        count = int(raw_count.strip())
    except ValueError:
        raise UsageError(f"{COUNT_ENV}: expected a positive integer, got {raw_count!r}") from None
    try:
        _check(index, count)
    except UsageError as exc:
        raise UsageError(f"{INDEX_ENV}={index}, {COUNT_ENV}={count}: {exc}") from None
    return index, count


def shard_label(index: int, count: int) -> str:
    """Name fragment for per-shard reports, e.g. ``shard-02-of-10``.

    Reports from shards must carry the index in their path (for example
    ``/results/junit-2.xml`` or ``run-dir/shard-02-of-10/``) so the pods of one
    Job never overwrite each other's files on a shared volume.
    """
    _check(index, count)
    width = len(str(count))
    return f"shard-{index:0{width}d}-of-{count:0{width}d}"


def _check(index: int, count: int) -> None:
    if count < 1:
        raise UsageError(f"shard count must be at least 1, got {count}")
    if not 0 <= index < count:
        raise UsageError(f"shard index must be in 0..{count - 1}, got {index}")
