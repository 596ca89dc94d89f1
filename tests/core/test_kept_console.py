"""A load's agents keep a bounded part of their console lines and events (soak memory).

A 20,000-call soak grew callgen's RSS 84 -> 333 MB: each pjsua driver kept every console
line and every event of the run (~12 KB per call), though the load folds each event as it
comes and the transcript file has every line."""

from __future__ import annotations

import tracemalloc

from callgen.pjsua.driver import Kept, PjsuaAgent


def test_kept_forgets_the_middle_and_keeps_absolute_positions():
    k = Kept(head=3, cap=10)
    k.extend(range(3))
    since = len(k)
    k.extend(range(3, 40))
    assert len(k) == 40  # positions stay absolute
    assert list(k)[:3] == [0, 1, 2]  # the head stays
    assert len(list(k)) <= 3 + 10
    assert k[since:][-1] == 39 and k[35:] == [35, 36, 37, 38, 39]
    assert k[-2:] == [38, 39]
    assert k[40:] == []
    assert k[0:2] == [0, 1]


def test_without_a_cap_nothing_is_forgotten():
    k = Kept()
    k.extend(range(10_000))
    assert len(list(k)) == 10_000 and k[9_998:] == [9_998, 9_999]


def _call_lines(n: int) -> list[str]:
    return [f"12:00:{n % 60:02d}.000  pjsua_app.c  .Call {n % 500} state changed to CONFIRMED",
            f"12:00:{n % 60:02d}.100  pjsua_app.c  .Call {n % 500} is DISCONNECTED [reason=200 (Normal call clearing)]"] + \
           [f"  call dump line {j} of call {n} {'x' * 60}" for j in range(50)]


def test_a_load_agents_console_memory_stays_flat_over_many_calls(tmp_path):
    agent = PjsuaAgent("alice", ["pjsua"], tmp_path / "t.txt", keep_last=2_000)
    since = agent.mark()
    for n in range(300):  # warm up to the cap
        agent._ingest(_call_lines(n))
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for n in range(300, 3_300):
        agent._ingest(_call_lines(n))
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert grown < 2_000_000, grown  # 3,000 calls of 52 lines kept whole would be ~15 MB
    assert agent.mark() == 2 * 3_300  # positions stay absolute: every event counted
    assert agent.events_since(agent.mark() - 2)[-1].kind.value == "disconnected"
    assert agent.events_since(since)  # a since from the start still answers (with what is kept)
