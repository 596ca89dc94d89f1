"""make setup applies callgen's pjsua patch series (scripts/pjsua-patches) to the pjproject
tree before configure, in order, and rebuilds when config_site.h or any patch changes (issue 22).
Run against the pjproject source make setup fetched (or PJPROJECT_TARBALL)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOUCHED = ("pjsip-apps/src/pjsua/", "pjmedia/src/pjmedia/stream_imp_common.c", "pjmedia/src/pjmedia/transport_srtp_dtls.c")


def _tarball() -> Path:
    given = os.environ.get("PJPROJECT_TARBALL")
    found = [given] if given else glob.glob(str(ROOT / ".build/apt-sid/src/*.orig-*pjproject.tar.*"))
    if not found or not Path(found[0]).is_file():
        pytest.skip("no pjproject source (make setup fetches it)")
    return Path(found[0])


@pytest.fixture
def root(tmp_path) -> Path:
    """A copy of the scripts the set-up needs, so the test changes no file of the repository."""
    (tmp_path / "scripts").mkdir()
    for name in ("setup.sh", "pjsua-config_site.h"):
        shutil.copy(ROOT / "scripts" / name, tmp_path / "scripts" / name)
    shutil.copytree(ROOT / "scripts" / "pjsua-patches", tmp_path / "scripts" / "pjsua-patches")
    return tmp_path


def _setup(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(root / "scripts" / "setup.sh"), *args], capture_output=True, text=True, timeout=120)


def _unpack(dest: Path) -> Path:
    """Only what the patches touch (the whole tree is 7 MB of xz)."""
    dest.mkdir()
    with tarfile.open(_tarball()) as tf:
        top = tf.next().name.split("/")[0]
    subprocess.run(["tar", "-xf", str(_tarball()), "-C", str(dest), "--strip-components=1",
                    *(f"{top}/{t.rstrip('/')}" for t in TOUCHED)], check=True, capture_output=True)
    return dest


def test_the_series_applies_in_order_to_the_fetched_source(root):
    src = _unpack(root / "src")
    r = _setup(root, "apply-patches", str(src), str(root / "patch.log"))
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in (root / "scripts" / "pjsua-patches").glob("*.patch"))
    assert [line.split()[-1] for line in r.stderr.splitlines() if "applied" in line] == names
    config = (src / "pjsip-apps/src/pjsua/pjsua_app_config.c").read_text()
    assert '{ "add-header",' in config and '{ "quick-exit",' in config and '{ "rtp-port-range",' in config
    assert '{ "ipv6-only",' in config
    assert "ui_select_call" in (src / "pjsip-apps/src/pjsua/pjsua_app_legacy.c").read_text()
    assert "EC_KEY_generate_key" in (src / "pjmedia/src/pjmedia/transport_srtp_dtls.c").read_text()
    # applied twice: refused, naming the patch (a tree is unpacked fresh for every build)
    r = _setup(root, "apply-patches", str(src), str(root / "patch.log"))
    assert r.returncode == 1 and "0001-headers.patch does not apply" in r.stderr, r.stderr


def test_every_patch_says_what_and_why(root):
    for p in sorted((root / "scripts" / "pjsua-patches").glob("*.patch")):
        head = p.read_text().split("\n--- a/", 1)[0].split("\ndiff --git", 1)[0]
        assert head.startswith(f"callgen pjsua patch {p.name[:4]}:"), p.name
        assert "\nWhat: " in head and "\nWhy: " in head, p.name


def test_a_changed_or_added_patch_or_config_site_triggers_a_rebuild(root):
    first = _setup(root, "inputs-sha").stdout.strip()
    assert len(first) == 64 and _setup(root, "inputs-sha").stdout.strip() == first
    patch = next((root / "scripts" / "pjsua-patches").glob("0002-*.patch"))
    patch.write_text(patch.read_text() + "\n")
    second = _setup(root, "inputs-sha").stdout.strip()
    (root / "scripts" / "pjsua-patches" / "0099-new.patch").write_text("callgen pjsua patch 0099: x\n")
    third = _setup(root, "inputs-sha").stdout.strip()
    (root / "scripts" / "pjsua-config_site.h").write_text("/* changed */\n")
    fourth = _setup(root, "inputs-sha").stdout.strip()
    assert len({first, second, third, fourth}) == 4
