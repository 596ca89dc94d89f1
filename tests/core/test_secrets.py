"""Secrets: a rejected password is never echoed on the terminal, and the files of a run
folder that can hold one (pjsua logs and transcripts with the digest exchange and SDES
keys, configs, Kamailio's and SIPp's logs, the capture) are readable by their owner only."""

from __future__ import annotations

import pytest

AGENT = """\
name: t
agents:
  alice:
    role: caller
    register: {registrar: "sip:127.0.0.1:5060", password: PASSWORD}
  bob:
    role: callee
calls:
  - from: alice
    to: bob
"""

LOCAL = """\
name: t
targets:
  K:
    local: {kind: kamailio, password: PASSWORD}
agents:
  alice:
    role: caller
  bob:
    role: callee
calls:
  - from: alice
    to: bob
"""


@pytest.mark.parametrize("text", [AGENT, LOCAL], ids=["agent", "local-kamailio"])
@pytest.mark.parametrize("value, env", [
    ('"${PW}"', "hunter2 with space"),  # from the environment: the file does not hold it
    ('"hunter2 with space"', None),
    ("1234567890", None),
], ids=["env", "literal", "number"])
def test_a_rejected_password_is_not_echoed(cli, write_yaml, monkeypatch, text, value, env):
    if env is not None:
        monkeypatch.setenv("PW", env)
    f = write_yaml(text.replace("PASSWORD", value))
    r = cli("validate", str(f))
    assert r.status == 2
    shown = r.out + r.err
    assert "hunter2" not in shown and "1234567890" not in shown, shown
    assert "password" in shown and f"{f}:" in shown, shown
