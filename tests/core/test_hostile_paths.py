"""Report and output paths that are not callgen's to replace: refused before anything
runs (exit 2, one line naming the option and the path), never followed, never hung on.
Before: a report was renamed over a device node or a symlink, and a FIFO hung forever."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys

import pytest

from tests.conftest import SCENARIOS
from tests.core.test_early_outputs import _one_line, no_pjsua  # noqa: F401 - fixture

SCENARIO = str(SCENARIOS / "basic_call.yaml")


@pytest.fixture
def unix_socket(tmp_path):
    path = tmp_path / "sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    yield path
    s.close()


@pytest.mark.parametrize("option", ["--junit", "--json"])
def test_report_on_a_fifo_is_refused_without_hanging(tmp_path, option):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    env = {**os.environ, "PJSUA": str(tmp_path / "no-such-pjsua")}
    p = subprocess.run([sys.executable, "-m", "callgen", "run", SCENARIO, "-o", str(tmp_path / "out"), option, str(fifo)],
                       capture_output=True, text=True, timeout=30, env=env)
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip() == f"callgen: error: {option} {fifo}: is a FIFO, not a regular file"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize("option", ["--junit", "--json"])
def test_report_on_a_socket_is_refused(cli, tmp_path, unix_socket, option, no_pjsua):  # noqa: F811
    r = cli("run", SCENARIO, "-o", str(tmp_path / "out"), option, str(unix_socket))
    assert r.status == 2
    assert _one_line(r) == f"callgen: error: {option} {unix_socket}: is a socket, not a regular file"
    assert stat.S_ISSOCK(os.lstat(unix_socket).st_mode)


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a device node needs root")
def test_report_on_a_device_node_is_refused(cli, tmp_path, no_pjsua):  # noqa: F811
    dev = tmp_path / "full"  # a copy of /dev/full: the real one must never be at stake in a test
    os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    r = cli("run", SCENARIO, "-o", str(tmp_path / "out"), "--junit", str(dev))
    assert r.status == 2
    assert _one_line(r) == f"callgen: error: --junit {dev}: is a character device, not a regular file"
    assert stat.S_ISCHR(os.lstat(dev).st_mode)


@pytest.mark.parametrize("option", ["--junit", "--json"])
def test_report_on_a_symlink_is_refused_and_its_target_untouched(cli, tmp_path, option, no_pjsua):  # noqa: F811
    target = tmp_path / "precious.txt"
    target.write_text("not callgen's\n")
    link = tmp_path / "report"
    link.symlink_to(target)
    r = cli("run", SCENARIO, "-o", str(tmp_path / "out"), option, str(link))
    assert r.status == 2
    assert _one_line(r) == (f"callgen: error: {option} {link}: is a symbolic link; "
                            "give the path of a regular file (callgen does not follow links)")
    assert link.is_symlink() and target.read_text() == "not callgen's\n"


def test_merge_output_on_a_fifo_is_refused(tmp_path):
    fifo = tmp_path / "merged.xml"
    os.mkfifo(fifo)
    shard = tmp_path / "a.xml"
    shard.write_text('<?xml version="1.0"?><testsuites><testsuite name="callgen" tests="0"/></testsuites>')
    p = subprocess.run([sys.executable, "-m", "callgen", "merge-reports", "-o", str(fifo), str(shard)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip() == f"callgen: error: -o {fifo}: is a FIFO, not a regular file"


def test_write_atomic_never_replaces_what_is_not_a_regular_file(tmp_path):
    """The last line of defence: a path that became a FIFO or a link after the checks."""
    from callgen.fileio import OutputError, write_atomic

    fifo = tmp_path / "r.xml"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="is a FIFO, not a regular file"):
        write_atomic(fifo, "x")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    link = tmp_path / "l.json"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OutputError, match="is a symbolic link"):
        write_atomic(link, "x")
    assert link.is_symlink() and not (tmp_path / "elsewhere").exists()


def test_write_atomic_does_not_follow_a_link_planted_at_its_temporary_name(tmp_path):
    from callgen.fileio import write_atomic

    victim = tmp_path / "victim"
    victim.write_text("keep")
    target = tmp_path / "r.json"
    (tmp_path / f".r.json.{os.getpid()}.tmp").symlink_to(victim)
    write_atomic(target, "report")
    assert target.read_text() == "report" and victim.read_text() == "keep"


def test_out_that_is_a_symlink_is_refused(cli, tmp_path, no_pjsua):  # noqa: F811
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "index.html").write_text("someone else's page")
    link = tmp_path / "out"
    link.symlink_to(elsewhere)
    r = cli("run", SCENARIO, "-o", str(link))
    assert r.status == 2
    assert _one_line(r) == (f"callgen: error: --out {link}: is a symbolic link; "
                            "give a real folder (callgen does not follow links)")
    assert sorted(p.name for p in elsewhere.iterdir()) == ["index.html"]
    assert (elsewhere / "index.html").read_text() == "someone else's page"


def test_out_that_is_a_folder_of_someone_elses_files_is_refused(cli, tmp_path, no_pjsua):  # noqa: F811
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "summary.md").write_text("their notes")
    r = cli("run", SCENARIO, "-o", str(theirs))
    assert r.status == 2
    assert _one_line(r) == (f"callgen: error: --out {theirs}: is a folder with files that are not callgen's "
                            "(no .callgen-output marker); give a new or empty folder")
    assert sorted(p.name for p in theirs.iterdir()) == ["summary.md"]


def test_out_that_is_callgens_own_or_empty_is_used(cli, tmp_path, no_pjsua):  # noqa: F811
    empty = tmp_path / "empty"
    empty.mkdir()
    first = cli("run", SCENARIO, "-o", str(empty))
    assert first.status == 3, first.err  # no pjsua: the run itself fails, the folder was taken
    assert (empty / ".callgen-output").is_file() and (empty / "index.html").is_file()
    again = cli("run", SCENARIO, "-o", str(empty))  # callgen's own folder: an earlier run's
    assert again.status == 3, again.err
