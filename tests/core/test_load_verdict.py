"""Load verdict rules on hand-built rows: percentiles, thresholds, what a check names."""

from __future__ import annotations

from callgen.scenario.model import Load, LoadExpect, SetupMsExpect
from callgen.verdict.load import Direction, LoadCallRow, load_checks, load_summary, percentile

OK = Direction(150, 0.0, 0.4)


def row(k, code=200, setup=2.0, proven=True, dtmf=("", ""), fwd=OK, why=()):
    return LoadCallRow(k, "bob", f"c{k}", 100.0 + k * 0.1, code, setup, 103.0 + k * 0.1 if code == 200 else None,
                       3.0 if code == 200 else None, code == 200, code == 200, fwd, OK, False, dtmf[0], dtmf[1], code,
                       proven, tuple(why))


def test_percentile_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile(list(map(float, range(1, 101))), 95) == 95.0 and percentile([1.0, 9.0], 100) == 9.0


def test_thresholds_name_the_calls_that_miss_them():
    load = Load("alice", ("bob",), rate=10, calls=6, dtmf=True, expect=LoadExpect(
        answered_pct_min=90, setup_ms=SetupMsExpect(p95_max=10, max=40), max_loss_pct=1, dtmf_ok_pct_min=100))
    rows = (row(0, dtmf=("000#", "000#")), row(1, code=486, proven=True), row(2, setup=50, dtmf=("002#", "002#")),
            row(3, fwd=Direction(150, 4.0, 0.4), dtmf=("003#", "003#")), row(4, dtmf=("004#", "")),
            row(5, dtmf=("005#", "005#"), proven=False, why=("no BYE",)))
    c = {x.name: x for x in load_checks(load, rows)}
    assert c["load.calls_placed"].passed
    assert not c["load.answered_pct"].passed and "call 1 (486)" in c["load.answered_pct"].seen
    assert not c["load.proven_pct"].passed and "call 5 (no BYE)" in c["load.proven_pct"].seen
    assert not c["load.setup_ms.p95"].passed and "call 2 (50 ms)" in c["load.setup_ms.p95"].seen
    assert not c["load.setup_ms.max"].passed
    assert not c["load.rtp.loss"].passed and "call 3" in c["load.rtp.loss"].seen and "call 0" not in c["load.rtp.loss"].seen
    assert not c["load.dtmf_ok_pct"].passed and "call 4" in c["load.dtmf_ok_pct"].seen


def test_summary_counts_concurrency_and_codes():
    rows = tuple(row(k) for k in range(10)) + (row(40, code=503),)  # rejected after the others ended
    s = load_summary(rows)
    assert s["attempted"] == 11 and s["answered"] == 10 and s["final_codes"] == {"200": 10, "503": 1}
    assert s["concurrency_max"] == 10  # 10 calls 0.1 s apart, each up 3 s
    assert sum(s["cps_per_second"]) == 11 and max(s["active_per_second"]) == 10
    assert sum(s["setup_histogram"]["counts"]) == 11


def test_calls_up_per_second_peaks_at_concurrency_max_on_the_same_bins():
    """A burst between two whole seconds: the chart's highest bar is the table's "calls up at once",
    and calls started per second has one bin per second of the run, as calls up has."""
    from dataclasses import replace

    long_call = replace(row(0), invite_time=100.0, bye_time=102.5)
    burst = tuple(replace(row(k), invite_time=100.3 + k * 0.01, bye_time=100.8) for k in range(1, 6))
    s = load_summary((long_call,) + burst)
    assert s["concurrency_max"] == 6
    assert max(s["active_per_second"]) == s["concurrency_max"]
    assert s["active_per_second"] == [6, 1, 1]
    assert len(s["cps_per_second"]) == len(s["active_per_second"]) and s["cps_per_second"] == [6, 0, 0]
