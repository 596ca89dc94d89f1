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
