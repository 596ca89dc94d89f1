"""The history store: an SQLite file (the default) or a PostgreSQL database a team shares.

Four tables, prefixed ``callgen_`` so they can live in a database that holds others:

* ``callgen_meta``    key/value; ``schema`` = ``callgen-history/1`` marks a callgen store
* ``callgen_runs``    one row per recorded run (a night, or one shard of it)
* ``callgen_results`` one row per scenario run (verdict, duration, setup time, failed checks...)
* ``callgen_legs``    one row per media leg of a scenario run (loss, jitter, MOS, PESQ)

Every write is one transaction (SQLite: ``BEGIN IMMEDIATE`` on a WAL journal with a busy
timeout, so shards writing at once wait for each other; PostgreSQL: a transaction, the
schema made under an advisory lock).  A file that is not SQLite, or an SQLite file that
holds other tables but no callgen store, is refused with one line (exit 2).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callgen.errors import InfrastructureError, UsageError
from callgen.history.model import LegMetric, RunInfo, ScenarioNight
from callgen.verdict.result import Verdict

SCHEMA = "callgen-history/1"
BUSY_TIMEOUT_S = 60.0  #: how long a writer waits for another (a shard) to finish its transaction
ENV = "CALLGEN_HISTORY"


class HistoryStoreError(UsageError):
    """The history file or database is not a callgen history store (exit 2)."""


class HistoryUnavailable(InfrastructureError):
    """The store could not be reached or written (exit 3): a server down, a lock never released."""


@dataclass(frozen=True)
class StoredResult:
    """A scenario run as read back, with the run it belongs to."""

    run_id: int
    night: str
    started: str
    entry: ScenarioNight


_TABLES = {
    "sqlite": """
