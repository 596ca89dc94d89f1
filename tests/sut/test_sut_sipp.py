"""SIPp harness: argv/parsing units, and real calls between SIPp's built-in scenarios and pjsua."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from callgen.errors import InfrastructureError, UsageError
from callgen.pjsua.driver import EventKind
from callgen.sut.ports import free_port_block
from callgen.sut.process import group_alive
from callgen.sut.sipp import SippConfig, SippProcess, SippResult, owns_udp_socket, parse_final_counts, start_sipp

needs_sipp = pytest.mark.tool("sipp")

SCREEN = """\
----------------------------- Statistics Screen ------- [1-9]: Change Screen --
  Successful call        |        0                  |        0
  Failed call            |        0                  |        0
------------------------------ Test Terminated --------------------------------
----------------------------- Statistics Screen ------- [1-9]: Change Screen --
  Incoming calls created |        3                  |        3
  Successful call        |        1                  |        2
  Failed call            |        1                  |        1
"""


# ---------------------------------------------------------------------------
# units


def test_parse_final_counts_takes_the_last_cumulative_values():
    assert parse_final_counts(SCREEN) == (2, 1)
    assert parse_final_counts("no screen at all") == (None, None)


def test_ok_needs_exit_0_and_every_expected_call():
    def r(code, ok_calls, failed, expected=2):
        return SippResult(code, ok_calls, failed, Path("o"), Path("e"), expected)

    assert r(0, 2, 0).ok
    assert not r(0, 0, 0).ok  # stopped early (SIGUSR1) exits 0 too
    assert not r(1, 1, 1).ok and not r(0, None, None).ok and not r(255, 2, 0).ok
    assert "at least one call failed" in r(1, 1, 1).describe()


@pytest.mark.parametrize(
    "kwargs",
    [dict(scenario="nope"), dict(remote="127.0.0.1"), dict(remote="127.0.0.1:5060; rm -rf"),
     dict(calls=0), dict(timeout_s=0), dict(scenario_file=Path("/nonexistent.xml"))],
)  # fmt: skip
def test_config_validation(tmp_path, kwargs):
    with pytest.raises(UsageError):
        SippConfig(tmp_path, **kwargs).validate()


def test_argv_pins_every_socket_to_loopback(tmp_path):
    s = SippProcess(SippConfig(tmp_path, scenario="uac", remote="127.0.0.1:5070", service="bob", calls=3,
                               rate=2, call_duration_ms=500, binary=Path("/usr/bin/sipp")))  # fmt: skip
    argv = s.argv()
    assert argv[:4] == ["/usr/bin/sipp", "127.0.0.1:5070", "-sn", "uac"]

    def opt(name: str) -> str:
        return argv[argv.index(name) + 1]

    assert opt("-i") == opt("-mi") == opt("-ci") == "127.0.0.1"
    ports = {int(opt("-p")), int(opt("-mp")), int(opt("-cp"))}
    assert len(ports) == 3 and 6000 not in ports and 8888 not in ports
    assert (opt("-m"), opt("-s"), opt("-r"), opt("-d"), opt("-timeout")) == ("3", "bob", "2", "500", "30s")
    assert "-timeout_error" in argv and "-nostdin" in argv and opt("-error_file") == str(s.error_log)
    assert s.uri == f"sip:bob@127.0.0.1:{s.port}"


def test_owns_udp_socket_sees_our_own_socket():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        assert owns_udp_socket(os.getpid(), "127.0.0.1", port)
        assert not owns_udp_socket(os.getpid(), "127.0.0.1", free_port_block(1))
        assert not owns_udp_socket(1, "127.0.0.1", port)  # bound, but not by that process
    assert not owns_udp_socket(os.getpid(), "127.0.0.1", port)


# ---------------------------------------------------------------------------
# real processes


def _gone(proc: SippProcess, pid: int) -> None:
    assert not group_alive(pid), f"sipp process group {pid} left behind"


@needs_sipp
@pytest.mark.integration
def test_pjsua_calls_sipp_uas(tmp_path, pjsua):
    sipp = start_sipp(tmp_path, "uas", service="bob", calls=1, timeout_s=30)
    pid = sipp.pid
    try:
        assert owns_udp_socket(pid, "127.0.0.1", sipp.port)
        alice = pjsua("alice")
        since = alice.mark()
        call = alice.make_call(sipp.uri)
        first = alice.wait_call_outcome("alice's call to SIPp", 10, call=call, since=since)
        assert first.kind is EventKind.CALL_STATE  # CONFIRMED: SIPp's 200 was accepted and ACKed
        since = alice.mark()
        alice.hangup_all()
        end = alice.wait_call_outcome("alice's call to end", 10, call=call, since=since)
        assert end.kind is EventKind.DISCONNECTED and end.code == 200
        result = sipp.wait(20)  # the built-in uas pauses 4 s after the BYE
    finally:
        sipp.stop()
    assert result.ok, result.describe()
    assert (result.successful_calls, result.failed_calls) == (1, 0)
    assert sipp.errors() == ""
    _gone(sipp, pid)


@needs_sipp
@pytest.mark.integration
def test_sipp_uac_calls_pjsua_and_exits_0(tmp_path, pjsua):
    bob_port = free_port_block(1)
    bob = pjsua("bob", "--auto-answer=200", sip_port=bob_port)
    sipp = start_sipp(tmp_path, "uac", remote=f"127.0.0.1:{bob_port}", service="bob", calls=2, rate=5, timeout_s=30)
    pid = sipp.pid
    try:
        result = sipp.wait(30)
    finally:
        sipp.stop()
    assert result.ok and result.exit_code == 0, result.describe()
    assert (result.successful_calls, result.failed_calls) == (2, 0)
    assert bob.wait_call_outcome("bob's call", 5, since=0).kind is EventKind.CALL_STATE  # bob really saw a confirmed call
    _gone(sipp, pid)


@needs_sipp
@pytest.mark.integration
def test_sipp_uac_reports_failure_when_pjsua_rejects(tmp_path, pjsua):
    bob_port = free_port_block(1)
    pjsua("bob", "--auto-answer=486", sip_port=bob_port)
    sipp = start_sipp(tmp_path, "uac", remote=f"127.0.0.1:{bob_port}", service="bob", calls=1, timeout_s=30)
    pid = sipp.pid
    try:
        result = sipp.wait(30)
    finally:
        sipp.stop()
    assert result.exit_code == 1 and not result.ok, result.describe()
    assert result.failed_calls == 1
    assert "486" in sipp.errors()  # -trace_err logged the unexpected response
    _gone(sipp, pid)


@needs_sipp
@pytest.mark.integration
def test_stop_ends_a_waiting_uas_and_its_group(tmp_path):
    sipp = start_sipp(tmp_path, "uas", calls=1, timeout_s=60)
    pid = sipp.pid
    start = time.monotonic()
    result = sipp.stop()
    assert time.monotonic() - start < 6
    assert result is not None and not result.ok, result.describe()
    assert result.successful_calls == 0  # SIPp exits 0 here; ok must not trust the exit code alone
    _gone(sipp, pid)


@needs_sipp
@pytest.mark.integration
def test_port_in_use_is_reported(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        with pytest.raises(InfrastructureError, match="sipp exited before binding"):
            start_sipp(tmp_path, "uas", port=taken.getsockname()[1])


def test_free_ports_stay_out_of_the_run_blocks():
    """Run blocks [FIRST, LAST) are locked by runs whose RTP ports are bound only later:
    a port handed out from inside one (the kernel's ephemeral range 32768-60999 overlaps
    them) would take another run's RTP port. Helpers' ports come from above the blocks."""
    from callgen.run.ports import FIRST, LAST
    from callgen.sut.ports import free_port

    for count in (1, 6, 24):
        for _ in range(30):
            base = free_port_block(count)
            assert not (base < LAST and base + count > FIRST), (base, count)
            assert base + count - 1 <= 65535
    assert all(free_port() >= LAST for _ in range(30))
