"""callgen's pjsua patches 0002-0004 and the config_site changes, each on real calls
(issue 22; scripts/pjsua-patches, docs/pjsua-patches.md).  The far end is SIPp where a
peer matters, so the proof does not rest on pjsua talking to itself."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import pytest

from callgen.errors import InfrastructureError
from callgen.pjsua.driver import EventKind
from callgen.sut.sipp import start_sipp

needs_sipp = pytest.mark.tool("sipp")
pytestmark = pytest.mark.integration


def _confirmed(agent, call: int, since: int, what: str):
    ev = agent.wait_call_outcome(what, 10, call=call, since=since)
    assert ev.kind is EventKind.CALL_STATE, f"{what}: {ev}"


@needs_sipp
def test_select_call_makes_any_active_call_current(tmp_path, pjsua):
    """Patch 0002: with three calls up the current call is the last one placed; 'g 0' makes
    the first current, so 'h' ends that one (SIPp sees its BYE), and 'g' refuses a call that
    is not active.  A stock pjsua has no way to hang up call 0 alone but cycling ']'."""
    with start_sipp(tmp_path, "uas", service="peer", calls=3, timeout_s=40) as sipp:
        alice = pjsua("alice", "--max-calls=8")
        ids = []
        for k in range(3):
            since = alice.mark()
            ids.append(alice.make_call(sipp.uri))
            _confirmed(alice, ids[-1], since, f"call {k}")
        assert len(set(ids)) == 3
        alice.select_call(ids[0])
        since = alice.mark()
        alice.hangup()
        ended = alice.wait_for(lambda e: e.kind is EventKind.DISCONNECTED, "a call to end", 10, since=since)
        assert ended.call == ids[0]
        assert alice.live_calls() == {ids[1], ids[2]}
        with pytest.raises(InfrastructureError, match="not active"):
            alice.select_call(ids[0])
        alice.select_call(ids[1])
        since = alice.mark()
        alice.hangup()
        assert alice.wait_for(lambda e: e.kind is EventKind.DISCONNECTED, "a call to end", 10, since=since).call == ids[1]
        assert alice.live_calls() == {ids[2]}
        since = alice.mark()
        alice.hangup_all()
        alice.wait_for(lambda e: e.kind is EventKind.DISCONNECTED and e.call == ids[2], "the last call to end", 10,
                       since=since)
        result = sipp.wait(20)
    assert result.ok, result.describe()


def _offered_ports(log: Path) -> list[int]:
    """The m=audio port of every INVITE pjsua sent, in order (its level-5 log)."""
    ports, inside = [], False
    for line in log.read_text(errors="replace").splitlines():
        if re.search(r"TX \d+ bytes Request msg INVITE", line):
            inside = True
        elif inside and line.strip() == "--end msg--":
            inside = False
        elif inside and (m := re.match(r"m=audio (\d+)", line)):
            ports.append(int(m[1]))
    return ports


@needs_sipp
def test_rtp_port_range_wraps_the_ports(tmp_path, pjsua):
    """Patch 0003: --rtp-port-range=4 keeps every call's RTP port within [base, base+4]; without it
    each call takes the next two ports for good."""
    with start_sipp(tmp_path, "uas", service="peer", calls=8, timeout_s=60, call_duration_ms=0) as sipp:
        agents = {}
        for name, extra in (("ranged", ("--rtp-port-range=4",)), ("plain", ())):
            log = tmp_path / f"{name}.log"
            agents[name] = (pjsua(name, f"--log-file={log}", "--log-level=5", *extra), log)
        for name, (a, _) in agents.items():
            for k in range(4):
                since = a.mark()
                call = a.make_call(sipp.uri)
                _confirmed(a, call, since, f"{name} call {k}")
                since = a.mark()
                a.hangup_all()
                a.wait_for(lambda e, c=call: e.kind is EventKind.DISCONNECTED and e.call == c, "the call to end", 10,
                           since=since)
        result = sipp.wait(30)
    assert result.ok, result.describe()
    ranged, plain = (_offered_ports(agents[n][1]) for n in ("ranged", "plain"))
    assert len(ranged) == len(plain) == 4, (ranged, plain)
    assert plain == [plain[0] + 2 * k for k in range(4)], plain  # stock behaviour: never reused
    assert ranged[3] == ranged[0] and max(ranged) - ranged[0] <= 4, ranged  # wrapped back to the base


def _uri(agent) -> str:
    port = next(a.split("=", 1)[1] for a in agent.argv if a.startswith("--local-port="))
    return f"sip:{agent.name}@127.0.0.1:{port}"


def _quit_time(agent) -> float:
    since = agent.mark()
    t0 = time.monotonic()
    agent.request_quit()
    agent.wait_for(lambda e: e.kind is EventKind.EXITED, "pjsua to exit", 10, since=since)
    return time.monotonic() - t0


def test_quick_exit_skips_the_one_second_wait(tmp_path, pjsua):
    """Patch 0004: pjsua_destroy() tops every exit up to about 1 s; with --quick-exit an agent
    whose calls have ended quits at once."""
    slow = _quit_time(pjsua("slow"))
    quick = _quit_time(pjsua("quick", "--quick-exit"))
    assert slow >= 0.9, slow
    assert quick < 0.5, quick


def test_quick_exit_still_sends_bye_for_a_call_left_up(tmp_path, pjsua):
    """With --quick-exit pjsua still hangs up what is up (the BYE goes out; its answer is not awaited)."""
    bob = pjsua("bob", "--auto-answer=200", f"--log-file={tmp_path / 'bob.log'}", "--log-level=5")
    alice = pjsua("alice", "--quick-exit")
    bob_uri = _uri(bob)
    since = alice.mark()
    call = alice.make_call(bob_uri)
    _confirmed(alice, call, since, "alice's call")
    since_bob = bob.mark()
    assert _quit_time(alice) < 0.5
    bob.wait_for(lambda e: e.kind is EventKind.DISCONNECTED, "bob to see the BYE", 5, since=since_bob)
    assert re.search(r"RX \d+ bytes Request msg BYE", (tmp_path / "bob.log").read_text())


def test_70_calls_in_a_row_neither_stall_nor_abort(tmp_path, pjsua):
    """config_site: PJ_HAS_IPV6 1 with PJ_GETHOSTIP_DISABLE_LOCAL_RESOLUTION 1.  With IPv6 on,
    pjsua asks per outgoing call whether IPv6 media is usable; before the define that began with
    an AAAA lookup of the host name, which now and then waited out a 5 s DNS timeout (about once
    in 55 calls here).  70 calls placed one after the other must each start at once.

    Patch 0005: each new call reuses a media transport; late RTP of the call before it used to
    abort pjsua now and then (an assertion in pj_sockaddr_get_len; 1 run in 3 of this test with
    a stock pjsua 2.17)."""
    hosts = Path("/etc/hosts").read_text()
    name = socket.gethostname()
    v6_named = any(line.split()[0] == "::1" and name in line.split()[1:] for line in hosts.splitlines()
                   if line.strip() and not line.startswith("#"))
    bob = pjsua("bob", "--auto-answer=200", "--max-calls=8", "--clock-rate=8000")
    alice = pjsua("alice", "--max-calls=8", "--clock-rate=8000")
    starts = []
    t_all = time.monotonic()
    for k in range(70):
        since = alice.mark()
        t0 = time.monotonic()
        call = alice.make_call(_uri(bob), timeout=10)
        starts.append(time.monotonic() - t0)
        _confirmed(alice, call, since, f"call {k}")
        since = alice.mark()
        alice.hangup()
        alice.wait_for(lambda e, c=call: e.kind is EventKind.DISCONNECTED and e.call == c, "the call to end", 10, since=since)
    total = time.monotonic() - t_all
    assert max(starts) < 1.0, f"slowest call start {max(starts):.2f} s (/etc/hosts names {name} for ::1: {v6_named})"
    assert total < 20.0, total