CREATE TABLE IF NOT EXISTS callgen_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS callgen_runs (
  id INTEGER PRIMARY KEY, night TEXT NOT NULL, started TEXT NOT NULL, recorded_at TEXT NOT NULL,
  source TEXT NOT NULL, callgen_version TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS callgen_results (
  id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES callgen_runs(id), scenario TEXT NOT NULL,
  file TEXT NOT NULL, klass TEXT NOT NULL, verdict TEXT NOT NULL, duration_s REAL NOT NULL, attempts INTEGER NOT NULL,
  flaky_attempts INTEGER NOT NULL, setup_ms REAL, failed_checks TEXT NOT NULL, error TEXT NOT NULL, revision TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS callgen_legs (
  result_id INTEGER NOT NULL REFERENCES callgen_results(id), leg TEXT NOT NULL, codec TEXT,
  loss_pct REAL, jitter_ms REAL, mos REAL, pesq REAL);
CREATE INDEX IF NOT EXISTS callgen_results_run ON callgen_results(run_id);
CREATE INDEX IF NOT EXISTS callgen_legs_result ON callgen_legs(result_id);
""",
    "postgres": """
CREATE TABLE IF NOT EXISTS callgen_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS callgen_runs (
  id BIGSERIAL PRIMARY KEY, night TEXT NOT NULL, started TEXT NOT NULL, recorded_at TEXT NOT NULL,
  source TEXT NOT NULL, callgen_version TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS callgen_results (
  id BIGSERIAL PRIMARY KEY, run_id BIGINT NOT NULL REFERENCES callgen_runs(id), scenario TEXT NOT NULL,
  file TEXT NOT NULL, klass TEXT NOT NULL, verdict TEXT NOT NULL, duration_s DOUBLE PRECISION NOT NULL,
  attempts INTEGER NOT NULL, flaky_attempts INTEGER NOT NULL, setup_ms DOUBLE PRECISION, failed_checks TEXT NOT NULL,
  error TEXT NOT NULL, revision TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS callgen_legs (
  result_id BIGINT NOT NULL REFERENCES callgen_results(id), leg TEXT NOT NULL, codec TEXT,
  loss_pct DOUBLE PRECISION, jitter_ms DOUBLE PRECISION, mos DOUBLE PRECISION, pesq DOUBLE PRECISION);
CREATE INDEX IF NOT EXISTS callgen_results_run ON callgen_results(run_id);
CREATE INDEX IF NOT EXISTS callgen_legs_result ON callgen_legs(result_id);
""",
}


def is_postgres_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def redact(target: str) -> str:
    """A PostgreSQL URL without its password, for messages."""
    if not is_postgres_url(target) or "@" not in target:
        return target
    head, _, tail = target.partition("://")
    userinfo, _, host = tail.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return f"{head}://{user}{':***' if ':' in userinfo else ''}@{host}"


class HistoryStore:
    """One open store; every public method is one transaction."""

    def __init__(self, target: str, conn: Any, dialect: str):
        self.target = target
        self._conn = conn
        self.dialect = dialect

    # ------------------------------------------------------------------ plumbing

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.dialect == "postgres" else text

    @contextlib.contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[Any]:
        """A transaction; a writing one waits its turn behind other writers."""
        with self._errors():
            if self.dialect == "sqlite":
                cur = self._conn.cursor()
                cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield cur
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
                cur.execute("COMMIT")
            else:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    yield cur

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Driver errors as one line: a foreign or corrupt store exits 2, an unreachable one 3."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "locked" in text or "busy" in text:
                raise HistoryUnavailable(f"history {self.target}: still locked by another writer after "
                                         f"{BUSY_TIMEOUT_S:g} s ({text})") from None
            if "no such table" in text or "no such column" in text:
                raise HistoryStoreError(f"history {self.target}: not a callgen history store ({text})") from None
            raise HistoryUnavailable(f"history {self.target}: {text}") from None
        except sqlite3.DatabaseError as exc:
            raise HistoryStoreError(f"history {self.target}: not a usable history store ({exc})") from None
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg"):
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise HistoryUnavailable(f"history {redact(self.target)}: {first}") from None
            raise

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ schema

    def ensure_schema(self) -> None:
        """Create the tables in a new store; refuse a store that is someone else's."""
        with self._transaction() as cur:
            if self.dialect == "postgres":
                cur.execute("SELECT pg_advisory_xact_lock(7214830921)")  # one creator at a time
            else:
                cur.execute("SELECT name FROM sqlite_master WHERE type='table'")
                tables = {row[0] for row in cur.fetchall()}
                if tables and "callgen_meta" not in tables:
                    shown = ", ".join(sorted(tables)[:4])
                    raise HistoryStoreError(f"history {self.target}: an SQLite file of something else "
                                            f"(tables {shown}), not a callgen history store")
            for statement in filter(str.strip, _TABLES[self.dialect].split(";")):
                cur.execute(statement)
            cur.execute("SELECT value FROM callgen_meta WHERE key = 'schema'")
            row = cur.fetchone()
            if row is None:
                cur.execute(self._sql("SELECT COUNT(*) FROM callgen_runs"))
                if cur.fetchone()[0]:
                    raise HistoryStoreError(f"history {redact(self.target)}: callgen tables without a schema mark; "
                                            "not a callgen history store")
                cur.execute(self._sql("INSERT INTO callgen_meta (key, value) VALUES (?, ?)"), ("schema", SCHEMA))
            elif row[0] != SCHEMA:
                raise HistoryStoreError(f"history {redact(self.target)}: store format {row[0]!r}, "
                                        f"this callgen reads {SCHEMA!r}")

    # ------------------------------------------------------------------ writing

    def record(self, run: RunInfo, entries: Sequence[ScenarioNight], recorded_at: str) -> int:
        """Store one run and its scenario results in one transaction; returns the run's id."""
        with self._transaction() as cur:
            cur.execute(self._sql("INSERT INTO callgen_runs (night, started, recorded_at, source, callgen_version) "
                                  "VALUES (?, ?, ?, ?, ?) RETURNING id"),
                        (run.night, run.started, recorded_at, run.source, run.callgen_version))
            run_id = int(cur.fetchone()[0])
            for e in entries:
                cur.execute(self._sql(
                    "INSERT INTO callgen_results (run_id, scenario, file, klass, verdict, duration_s, attempts, "
                    "flaky_attempts, setup_ms, failed_checks, error, revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "RETURNING id"),
                    (run_id, e.scenario, e.file, e.klass, e.verdict.value, e.duration_s, e.attempts, e.flaky_attempts,
                     e.setup_ms, json.dumps(list(e.failed_checks)), e.error, e.revision))
                result_id = int(cur.fetchone()[0])
                for leg in e.legs:
                    cur.execute(self._sql("INSERT INTO callgen_legs (result_id, leg, codec, loss_pct, jitter_ms, mos, pesq) "
                                          "VALUES (?, ?, ?, ?, ?, ?, ?)"),
                                (result_id, leg.leg, leg.codec, leg.loss_pct, leg.jitter_ms, leg.mos, leg.pesq))
            return run_id

    def prune(self, keep_nights: int) -> list[str]:
        """Delete every night but the newest ``keep_nights`` (by start time); returns the nights removed."""
        if keep_nights < 1:
            raise UsageError(f"--history-keep {keep_nights}: keep at least one night")
        with self._transaction() as cur:
            cur.execute("SELECT night, MIN(started) FROM callgen_runs GROUP BY night ORDER BY MIN(started) DESC, night DESC")
            old = [row[0] for row in cur.fetchall()][keep_nights:]
            for night in old:
                cur.execute(self._sql("DELETE FROM callgen_legs WHERE result_id IN (SELECT r.id FROM callgen_results r "
                                      "JOIN callgen_runs n ON r.run_id = n.id WHERE n.night = ?)"), (night,))
                cur.execute(self._sql("DELETE FROM callgen_results WHERE run_id IN "
                                      "(SELECT id FROM callgen_runs WHERE night = ?)"), (night,))
                cur.execute(self._sql("DELETE FROM callgen_runs WHERE night = ?"), (night,))
            return old

    # ------------------------------------------------------------------ reading

    def results(self, since: str | None = None) -> list[StoredResult]:
        """Every stored scenario run (of runs that started on or after ``since``), oldest first."""
        with self._transaction(write=False) as cur:
            where, params = ("WHERE n.started >= ?", (since,)) if since else ("", ())
            cur.execute(self._sql(
                "SELECT r.id, n.id, n.night, n.started, r.scenario, r.file, r.klass, r.verdict, r.duration_s, r.attempts, "
                "r.flaky_attempts, r.setup_ms, r.failed_checks, r.error, r.revision FROM callgen_results r "
                f"JOIN callgen_runs n ON r.run_id = n.id {where} ORDER BY n.started, n.id, r.id"), params)
            rows = cur.fetchall()
            cur.execute(self._sql(
                "SELECT l.result_id, l.leg, l.codec, l.loss_pct, l.jitter_ms, l.mos, l.pesq FROM callgen_legs l "
                "JOIN callgen_results r ON l.result_id = r.id JOIN callgen_runs n ON r.run_id = n.id "
                f"{where} ORDER BY l.result_id, l.leg"), params)
            legs: dict[int, list[LegMetric]] = {}
            for rid, *values in cur.fetchall():
                legs.setdefault(rid, []).append(LegMetric(*values))
        out = []
        for rid, run_id, night, started, *e in rows:
            try:
                checks = tuple(str(c) for c in json.loads(e[8]))
                verdict = Verdict(e[3])
            except (ValueError, TypeError):
                raise HistoryStoreError(f"history {redact(self.target)}: result {rid} is damaged "
                                        "(verdict or failed checks unreadable)") from None
            entry = ScenarioNight(e[0], e[1], e[2], verdict, float(e[4]), int(e[5]), int(e[6]),
                                  None if e[7] is None else float(e[7]), checks, e[9], e[10], tuple(legs.get(rid, ())))
            out.append(StoredResult(int(run_id), night, started, entry))
        return out


def _open_sqlite(path: Path) -> HistoryStore:
    target = str(path)
    if path.is_dir():
        raise UsageError(f"history {target}: is a folder, not a file")
    if not path.parent.is_dir():
        raise UsageError(f"history {target}: the folder {path.parent} does not exist")
    if path.exists() and not path.is_file():
        raise UsageError(f"history {target}: not a regular file")
    if path.is_file() and path.stat().st_size:
        with open(path, "rb") as f:
            head = f.read(16)
        if head != b"SQLite format 3\x00":
            raise HistoryStoreError(f"history {target}: not an SQLite file (a callgen history is one); refusing to touch it")
    try:
        conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error as exc:
        raise HistoryUnavailable(f"history {target}: cannot open: {exc}") from None
    store = HistoryStore(target, conn, "sqlite")
    with store._errors():
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        mode = _wal_journal(conn)
        if mode is None or str(mode[0]).lower() != "wal":
            raise HistoryUnavailable(f"history {target}: SQLite refused the WAL journal (mode {mode}); "
                                     "is the file on a network file system?")
        conn.execute("PRAGMA synchronous = NORMAL")
    return store


def _wal_journal(conn: Any) -> Any:
    """Switch to the WAL journal.  Two shards opening a new store at once race for it, and
    SQLite answers the loser "database is locked" at once, without its busy handler: retry
    (backing off, bounded by BUSY_TIMEOUT_S) - there is no event to await for a file lock."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    pause = 0.005
    while True:
        try:
            return conn.execute("PRAGMA journal_mode = WAL").fetchone()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


def _open_postgres(url: str) -> HistoryStore:
    try:
        import psycopg
    except ImportError:
        raise UsageError("a PostgreSQL history needs the psycopg driver: pip install 'callgen[history-pg]'") from None
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=15)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HistoryUnavailable(f"history {redact(url)}: cannot connect: {first}") from None
    return HistoryStore(url, conn, "postgres")


def open_store(target: str | os.PathLike[str]) -> HistoryStore:
    """Open (and if new, create) the store at ``target``: a file path or a PostgreSQL URL."""
    text = os.fspath(target)
    if not text:
        raise UsageError("--history: empty path")
    store = _open_postgres(text) if is_postgres_url(text) else _open_sqlite(Path(text))
    try:
        store.ensure_schema()
    except BaseException:
        store.close()
        raise
    return store
