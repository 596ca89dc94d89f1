"""Kamailio harness: config/argv units, the OPTIONS probe, and real registrations and calls via pjsua."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from callgen.errors import InfrastructureError, UsageError
from callgen.pjsua.driver import EventKind, PjsuaAgent, stop_all
from callgen.sut.kamailio import DEFAULT_CONFIG, Kamailio, KamailioConfig, KamailioProcess, start_kamailio
from callgen.sut.sipprobe import parse_status_line, sip_options_probe

BROKEN_CFG = Path(__file__).resolve().parents[1] / "kamailio" / "broken.cfg"
needs_kamailio = pytest.mark.tool("kamailio")


# ---------------------------------------------------------------------------
# units


def test_config_validation(tmp_path):
    for bad in (KamailioConfig(tmp_path, password="has space"), KamailioConfig(tmp_path, password='q"uote'),
                KamailioConfig(tmp_path, port=70000), KamailioConfig(tmp_path, config_file=tmp_path / "none.cfg")):  # fmt: skip
        with pytest.raises(UsageError):
            bad.validate()
    KamailioConfig(tmp_path, password="s3cret-OK.1").validate()


def test_argv_passes_listen_and_password_as_defines(tmp_path):
    k = KamailioProcess(KamailioConfig(tmp_path, port=5099, password="pw1", binary=Path("/bin/kamailio")))
    argv = k.argv()
    assert argv[:6] == ["/bin/kamailio", "-f", str(DEFAULT_CONFIG), "-DD", "-E", "-n"]
    assert ["-A", "LISTEN=udp:127.0.0.1:5099"] == argv[argv.index("LISTEN=udp:127.0.0.1:5099") - 1 :][:2]
    assert "WITH_AUTH" in argv and not any("pw1" in a for a in argv)  # never on the command line
    assert k.child_env()["CALLGEN_KAMAILIO_PASSWORD"] == "pw1"
    assert k.uri == "sip:127.0.0.1:5099" and k.outbound_uri == "sip:127.0.0.1:5099;lr"
    no_auth = KamailioProcess(KamailioConfig(tmp_path, port=5099, binary=Path("/bin/kamailio"))).argv()
    assert "WITH_AUTH" not in no_auth and not any(a.startswith("AUTH_PASSWORD") for a in no_auth)


def test_free_port_is_picked_when_none_given(tmp_path):
    k = KamailioProcess(KamailioConfig(tmp_path))
    assert 1024 < k.port < 65536
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", k.port))  # still free: nothing was started


def test_parse_status_line():
    assert parse_status_line(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n") == (200, "OK")
    assert parse_status_line(b"SIP/2.0 404 Not Found\r\n") == (404, "Not Found")
    assert parse_status_line(b"OPTIONS sip:x SIP/2.0\r\n") is None
    assert parse_status_line(b"\x00\xff garbage") is None


def _udp_responder(reply: bytes | None, after: int = 1) -> tuple[socket.socket, threading.Thread]:
    """A loopback UDP socket that answers the ``after``-th datagram with ``reply`` (None: never)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)  # lets the thread notice close() quickly

    def run():
        seen = 0
        try:
            while True:
                try:
                    data, addr = sock.recvfrom(65535)
                except TimeoutError:
                    continue
                seen += 1
                assert data.startswith(b"OPTIONS sip:127.0.0.1:")
                if reply is not None and seen >= after:
                    sock.sendto(b"SIP/2.0 100 Trying\r\n\r\n", addr)
                    sock.sendto(reply, addr)
                    return
        except OSError:
            return

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return sock, t


def test_probe_gets_final_response_after_retransmissions():
    sock, t = _udp_responder(b"SIP/2.0 200 OK\r\n\r\n", after=3)
    try:
        r = sip_options_probe("127.0.0.1", sock.getsockname()[1], timeout=5, interval=0.05)
        assert r is not None and r.status == 200 and r.attempts >= 3
    finally:
        sock.close()
        t.join(5)


