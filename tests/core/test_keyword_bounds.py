"""-k is bounded in length and depth: a hostile expression is exit 2 with one clear line
(before: 1,000 `not` or 500 nested brackets raised RecursionError, exit 3)."""

from __future__ import annotations

import pytest

from tests.conftest import SCENARIOS

SCENARIO = str(SCENARIOS / "basic_call.yaml")


@pytest.mark.parametrize("expr, why", [
    ("not " * 1000 + "basic", "longer than 1000 characters"),
    ("(" * 500 + "basic" + ")" * 500, "longer than 1000 characters"),
    ("not " * 100 + "basic", "nested more than 32 levels deep"),
    ("(" * 40 + "basic" + ")" * 40, "nested more than 32 levels deep"),
    ("(" * 20 + "not " * 20 + "basic" + ")" * 20, "nested more than 32 levels deep"),
])
def test_hostile_keyword_is_refused_with_one_line(cli, expr, why):
    r = cli("run", SCENARIO, "-k", expr, "--list")
    assert r.status == 2, r.err
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.err and "RecursionError" not in r.err, r.err
    assert lines[0].startswith("callgen: error: -k ") and why in lines[0], lines[0]
    assert len(lines[0]) < 200, "the message must not repeat a huge expression"


@pytest.mark.parametrize("expr", ["not " * 31 + "basic", "(" * 31 + "basic" + ")" * 31, "basic and not busy"])
def test_keyword_within_the_bounds_still_works(cli, expr):
    r = cli("run", SCENARIO, "-k", expr, "--list")
    if expr.count("not") % 2 and "busy" not in expr:  # an odd number of nots excludes it
        assert r.status == 2 and "no scenario matches" in r.err
    else:
        assert r.status == 0 and "basic_call" in r.out, r.err
