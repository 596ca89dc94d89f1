"""A SIP port another process holds (issue 25: `port: auto` beside another test suite): the
error names the agent, the port and pjsua's own cause, ``bind() error: Address already in
use``, instead of "pjsua exited while waiting for pjsua ready" alone.  Real pjsua, a real
socket holding the port; pjsua prints 40+ lines of teardown after the cause, which hid it."""

from __future__ import annotations

import socket

import pytest

from callgen.errors import InfrastructureError
from callgen.pjsua.driver import PjsuaAgent, loopback_argv, stop_all

pytestmark = [pytest.mark.tool("pjsua")]


def _clash(tmp_path, pjsua_bin, *extra: str) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        log = tmp_path / "bob.pjsua.log"
        agent = PjsuaAgent("bob", loopback_argv(pjsua_bin, f"--local-port={port}", "--no-tcp", f"--log-file={log}",
                                                "--log-level=5", *extra),
                           tmp_path / "bob.transcript.txt", cwd=tmp_path, log_file=log, sip_bind=f"127.0.0.1:{port}")
        try:
            with pytest.raises(InfrastructureError) as err:
                agent.start(timeout=10)
        finally:
            stop_all([agent])
        assert "bind() error: Address already in use" in log.read_text()
        return str(err.value).replace(str(port), "PORT")


def test_taken_sip_port_names_agent_port_and_cause(tmp_path, pjsua_bin):
    message = _clash(tmp_path, pjsua_bin, "--app-log-level=4")
    assert message.startswith("agent bob: pjsua exited while waiting for pjsua ready")
    assert "bind() error: Address already in use" in message
    assert "its SIP port 127.0.0.1:PORT is held by another process" in message


def test_cause_is_read_from_the_pjsua_log_when_the_console_is_quiet(tmp_path, pjsua_bin):
    message = _clash(tmp_path, pjsua_bin, "--app-log-level=0")
    assert "bob.pjsua.log: bind() error: Address already in use" in message
    assert "its SIP port 127.0.0.1:PORT is held by another process" in message


def test_a_run_whose_auto_port_is_taken_in_between_names_agent_port_and_cause(cli, tmp_path, pjsua_bin, monkeypatch):
    """`port: auto` test-binds the block's ports, but another program may bind one before pjsua
    does: that race is made certain here by binding bob's SIP port right after the block is
    chosen (the only thing patched: when the other program comes). Exit 3, the agent, the port
    and pjsua's cause, instead of "pjsua exited while waiting for pjsua ready" alone."""
    import json

    from callgen.run import runner
    from callgen.run.plan import SIP_STRIDE

    real = runner.acquire_block
    held: list[socket.socket] = []

    def block_then_clash(*args, **kwargs):
        block = real(*args, **kwargs)
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other.bind(("127.0.0.1", block.base + SIP_STRIDE * 1))  # bob is the second agent
        held.append(other)
        return block

    monkeypatch.setattr(runner, "acquire_block", block_then_clash)
    scenario = tmp_path / "clash.yaml"
    scenario.write_text("""name: clash
agents:
  alice: {role: caller}
  bob: {role: callee}
calls:
  - {from: alice, to: bob}
""")
    try:
        r = cli("run", str(scenario), "-o", str(tmp_path / "out"))
        port = held[0].getsockname()[1]
    finally:
        for s in held:
            s.close()
    assert r.status == 3, r.out + r.err
    error = json.loads((tmp_path / "out" / "clash" / "result.json").read_text())["error"]
    assert error.startswith("agent bob: pjsua exited while waiting for pjsua ready"), error
    assert "bind() error: Address already in use" in error
    assert f"its SIP port 127.0.0.1:{port} is held by another process" in error, error
    assert "bind() error" in r.out + r.err
