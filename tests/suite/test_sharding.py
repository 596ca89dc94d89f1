"""Shards of a scenario library: exact cover, balance, determinism, parsing."""

from __future__ import annotations

import random

import pytest

from callgen.errors import UsageError
from callgen.suite.sharding import parse_shard, shard, shard_from_env, shard_label


def _library(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    names = [f"scenarios/{rng.choice('abcxyz')}{i:03d}-{rng.randrange(10**6)}.yaml" for i in range(n)]
    rng.shuffle(names)
    return names


@pytest.mark.parametrize("files", [0, 1, 5, 17, 100])
@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 16, 120])
def test_shards_cover_library_exactly_once_and_balance(files: int, count: int) -> None:
    lib = _library(files)
    shards = [shard(lib, i, count) for i in range(count)]
    flat = [p for s in shards for p in s]
    assert len(flat) == len(set(flat)), "a file is in two shards"
    assert sorted(flat) == sorted(lib), "union of shards differs from the library"
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1, sizes
    if count > files:
        assert sizes.count(0) == count - files


def test_shard_ignores_input_order_and_duplicates() -> None:
    lib = _library(23)
    rev = list(reversed(lib)) + lib[:3]
    for i in range(4):
        assert shard(lib, i, 4) == shard(rev, i, 4)
    assert shard(["b", "a", "c", "a"], 0, 2) == ["a", "c"]
    assert shard(["b", "a", "c", "a"], 1, 2) == ["b"]


@pytest.mark.parametrize("index,count", [(-1, 3), (3, 3), (0, 0), (5, 2)])
def test_shard_rejects_bad_index(index: int, count: int) -> None:
    with pytest.raises(UsageError):
        shard(["a"], index, count)


@pytest.mark.parametrize("text,expected", [("2/5", (2, 5)), ("0/1", (0, 1)), (" 3 / 4 ", (3, 4))])
def test_parse_shard(text: str, expected: tuple[int, int]) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["", "2", "2/", "/5", "a/b", "-1/3", "5/5", "1/0", "1/2/3", "1.5/3"])
def test_parse_shard_rejects(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_shard(text)
    assert "--shard" in str(info.value)


def test_shard_from_env() -> None:
    assert shard_from_env({}) is None
    assert shard_from_env({"CALLGEN_SHARDS": "4"}) is None
    assert shard_from_env({"JOB_COMPLETION_INDEX": "3", "CALLGEN_SHARDS": "4"}) == (3, 4)
    assert shard_from_env({"JOB_COMPLETION_INDEX": "0", "CALLGEN_SHARDS": " 1 "}) == (0, 1)


@pytest.mark.parametrize(
    "env,needle",
    [
        ({"JOB_COMPLETION_INDEX": "1"}, "CALLGEN_SHARDS is not"),
        ({"JOB_COMPLETION_INDEX": "x", "CALLGEN_SHARDS": "2"}, "JOB_COMPLETION_INDEX"),
        ({"JOB_COMPLETION_INDEX": "1", "CALLGEN_SHARDS": "two"}, "CALLGEN_SHARDS"),
        ({"JOB_COMPLETION_INDEX": "4", "CALLGEN_SHARDS": "4"}, "0..3"),
    ],
)
def test_shard_from_env_rejects(env: dict[str, str], needle: str) -> None:
    with pytest.raises(UsageError) as info:
        shard_from_env(env)
    assert needle in str(info.value)


def test_shard_label_sorts_and_is_unique() -> None:
    labels = [shard_label(i, 12) for i in range(12)]
    assert labels == sorted(labels)
    assert len(set(labels)) == 12
    assert shard_label(2, 12) == "shard-02-of-12"
