"""The port lock folder is per user and checked: $XDG_RUNTIME_DIR/callgen-port-locks, else
a 0700 folder of our own under the temp dir (before: a fixed /tmp/callgen-port-locks that
root created 0755 with 0644 files, so a non-root run failed with PermissionError, and any
user could plant a link or hog the locks)."""

from __future__ import annotations

import os
import stat
import tempfile

import pytest

from callgen.errors import InfrastructureError
from callgen.run import ports


@pytest.fixture
def tmp_base(tmp_path, monkeypatch):
    monkeypatch.delenv("CALLGEN_PORT_LOCKS", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_lock_folder_is_in_the_users_runtime_dir(tmp_base, monkeypatch):
    runtime = tmp_base / "run-user"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    with ports.acquire_block([0]) as block:
        assert (runtime / "callgen-port-locks" / f"{block.base}.lock").is_file()
    assert stat.S_IMODE((runtime / "callgen-port-locks").stat().st_mode) == 0o700


def test_lock_folder_without_runtime_dir_is_private_and_per_user(tmp_base):
    with ports.acquire_block([0]) as block:
        d = tmp_base / f"callgen-port-locks-{os.getuid()}"
        lock = d / f"{block.base}.lock"
        assert lock.is_file()
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_a_planted_link_is_refused(tmp_base):
    elsewhere = tmp_base / "elsewhere"
    elsewhere.mkdir()
    (tmp_base / f"callgen-port-locks-{os.getuid()}").symlink_to(elsewhere)
    with pytest.raises(InfrastructureError, match="is a symbolic link"):
        ports.acquire_block([0])
    assert not any(elsewhere.iterdir())


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_folder_of_another_user_is_refused(tmp_base):
    d = tmp_base / f"callgen-port-locks-{os.getuid()}"
    d.mkdir(mode=0o700)
    os.chown(d, 65534, 65534)
    with pytest.raises(InfrastructureError, match="belongs to uid 65534"):
        ports.acquire_block([0])


def test_a_folder_others_can_write_is_made_private(tmp_base):
    d = tmp_base / f"callgen-port-locks-{os.getuid()}"
    d.mkdir()
    d.chmod(0o777)
    with ports.acquire_block([0]):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
