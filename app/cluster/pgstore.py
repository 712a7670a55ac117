"""The store of a cluster: ``Storage`` on PostgreSQL (psycopg 3), the same tables and the same statements.

The statements are written once, for SQLite, in ``app/services/storage.py``; here a thin adapter runs them
on PostgreSQL: ``?`` placeholders become ``%s``, rows read by index or by name as sqlite3.Row's do, and
uploaded files live in the database (``upload_files``), since web replicas and workers may run on other
hosts. Writes go through one connection (the writer's); each reading thread has a connection of its own.
A connection that broke (the database restarted) is opened again at the next call.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg.rows import RowMaker

from ..services.storage import Storage, StorageError, failing

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT UNIQUE NOT NULL,
  name TEXT NOT NULL,
  config TEXT NOT NULL,
  meta TEXT NOT NULL,
  state TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  epoch BIGINT NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  latest_epoch BIGINT,
  latest_frame BYTEA,
  stride BIGINT NOT NULL DEFAULT 1,
  stored_bytes BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS epochs (
  run_id TEXT NOT NULL, epoch BIGINT NOT NULL, point TEXT NOT NULL, PRIMARY KEY (run_id, epoch)
);
CREATE TABLE IF NOT EXISTS snapshots (
  run_id TEXT NOT NULL, epoch BIGINT NOT NULL, frame BYTEA NOT NULL, PRIMARY KEY (run_id, epoch)
);
CREATE TABLE IF NOT EXISTS uploads (
  name TEXT PRIMARY KEY, filename TEXT NOT NULL, label_column TEXT NOT NULL, info TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS upload_files (filename TEXT PRIMARY KEY, content BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (
  run_id TEXT PRIMARY KEY, epoch BIGINT NOT NULL, state BYTEA NOT NULL
);
"""


class _Row(tuple[Any, ...]):
    """A row readable by index and by column name, and convertible with dict(), as sqlite3.Row."""

    names: tuple[str, ...] = ()

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self.names.index(key))
        return tuple.__getitem__(self, key)

    def keys(self) -> tuple[str, ...]:
        return self.names


def _rows(cursor: psycopg.Cursor[Any]) -> RowMaker[_Row]:
    names = tuple(d.name for d in cursor.description or ())

    def make(values: Sequence[Any]) -> _Row:
        row = _Row(values)
        row.names = names
        return row

    return make


class _Conn:
    """A psycopg connection that takes SQLite's statements (``?`` placeholders, ``%`` as modulo)."""

    def __init__(self, conn: psycopg.Connection[_Row]) -> None:
        self.conn = conn

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> psycopg.Cursor[_Row]:
        if isinstance(params, dict):  # :name placeholders (create_run)
            for key in params:
                sql = sql.replace(f":{key}", f"%({key})s")
            return self.conn.execute(sql, params)
        return self.conn.execute(self._sql(sql), params)

    def executemany(self, sql: str, seq: Sequence[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(self._sql(sql), seq)

    def close(self) -> None:
        self.conn.close()


class PgStorage(Storage):
    BEGIN = "BEGIN"

    def __init__(self, url: str, budget_bytes: int) -> None:
        self.url = url
        self._local = threading.local()
        super().__init__(_where(url), budget_bytes)  # type: ignore[arg-type]

    def _connect(self) -> _Conn:
        return _Conn(psycopg.connect(self.url, autocommit=True, row_factory=_rows, connect_timeout=10))

    def _open(self) -> Any:
        try:
            conn = self._connect()
            conn.conn.execute(SCHEMA)
        except psycopg.Error as e:
            raise StorageError(f"cannot use the database {_where(self.url)}: {e}") from e
        return conn

    def write(self, batch: list[Any]) -> None:
        self._reopen_if_broken()
        super().write(batch)

    def _reopen_if_broken(self) -> None:
        if self._conn.conn.closed or self._conn.conn.broken:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            with failing("reconnect to the database"):
                self._conn = self._connect()

    @contextlib.contextmanager
    def _reader(self) -> Iterator[Any]:
        conn: _Conn | None = getattr(self._local, "conn", None)
        if conn is None or conn.conn.closed or conn.conn.broken:
            conn = self._local.conn = self._connect()
        yield conn

    def points_at(self, run_id: str, epochs: list[int]) -> list[str]:
        """As SQLite's, with an array parameter for the epochs (PostgreSQL has no json_each of a text)."""
        with self._reader() as c:
            rows = c.execute("SELECT point FROM epochs WHERE run_id=? AND epoch = ANY(?) ORDER BY epoch",
                             (run_id, list(epochs))).fetchall()
        return [str(r[0]) for r in rows]

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self._conn.close()

    def integrity_check(self) -> str:
        with self._reader() as c:
            c.execute("SELECT 1").fetchone()
        return "ok"

    # uploaded files, in the database: any replica or worker can read them
    def save_upload(self, filename: str, content: bytes) -> None:
        with self._lock, failing("save the uploaded file"):
            self._reopen_if_broken()
            self._conn.execute("INSERT INTO upload_files (filename, content) VALUES (?, ?) ON CONFLICT (filename) "
                               "DO UPDATE SET content = excluded.content", (filename, content))

    def read_upload(self, filename: str) -> bytes:
        with self._reader() as c:
            row = c.execute("SELECT content FROM upload_files WHERE filename=?", (filename,)).fetchone()
        if row is None:
            raise FileNotFoundError(f"no file {filename!r} in the database")
        return bytes(row[0])

    def drop_upload(self, filename: str) -> None:
        with self._lock, contextlib.suppress(psycopg.Error):
            self._conn.execute("DELETE FROM upload_files WHERE filename=?", (filename,))


def _where(url: str) -> str:
    """The database's address without its password, for messages."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    return f"postgresql://{info.get('user', '')}@{info.get('host', '')}:{info.get('port', '')}/{info.get('dbname', '')}"
