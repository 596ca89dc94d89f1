"""callgen run by a real unprivileged user: Debian's /usr/bin/python3, a dumpcap with
CAP_NET_RAW (what `dpkg-reconfigure wireshark-common` gives the wireshark group; here a
private copy, so the machine's dumpcap is not changed), pjsua, Kamailio - and no root.
Before, the port locks in a root-owned /tmp/callgen-port-locks stopped it with a
PermissionError. Needs root to create the user (useradd) and set the capability."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, SCENARIOS

USER = "callgen-nonroot"
DEBIAN_PYTHON = "/usr/bin/python3"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creating a user and setting file capabilities needs root")


def _readable_by_others(path: Path) -> bool:
    """Every folder from / down to ``path`` can be entered by another user."""
    p = path.resolve()
    return all(os.stat(d).st_mode & 0o005 == 0o005 for d in [p, *p.parents] if d.is_dir())


@pytest.fixture
def user():
    created = False
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER], check=True)
        created = True
    yield pwd.getpwnam(USER)
    if created:
        subprocess.run(["userdel", USER], check=False)


def test_a_call_and_a_registrar_run_as_an_unprivileged_user(user, pjsua_bin):
    purelib = Path(sysconfig.get_paths()["purelib"])
    if not (_readable_by_others(ROOT) and _readable_by_others(purelib) and _readable_by_others(Path(pjsua_bin))):
        pytest.skip(f"the checkout, its venv or pjsua is not readable by other users ({ROOT}, {purelib})")
    debian = subprocess.run([DEBIAN_PYTHON, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    assert debian.stdout.strip() == str(sys.version_info[:2]), "the venv's packages must match Debian's Python version"
    home = Path(tempfile.mkdtemp(prefix="callgen-nonroot-"))
    try:
        (home / "bin").mkdir()
        shutil.chown(home, user.pw_uid, user.pw_gid)
        home.chmod(0o755)
        dumpcap = home / "bin" / "dumpcap"
        shutil.copy2(shutil.which("dumpcap") or "/usr/bin/dumpcap", dumpcap)
        # after any chown: changing a file's owner clears its capabilities
        subprocess.run(["setcap", "cap_net_raw,cap_net_admin=eip", str(dumpcap)], check=True)
        env = {"PATH": f"{home / 'bin'}:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(home), "PJSUA": pjsua_bin,
               "PYTHONPATH": f"{ROOT}:{purelib}", "SIP_PASSWORD": "nonroot-secret"}
        out = home / "out"
        proc = subprocess.Popen(
            ["runuser", "-u", USER, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()), DEBIAN_PYTHON, "-m", "callgen",
             "run", str(SCENARIOS / "basic_call.yaml"), str(SCENARIOS / "register_and_call.yaml"), "-o", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=home, start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:  # the session this test started, by its id
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert proc.returncode == 0, stdout + stderr
        assert "2 passed" in stdout
        pcap = out / "basic_call" / "capture.pcap"
        assert pcap.stat().st_uid == user.pw_uid and pcap.stat().st_size > 24  # dumpcap captured, as the user
        assert (Path(tempfile.gettempdir()) / f"callgen-port-locks-{user.pw_uid}").is_dir()
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(Path(tempfile.gettempdir()) / f"callgen-port-locks-{user.pw_uid}", ignore_errors=True)
