"""``targets.X.local.port``: a local Kamailio on a fixed port."""

from __future__ import annotations

import pytest

from callgen.run.localsut import local_systems
from callgen.scenario.loader import load_scenario
from callgen.sut.ports import free_port

SCENARIO = """\
name: t
targets:
  KAM:
    local: {{kind: kamailio, password: s3cret{port}}}
agents:
  alice:
    role: caller
    register: {{registrar: 'sip:${{KAM}}', password: s3cret}}
  bob: {{role: callee}}
calls:
  - from: alice
    to: bob
"""


def test_fixed_port_reaches_the_model(write_yaml):
    s = load_scenario(write_yaml(SCENARIO.format(port=", port: 5999")))
    (t,) = s.local_targets
    assert (t.name, t.kind, t.port) == ("KAM", "kamailio", 5999)
    s = load_scenario(write_yaml(SCENARIO.format(port="")))
    assert s.local_targets[0].port is None


def test_port_out_of_range_is_refused(write_yaml, cli):
    r = cli("validate", str(write_yaml(SCENARIO.format(port=", port: 80"))))
    assert r.status == 2 and "targets.KAM.local.port: 80 is less than the minimum of 1024" in r.err


@pytest.mark.integration
@pytest.mark.tool("kamailio")
def test_local_kamailio_listens_on_the_fixed_port(write_yaml, tmp_path):
    port = free_port("127.0.0.1")
    s = load_scenario(write_yaml(SCENARIO.format(port=f", port: {port}")))
    with local_systems(s, tmp_path) as systems:
        assert systems == {"KAM": ("127.0.0.1", port)}
        log = (tmp_path / "kam-kamailio" / "kamailio.log").read_text(errors="replace")
    assert f"127.0.0.1:{port}" in log or f"[127.0.0.1]:{port}" in log