def test_probe_times_out_without_answer_and_stops_when_process_died():
    sock, t = _udp_responder(None)
    try:
        start = time.monotonic()
        assert sip_options_probe("127.0.0.1", sock.getsockname()[1], timeout=0.4, interval=0.1) is None
        assert 0.35 < time.monotonic() - start < 2
        start = time.monotonic()
        assert sip_options_probe("127.0.0.1", sock.getsockname()[1], timeout=10, still_running=lambda: False) is None
        assert time.monotonic() - start < 0.5
    finally:
        sock.close()
        t.join(5)


@needs_kamailio
@pytest.mark.parametrize("defines", [["LISTEN=udp:127.0.0.1:5999"], ["LISTEN=udp:127.0.0.1:5999", "WITH_AUTH"]])
def test_shipped_config_passes_kamailio_syntax_check(tmp_path, defines):
    argv = ["kamailio", "-c", "-f", str(DEFAULT_CONFIG), "-E"]
    for d in defines:
        argv += ["-A", d]
    env = {**os.environ, "CALLGEN_KAMAILIO_PASSWORD": "x"}
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "udp: 127.0.0.1 [127.0.0.1]:5999" in r.stdout + r.stderr


# ---------------------------------------------------------------------------
# real processes


@needs_kamailio
@pytest.mark.integration
def test_start_answers_options_and_stop_leaves_nothing(tmp_path):
    k = start_kamailio(tmp_path)
    try:
        assert k.alive() and k.group_alive()
        r = sip_options_probe(k.address, k.port, timeout=2)
        assert r is not None and (r.status, r.reason) == (200, "Keepalive")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, pytest.raises(OSError):
            s.bind((k.address, k.port))  # the port is really Kamailio's
    finally:
        rc = k.stop()
    assert rc == 0
    assert not k.alive() and not k.group_alive()
    assert "signal 15 received" in k.log_text()
    assert k.stop() == 0  # idempotent


@needs_kamailio
@pytest.mark.integration
def test_broken_config_fails_fast_with_the_log_line(tmp_path):
    start = time.monotonic()
    with pytest.raises(InfrastructureError, match=r"exited with status \d+.*broken\.cfg, line 7") as exc:
        start_kamailio(tmp_path, config_file=BROKEN_CFG, ready_timeout=20)
    assert time.monotonic() - start < 10
    assert "kamailio.log" in str(exc.value)


def _registration(agent: PjsuaAgent, timeout: float = 10.0):
    """pjsua's first REGISTER answer, even one printed before its menu (since=0)."""
    return agent.wait_for(lambda e: e.kind in (EventKind.REG_OK, EventKind.REG_FAILED),
                          f"the registration of {agent.name}", timeout, since=0)  # fmt: skip


@needs_kamailio
@pytest.mark.integration
def test_registered_users_call_through_the_proxy(tmp_path, pjsua):
    with start_kamailio(tmp_path / "kam", password="s3cret") as k:
        def user(name: str, password: str, *extra: str):
            return pjsua(name, f"--registrar={k.uri}", f"--id=sip:{name}@127.0.0.1", "--realm=*",
                         f"--username={name}", f"--password={password}", f"--outbound={k.outbound_uri}", *extra)  # fmt: skip

        bob = user("bob", "s3cret", "--auto-answer=200")
        assert _registration(bob).kind is EventKind.REG_OK
        alice = user("alice", "s3cret")
        assert _registration(alice).kind is EventKind.REG_OK

        since = alice.mark()
        call = alice.make_call(f"sip:bob@127.0.0.1:{k.port}")
        end = alice.wait_call_outcome("alice's call to bob", 10, call=call, since=since)
        assert end.kind is EventKind.CALL_STATE, end  # CONFIRMED
        assert bob.wait_call_outcome("bob's incoming call", 10, since=0).kind is EventKind.CALL_STATE
        since = alice.mark()
        call = alice.make_call(f"sip:carol@127.0.0.1:{k.port}")  # never registered
        end = alice.wait_call_outcome("alice's call to carol", 10, call=call, since=since)
        assert end.kind is EventKind.DISCONNECTED and (end.code, end.reason) == (404, "Not Found")
        alice.hangup_all()
        bob.wait_for(lambda e: e.kind is EventKind.DISCONNECTED, "bob's call to end", 10, since=0)
        stop_all([alice, bob])  # while Kamailio still answers their unREGISTER
        log = k.log_text()
    assert "REGISTER of bob saved" in log and "REGISTER of alice saved" in log
    assert "initial INVITE for bob relayed to sip:bob@127.0.0.1:" in log  # lookup found bob's contact
    assert "in-dialog BYE routed by Record-Route" in log or "in-dialog ACK routed by Record-Route" in log
    assert not k.group_alive()


