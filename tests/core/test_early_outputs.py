"""``run`` checks its output folder and report paths before anything runs:
exit 2 when the argument is wrong, 3 when the system refuses; one line, no
traceback.  Faults are real: files where folders should be, and an immutable
folder (chattr +i), which refuses writes even to root."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import SCENARIOS

SCENARIO = str(SCENARIOS / "basic_call.yaml")


@pytest.fixture
def immutable_dir(tmp_path):
    d = tmp_path / "locked"
    d.mkdir()
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(d)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here")
    try:
        yield d
    finally:
        subprocess.run(["chattr", "-i", str(d)], check=True)


@pytest.fixture
def no_pjsua(monkeypatch, tmp_path):
    """If anything started despite the bad arguments, it would fail on pjsua, not on the output."""
    monkeypatch.setenv("PJSUA", str(tmp_path / "no-such-pjsua"))


def _one_line(r) -> str:
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.err, r.err
    return lines[0]


def test_out_is_a_file(cli, tmp_path, no_pjsua):
    f = tmp_path / "f"
    f.write_text("x")
    r = cli("run", SCENARIO, "-o", str(f))
    assert r.status == 2
    assert _one_line(r) == f"callgen: error: --out {f}: is a file, not a folder"


def test_out_under_a_file(cli, tmp_path, no_pjsua):
    f = tmp_path / "f"
    f.write_text("x")
    r = cli("run", SCENARIO, "-o", str(f / "sub"))
    assert r.status == 2
    assert _one_line(r) == f"callgen: error: --out {f / 'sub'}: a parent of it is a file, not a folder"


def test_out_not_writable(cli, immutable_dir, no_pjsua):
    r = cli("run", SCENARIO, "-o", str(immutable_dir))
    assert r.status == 3
    assert _one_line(r).startswith(f"callgen: error: --out {immutable_dir}/.callgen-write-probe: cannot write: ")


def test_out_cannot_be_created(cli, immutable_dir, no_pjsua):
    r = cli("run", SCENARIO, "-o", str(immutable_dir / "new"))
    assert r.status == 3
    assert _one_line(r).startswith(f"callgen: error: --out {immutable_dir / 'new'}: cannot create the folder: ")


def test_junit_is_a_folder(cli, tmp_path, no_pjsua):
    r = cli("run", SCENARIO, "-o", str(tmp_path / "out"), "--junit", str(tmp_path))
    assert r.status == 2
    assert _one_line(r) == f"callgen: error: --junit {tmp_path}: is a folder, not a file"
    assert not any((tmp_path / "out").iterdir())  # nothing ran


def test_junit_not_writable(cli, tmp_path, immutable_dir, no_pjsua):
    r = cli("run", SCENARIO, "-o", str(tmp_path / "out"), "--junit", str(immutable_dir / "j.xml"))
    assert r.status == 3
    assert _one_line(r).startswith(f"callgen: error: --junit {immutable_dir / 'j.xml'}: cannot write: ")
    assert not any((tmp_path / "out").iterdir())


def test_json_under_a_file(cli, tmp_path, no_pjsua):
    f = tmp_path / "f"
    f.write_text("x")
    r = cli("run", SCENARIO, "-o", str(tmp_path / "out"), "--json", str(f / "r.json"))
    assert r.status == 2
    assert _one_line(r) == f"callgen: error: --json {f}: is a file, not a folder"


def test_good_report_paths_leave_no_probe_files(tmp_path):
    from callgen.reports.command import check_outputs

    check_outputs(tmp_path / "out", junit=tmp_path / "r" / "j.xml", json_path=tmp_path / "r.json")
    assert (tmp_path / "out").is_dir() and not any((tmp_path / "out").iterdir())
    assert not (tmp_path / "r" / "j.xml").exists() and not (tmp_path / "r.json").exists()


def test_render_output_is_a_file(cli, tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    r = cli("render", SCENARIO, "-o", str(f))
    assert r.status == 2
    assert _one_line(r) == f"callgen: error: -o {f}: is a file, not a folder"


def test_with_kamailio_workdir_under_a_file(cli, tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    r = cli("with-kamailio", "--workdir", str(f / "k"), "--", "true")
    assert r.status == 2
    assert _one_line(r) == f"callgen: error: --workdir {f / 'k'}: a parent of it is a file, not a folder"
