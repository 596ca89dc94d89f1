"""A local Kamailio target: reports show the address it really listened on (issue #9
item 7), not the placeholder the scenario file was first validated with."""

from __future__ import annotations

import json
import re

from tests.conftest import SCENARIOS


def test_reports_show_the_local_kamailio_real_address(cli, tmp_path, pjsua_bin):
    r = cli("run", str(SCENARIOS / "register_and_call.yaml"), "-o", str(tmp_path))
    assert r.status == 0, r.out + r.err
    run = tmp_path / "register_and_call"
    port = re.search(r"^--registrar=sip:127\.0\.0\.1:(\d+)$", (run / "alice.cfg").read_text(), re.M)[1]
    result = json.loads((run / "result.json").read_text())
    assert result["ladder"][0].startswith(f"call1 alice -> sip:bob@127.0.0.1:{port} "), result["ladder"][0]
    for page in ("summary.md", "index.html"):
        text = (tmp_path / page).read_text()
        assert f"sip:bob@127.0.0.1:{port}" in text, page
        assert "127.0.0.1:5060" not in text, page


CALL_THROUGH_LOCAL = """\
name: local_sut_dies
timeout: 30
targets:
  KAMAILIO:
    local: {kind: kamailio, password: local-only-secret}
agents:
  alice:
    role: caller
    address: 127.0.0.13
    register: {registrar: "sip:${KAMAILIO}", password: local-only-secret}
    proxy: "sip:${KAMAILIO};lr"
  bob:
    role: callee
    address: 127.0.0.13
    register: {registrar: "sip:${KAMAILIO}", password: local-only-secret}
    proxy: "sip:${KAMAILIO};lr"
calls:
  - from: alice
    to: "sip:bob@${KAMAILIO}"
    steps:
      - wait: confirmed
      - pause: 3
      - hangup: alice
      - wait: disconnected
    expect:
      final_code: 200
"""


def test_the_local_kamailio_stopped_mid_call_is_an_infrastructure_error_naming_it(cli, tmp_path, pjsua_bin):
    """Before: exit 1, the BYE that found no proxy failing the checks as if the SUT had misbehaved."""
    import signal

    from tests.integration.test_sbc_load import kill_kamailio_when

    f = tmp_path / "dies.yaml"
    f.write_text(CALL_THROUGH_LOCAL)
    run = tmp_path / "out" / "local_sut_dies"
    killer = kill_kamailio_when(run, "kamailio-kamailio/kamailio.log", "in-dialog ACK routed", 1, signal.SIGTERM)
    r = cli("run", str(f), "-o", str(tmp_path / "out"))
    killer["thread"].join(5)
    assert "pid" in killer, "the call never got through the run's Kamailio"
    assert r.status == 3, r.out + r.err
    want = "local sut KAMAILIO: kamailio exited with status 0 before callgen stopped it"
    result = json.loads((run / "result.json").read_text())
    assert result["verdict"] == "error" and want in result["error"], result["error"]