@needs_kamailio
@pytest.mark.integration
def test_wrong_password_is_refused(tmp_path, pjsua):
    with start_kamailio(tmp_path / "kam", password="s3cret") as k:
        mallory = pjsua("mallory", f"--registrar={k.uri}", "--id=sip:mallory@127.0.0.1", "--realm=*",
                        "--username=mallory", "--password=guess")  # fmt: skip
        reg = _registration(mallory)
        assert reg.kind is EventKind.REG_FAILED and reg.code in (401, 403), reg.line
        stop_all([mallory])
        log = k.log_text()
    assert "REGISTER of mallory: wrong password" in log
    assert "REGISTER of mallory saved" not in log


@needs_kamailio
@pytest.mark.integration
def test_without_password_registration_needs_no_credentials(tmp_path, pjsua):
    with Kamailio(KamailioConfig(tmp_path / "kam")) as k:
        bob = pjsua("bob", f"--registrar={k.uri}", "--id=sip:bob@127.0.0.1")
        assert _registration(bob).kind is EventKind.REG_OK
        stop_all([bob])
    assert "REGISTER of bob saved" in k.log_text()


def _cmdlines_and_environ(pgid: int) -> list[tuple[bytes, bytes]]:
    """Command line and environment of every process in the group ``pgid`` (what ps shows)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if os.getpgid(int(d.name)) != pgid:
                continue
            out.append(((d / "cmdline").read_bytes(), (d / "environ").read_bytes()))
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
    return out


@needs_kamailio
@pytest.mark.integration
def test_password_is_not_on_any_command_line(tmp_path):
    secret = "n0t-in-ps.X7"
    with start_kamailio(tmp_path / "kam", password=secret) as k:
        procs = _cmdlines_and_environ(k.pid)
        assert procs, "kamailio's process group is empty"
        assert all(secret.encode() not in cmd for cmd, _ in procs)
        assert any(f"CALLGEN_KAMAILIO_PASSWORD={secret}".encode() in env for _, env in procs)
    assert secret.encode() not in b" ".join(Path(f"/proc/{os.getpid()}/environ").read_bytes().split(b"\0"))


def test_kamailio_variable_is_an_address_never_the_binary(monkeypatch, tmp_path):
    """KAMAILIO=host:port names the system under test (scenarios, with-kamailio); the
    binary is found on PATH or named by CALLGEN_KAMAILIO_BIN, never taken from KAMAILIO."""
    from callgen.sut.kamailio import BINARY_ENV, find_kamailio

    fake = tmp_path / "kamailio"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("KAMAILIO", "127.0.0.1:5060")
    monkeypatch.delenv(BINARY_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_kamailio() == fake
    monkeypatch.setenv(BINARY_ENV, str(fake))
    monkeypatch.setenv("PATH", "/nonexistent")
    assert find_kamailio() == fake
    monkeypatch.setenv(BINARY_ENV, str(tmp_path / "missing"))
    with pytest.raises(InfrastructureError, match=BINARY_ENV):
        find_kamailio()
