"""The history in a real PostgreSQL server (Debian's ``postgresql``, installed by ``make setup``),
started by this module: ``initdb`` and ``pg_ctl`` into a temporary folder, listening on
127.0.0.1 only, as an unprivileged user (PostgreSQL refuses to run as root: when the tests
run as root, the server runs as Debian's ``postgres`` account)."""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from callgen.history.store import open_store
from callgen.history.trends import build_history
from tests.history.history_nights import NIGHTS, night_reports, write_nights

pytestmark = pytest.mark.tool("postgresql", "psycopg")


def _pg_bin(name: str) -> str:
    return sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A throwaway PostgreSQL cluster; ``url(db)`` connects as the superuser ``callgen`` (trust, loopback only)."""

    def __init__(self) -> None:
        self.account = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="callgen-pg-"))
        self.data, self.log, self.port = self.root / "data", self.root / "server.log", _free_port()
        if self.account:
            os.chown(self.root, self.account.pw_uid, self.account.pw_gid)

    def _run(self, *cmd: str, timeout: float = 120) -> subprocess.CompletedProcess:
        kw = dict(user=self.account.pw_uid, group=self.account.pw_gid, extra_groups=[]) if self.account else {}
        return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, cwd=self.root, **kw)

    def start(self) -> None:
        init = self._run(_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "callgen", "-E", "UTF8",
                         "--no-locale", "--no-sync")
        assert init.returncode == 0, init.stderr[-2000:]
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        up = self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "-t", "60", "start")
        assert up.returncode == 0, up.stderr + (self.log.read_text() if self.log.exists() else "")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://callgen@127.0.0.1:{self.port}/{db}"

    def create_db(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="module")
def pg():
    from tests.conftest import require_tool

    require_tool("postgresql", "psycopg")  # module fixtures run before the marker's gate
    server = Server()
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_three_nights_in_postgres_read_as_from_sqlite(cli, pg, tmp_path):
    url = pg.create_db("nights")
    sqlite = tmp_path / "h.sqlite"
    for report in write_nights(tmp_path):
        for target in (url, str(sqlite)):
            r = cli("history", "record", str(report), "--history", target)
            assert r.status == 0, r.err
    texts = [cli("history", "report", "--history", t, "--text").out for t in (url, str(sqlite))]
    assert texts[0] == texts[1]
    assert "newly failing: 1\n  busy:" in texts[0]
    with open_store(url) as store:
        history = build_history(store.results())
    assert history.nights == NIGHTS
    basic = next(r for r in history.rows if r.scenario == "basic_call")
    assert [c.verdict.value for c in basic.cells] == ["fail", "fail", "pass"]
    assert [c.mos for c in basic.cells] == [3.1, 3.4, 4.1]


WRITER = """
import json, sys
from callgen.history.record import record_report
from callgen.history.store import open_store
reports = json.loads(open(sys.argv[2]).read())
with open_store(sys.argv[1]) as store:
    for i in range(int(sys.argv[3])):
        record_report(store, reports[i % len(reports)], source=sys.argv[4], night=f"{sys.argv[4]}-{i}", revision_of=lambda f: "")
"""


def test_two_shards_create_and_write_one_database_at_once(pg, tmp_path):
    """Both writers find an empty database: the schema is made once, every run lands whole."""
    url = pg.create_db("race")
    reports = tmp_path / "reports.json"
    reports.write_text(json.dumps(night_reports()))
    n = 25
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(reports), str(n), name],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in ("shard0", "shard1")]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e for _, e in outs]
    import psycopg

    with psycopg.connect(url) as conn:
        runs = conn.execute("SELECT source, COUNT(*) FROM callgen_runs GROUP BY source ORDER BY source").fetchall()
        results = conn.execute("SELECT COUNT(*) FROM callgen_results").fetchone()[0]
        marks = conn.execute("SELECT COUNT(*) FROM callgen_meta").fetchone()[0]
    assert runs == [("shard0", n), ("shard1", n)] and results == 2 * n * 3 and marks == 1


def test_unreachable_server_is_one_line_without_the_password(cli, tmp_path):
    url = f"postgresql://callgen:s3cret@127.0.0.1:{_free_port()}/postgres"
    r = cli("history", "record", str(write_nights(tmp_path)[0]), "--history", url)
    assert r.status == 3
    assert len(r.err.strip().splitlines()) == 1 and "cannot connect" in r.err
    assert "s3cret" not in r.err and "callgen:***@127.0.0.1" in r.err


def test_a_store_of_another_format_is_refused(cli, pg, tmp_path):
    url = pg.create_db("other")
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE callgen_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO callgen_meta VALUES ('schema', 'callgen-history/99')")
    r = cli("history", "report", "--history", url, "--text")
    assert r.status == 2
    assert r.err.strip() == f"callgen: error: history {url}: store format 'callgen-history/99', this callgen reads 'callgen-history/1'"
