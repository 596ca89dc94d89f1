"""The CLI called in-process: exit statuses and one-line errors."""

from __future__ import annotations

import pytest

from tests.conftest import SCENARIOS

BAD = "name: t\nagents:\n  alice:\n    role: caller\n  bob:\n    role: callee\n    answr: 200\ncalls:\n  - from: alice\n    to: bob\n"


def test_validate_ok(cli):
    r = cli("validate", str(SCENARIOS / "basic_call.yaml"), str(SCENARIOS / "busy.yaml"))
    assert r.status == 0
    assert r.out.count(": ok") == 2


def test_validate_misspelled_key_one_line_exit_2(cli, write_yaml):
    f = write_yaml(BAD, "x.yaml")
    r = cli("validate", str(f))
    assert r.status == 2
    first = r.err.splitlines()[0]
    assert first.startswith("callgen: error: ")  # the same form as every other bad input
    assert first.endswith("x.yaml:7: agents.bob.answr: unknown key 'answr' (did you mean 'answer'?)")
    assert "Traceback" not in r.err


def test_run_invalid_scenario_exits_2_before_anything_runs(cli, write_yaml, tmp_path):
    f = write_yaml(BAD, "x.yaml")
    out = tmp_path / "out"
    r = cli("run", str(f), "-o", str(out))
    assert r.status == 2
    assert "x.yaml:7: agents.bob.answr" in r.err
    assert not any(out.glob("*/capture.pcap"))


def test_render_writes_one_config_per_agent(cli, tmp_path):
    r = cli("render", str(SCENARIOS / "basic_call.yaml"), "-o", str(tmp_path))
    assert r.status == 0
    assert sorted(p.name for p in tmp_path.glob("*.cfg")) == ["alice.cfg", "bob.cfg"]
    assert "--auto-answer=200" in (tmp_path / "bob.cfg").read_text()


@pytest.mark.integration  # runs the real pjsua (its version and codecs)
def test_doctor_reports_tools(cli):
    r = cli("doctor")
    assert r.status == 0, r.out
    assert "pjsua" in r.out and "tcpdump" in r.out and "PCMA/8000" in r.out


def test_doctor_missing_pjsua_exit_1_with_hint(cli):
    r = cli("doctor", "--pjsua", "/nonexistent/pjsua")
    assert r.status == 1
    assert "MISS" in r.out and "make setup" in r.out


def test_unknown_command_is_usage_error(cli):
    assert cli("frobnicate").status == 2


def _listed(cli, *extra):
    r = cli("run", str(SCENARIOS), "--list", *extra)
    assert r.status == 0, r.err
    return [line.split()[0] for line in r.out.splitlines() if line.strip() and not line.startswith("shard")]


def test_list_shows_every_scenario_and_runs_nothing(cli):
    names = _listed(cli)
    assert {"basic_call", "busy"} <= set(names)


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_cover_the_library_exactly_once(cli, count, monkeypatch):
    everything = _listed(cli)
    seen = []
    for i in range(count):
        seen += _listed(cli, "--shard", f"{i}/{count}")
    assert sorted(seen) == sorted(everything)
    # the same through an Indexed Job's environment
    seen_env = []
    for i in range(count):
        monkeypatch.setenv("JOB_COMPLETION_INDEX", str(i))
        monkeypatch.setenv("CALLGEN_SHARDS", str(count))
        seen_env += _listed(cli, "--shard-from-env")
    assert sorted(seen_env) == sorted(everything)


def test_bad_shard_is_usage_error(cli):
    r = cli("run", str(SCENARIOS), "--shard", "2/2")
    assert r.status == 2 and "--shard" in r.err


@pytest.mark.integration  # asks the real pjsua for its codecs
def test_unknown_codec_is_refused_before_anything_runs(cli, write_yaml, tmp_path):
    f = write_yaml(BAD.replace("    answr: 200\n", "    codecs: [PCMA, G729]\n"), "c.yaml")
    r = cli("run", str(f), "-o", str(tmp_path / "out"))
    assert r.status == 2, r.out + r.err
    assert "c.yaml:7: agents.bob.codecs[1]: codec 'G729' is not in this pjsua (it has" in r.err
    assert "PCMA" in r.err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("capture.pcap"))


def test_render_writes_configs_with_the_password_owner_only(cli, write_yaml, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    stale = out / "alice.cfg"
    stale.write_text("old\n")
    stale.chmod(0o644)  # a config left from before must not keep its mode
    f = write_yaml("name: t\nagents:\n  alice:\n    role: caller\n    register: {registrar: 'sip:127.0.0.1:5060', password: s3cret}\n"
                   "  bob: {role: callee}\ncalls: [{from: alice, to: bob}]\n")
    r = cli("render", str(f), "-o", str(out))
    assert r.status == 0, r.err
    for cfg in (out / "alice.cfg", out / "bob.cfg"):
        assert cfg.stat().st_mode & 0o777 == 0o600
    assert "--password=s3cret" in (out / "alice.cfg").read_text()


@pytest.mark.parametrize("binary, problem", [
    ("/bin/false", "'--version' printed no pjproject version"),
    ("/bin/true", "'--version' printed no pjproject version"),
    ("version-only", "it started but listed no audio codecs"),
])
def test_doctor_proves_pjsua_works_before_saying_ok(cli, tmp_path, binary, problem):
    if binary == "version-only":  # prints a version, then exits instead of offering its menu
        fake = tmp_path / "pjsua"
        fake.write_text("#!/bin/sh\necho 'PJ_VERSION                : 2.17'\n")
        fake.chmod(0o755)
        binary = str(fake)
    r = cli("doctor", "--pjsua", binary)
    assert r.status == 1
    first = r.out.splitlines()[0]
    assert first.startswith("[MISS] pjsua") and f"{binary} does not work: {problem}" in first
    assert "codecs:" not in r.out


def test_unexpected_errors_are_one_line_and_traceback_only_with_debug(cli, monkeypatch, tmp_path):
    import callgen.cli.core as cmd_core

    def boom(args, io):
        raise RuntimeError("something unforeseen")

    monkeypatch.setattr(cmd_core, "_validate", boom)
    r = cli("validate", "x.yaml")
    assert r.status == 3
    assert r.err.strip() == ("callgen: error: internal error: RuntimeError: something unforeseen "
                             "(run with --debug for the traceback)")
    r = cli("--debug", "validate", "x.yaml")
    assert r.status == 3 and "Traceback (most recent call last)" in r.err


def test_os_errors_name_the_file_and_exit_3(cli, monkeypatch):
    import errno

    import callgen.cli.core as cmd_core

    def full(args, io):
        raise OSError(errno.ENOSPC, "No space left on device", "/tmp/out/report.json")

    monkeypatch.setattr(cmd_core, "_validate", full)
    r = cli("validate", "x.yaml")
    assert r.status == 3
    assert r.err.strip() == "callgen: error: /tmp/out/report.json: No space left on device"
