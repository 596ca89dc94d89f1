"""Loading is parse (the file: YAML, limits, line numbers) then bind (variables,
targets, schema, model).  A run with a local system binds the parsed file again
with the system's address: it does not read the file a second time, and targets
resolved once are not looked up again."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from callgen.run import runner
from callgen.run.localsut import LocalSystems
from callgen.run.runner import RunOptions, execute
from callgen.scenario.loader import bind_scenario, load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]

LOCAL = """\
name: local_and_remote
targets:
  KAMAILIO: {local: {kind: kamailio, password: pw}}
  EDGE: {address: "127.0.0.1:5999"}
agents:
  alice:
    role: caller
    register: {registrar: "sip:${KAMAILIO}", password: pw}
  bob:
    role: callee
calls:
  - from: alice
    to: sip:bob@${EDGE}
"""


def test_bind_reads_no_file(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(LOCAL)
    parsed = parse_scenario(f)
    f.unlink()
    s = bind_scenario(parsed, environ={}, targets={"KAMAILIO": "127.0.0.1:7000"})
    assert s.agent("alice").register.registrar == "sip:127.0.0.1:7000"
    assert s.local_targets == ()  # given: not started again
    assert s.calls[0].uri == "sip:bob@127.0.0.1:5999"


def test_binding_twice_leaves_the_parsed_document_as_read(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(LOCAL)
    parsed = parse_scenario(f)
    first = bind_scenario(parsed, environ={})
    assert first.agent("alice").register.registrar == "sip:127.0.0.1:5060"  # the local placeholder
    again = bind_scenario(parsed, environ={}, targets={"KAMAILIO": "127.0.0.1:7001"})
    assert again.agent("alice").register.registrar == "sip:127.0.0.1:7001"
    assert parsed.document["agents"]["alice"]["register"]["registrar"] == "sip:${KAMAILIO}"


def test_load_is_parse_then_bind(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(LOCAL)
    s = load_scenario(f, environ={})
    assert s == bind_scenario(parse_scenario(f), environ={})
    assert [t.name for t in s.local_targets] == ["KAMAILIO"]
    assert dict(s.resolved_targets) == {"KAMAILIO": "127.0.0.1:5060", "EDGE": "127.0.0.1:5999"}


def test_run_binds_the_local_address_without_reading_the_file_again(tmp_path, monkeypatch):
    f = tmp_path / "s.yaml"
    f.write_text(LOCAL)
    lookups = []

    def resolver(name, spec):
        lookups.append(name)
        return str(spec.get("address", "127.0.0.1:5060"))

    scenario = load_scenario(f, environ={}, resolver=resolver)
    f.write_text("name: [this file changed during the run")  # a re-read would fail

    class Started:  # a local Kamailio that listens on 127.0.0.1:7002 and keeps running
        address, port = "127.0.0.1", 7002

        def exit_problem(self) -> str:
            return ""

    @contextlib.contextmanager
    def started(sc, run_dir):
        systems = LocalSystems()
        systems.add("KAMAILIO", Started())
        yield systems

    seen = {}

    def stop_before_processes(plan, pjsua, options, t0, **kw):
        seen["scenario"] = plan.scenario
        return "stopped"

    monkeypatch.setattr(runner, "local_systems", started)
    monkeypatch.setattr(runner, "_execute_plan", stop_before_processes)
    monkeypatch.setattr(runner, "find_pjsua", lambda explicit=None: "/bin/true")
    monkeypatch.setattr("callgen.scenario.loader.resolve_target",
                        lambda name, spec: pytest.fail(f"target {name} looked up again"))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert execute(scenario, run_dir, RunOptions(out_dir=tmp_path)) == "stopped"
    bound = seen["scenario"]
    assert bound.agent("alice").register.registrar == "sip:127.0.0.1:7002"
    assert bound.calls[0].uri == "sip:bob@127.0.0.1:5999"
    assert lookups == ["KAMAILIO", "EDGE"]  # once, at load
