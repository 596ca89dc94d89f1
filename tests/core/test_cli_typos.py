"""Typos on the command line: a close subcommand or option is suggested, and an option
typo shows the usage of the subcommand it was typed for, not the top-level one."""

from __future__ import annotations

from pathlib import Path

import pytest

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def test_mistyped_subcommand_suggests_the_close_one(cli, capsys):
    assert cli("rn", str(SCENARIOS)).status == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'rn'" in err and "(did you mean 'run'?)" in err


def test_mistyped_flag_suggests_and_shows_the_subcommands_usage(cli, capsys):
    assert cli("run", "--junt", "j.xml", str(SCENARIOS)).status == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: callgen run ")
    assert "callgen run: error: unrecognized arguments: --junt" in err and "(did you mean --junit?)" in err


@pytest.mark.parametrize("argv, usage, hint", [
    (("validate", "--pjusa", "x"), "usage: callgen validate ", None),
    (("history", "report", "--txt"), "usage: callgen history report ", "--text"),
    (("merge-reports", "-o", "m.xml", "a.xml", "--histroy", "h.sqlite"), "usage: callgen merge-reports ", "--history"),
])
def test_nested_subcommands_get_their_own_usage(cli, capsys, argv, usage, hint):
    assert cli(*argv).status == 2
    err = capsys.readouterr().err
    assert err.startswith(usage), err
    if hint:
        assert f"(did you mean {hint}?)" in err
    else:
        assert "did you mean" not in err


def test_nothing_close_suggests_nothing(cli, capsys):
    assert cli("zzzzzz").status == 2
    assert "did you mean" not in capsys.readouterr().err


def test_validate_accepts_a_folder_like_run(cli):
    r = cli("validate", str(SCENARIOS))
    assert r.status == 0, r.err
    listed = sorted(line.split(": ok")[0] for line in r.out.splitlines())
    run = cli("run", str(SCENARIOS), "--list")
    assert len(listed) == len(run.out.strip().splitlines()) > 5
    assert all(line.endswith((".yaml", ".yml")) for line in listed)


def test_validate_folder_reports_each_bad_file_and_exits_2(cli, tmp_path):
    (tmp_path / "good.yaml").write_text((SCENARIOS / "basic_call.yaml").read_text())
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bad.yaml").write_text("name: x\nagents: {}\ncalls: []\nbogus: 1\n")
    r = cli("validate", str(tmp_path))
    assert r.status == 2
    assert "good.yaml: ok" in r.out and "bad.yaml" in r.err
    empty = tmp_path / "empty"
    empty.mkdir()
    r = cli("validate", str(empty))
    assert r.status == 2 and r.err.strip() == f"callgen: error: {empty}: no scenario file found in the folder"
