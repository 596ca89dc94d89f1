"""The files of a run folder can hold secrets (the digest exchange and SDES keys in the pjsua
logs and transcripts, the password in the configs and Kamailio's, the SIP in the capture):
the run folder is 0700 and every file in it 0600, also those pjsua, tcpdump and Kamailio
created (before: 0644 in a 0755 folder)."""

from __future__ import annotations

import stat

from tests.conftest import SCENARIOS


def test_run_folder_and_its_files_are_private(cli, tmp_path, pjsua_bin):
    r = cli("run", str(SCENARIOS / "register_and_call.yaml"), "-o", str(tmp_path / "out"))
    assert r.status == 0, r.out + r.err
    run = tmp_path / "out" / "register_and_call"
    assert stat.S_IMODE(run.stat().st_mode) == 0o700
    names = set()
    for p in run.rglob("*"):
        mode = stat.S_IMODE(p.lstat().st_mode)
        if p.is_dir():
            assert mode & 0o077 == 0, (p, oct(mode))
        else:
            names.add(p.name)
            assert mode & 0o077 == 0, (p, oct(mode))
    for name in ("alice.pjsua.log", "alice.transcript.txt", "alice.cfg", "capture.pcap", "kamailio.log"):
        assert name in names, sorted(names)
    assert (tmp_path / "out" / "index.html").stat().st_mode & 0o044 == 0o044  # the reports stay readable
