"""Persistence in one SQLite file (standard library, WAL): runs, every epoch's scalars, stored snapshots.

Training threads never touch the database: a writer thread collects what live runs have produced every
``commit_interval`` seconds and writes it in one transaction, so a crash loses at most that much.

Snapshot budget: a run stores every epoch's frame until its bytes would pass the budget; then the stride
doubles and the frames off the new stride are deleted (every 2nd, then every 4th … epoch stays), so a run
can always be replayed end to end. The newest frame is kept apart (``runs.latest_frame``) whatever the stride.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("backprop_viz.storage")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT UNIQUE NOT NULL,
  name TEXT NOT NULL,
  config TEXT NOT NULL,
  meta TEXT NOT NULL,
  state TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  epoch INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  latest_epoch INTEGER,
  latest_frame BLOB,
  stride INTEGER NOT NULL DEFAULT 1,
  stored_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS epochs (
  run_id TEXT NOT NULL, epoch INTEGER NOT NULL, point TEXT NOT NULL, PRIMARY KEY (run_id, epoch)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (
  run_id TEXT NOT NULL, epoch INTEGER NOT NULL, frame BLOB NOT NULL, PRIMARY KEY (run_id, epoch)
);
CREATE TABLE IF NOT EXISTS uploads (
  name TEXT PRIMARY KEY, filename TEXT NOT NULL, label_column TEXT NOT NULL, info TEXT NOT NULL,
  created_at TEXT NOT NULL
);
"""
LIVE_STATES = ("queued", "running", "paused")


class StorageError(RuntimeError):
    """The data directory cannot be used (missing permissions, read-only, disk full)."""


@dataclass
class Pending:
    """What a live run hands the writer: new epoch points, frames to store, the run's row."""

    run_id: str
    row: dict[str, Any]  # state, reason, epoch, updated_at, name
    points: list[str] = field(default_factory=list)  # EpochPoint JSON texts
    frames: list[tuple[int, Callable[[], bytes]]] = field(default_factory=list)  # (epoch, encoder)
    latest: tuple[int, Callable[[], bytes]] | None = None


Source = Callable[[], "list[Pending]"]


class Storage:
    def __init__(self, db_path: Path, budget_bytes: int, commit_interval: float) -> None:
        self.path = db_path
        self.budget = budget_bytes
        self.interval = commit_interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._source: Source | None = None
        self._strides: dict[str, tuple[int, int]] = {}  # run_id → (stride, stored_bytes)
        self._conn = self._open()

    # -- set-up ---------------------------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(SCHEMA)
            conn.execute("BEGIN IMMEDIATE")  # proves the file is writable now, not at the first commit
            conn.execute("UPDATE runs SET state = state WHERE 0")
            conn.execute("COMMIT")
        except (OSError, sqlite3.Error) as e:
            raise StorageError(f"cannot use the data directory {self.path.parent}: {e}") from e
        return conn

    def mark_interrupted(self) -> int:
        """Runs that were live when the server last stopped become ``interrupted``; returns how many."""
        with self._lock:
            cur = self._conn.execute(
                "UPDATE runs SET state = 'interrupted', reason = 'the server stopped while this run was live'"
                f" WHERE state IN {LIVE_STATES}")
            return cur.rowcount

    def start(self, source: Source) -> None:
        """Start the writer thread, which pulls from ``source`` every interval."""
        self._source = source
        self._thread = threading.Thread(target=self._loop, name="storage-writer", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Flush what is pending and stop the writer."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()
        with self._lock:
            self._conn.close()

    # -- writing --------------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:  # keep the writer alive (disk full …); the next flush retries
                log.exception("writing runs to %s failed", self.path)

    def flush(self) -> None:
        """Write everything the live runs have produced since the last flush, in one transaction."""
        if self._source is None:
            return
        batch = self._source()
        if not batch:
            return
        with self._lock, self._transaction():
            for p in batch:
                self._write(p)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _write(self, p: Pending) -> None:
        c = self._conn
        r = p.row
        c.execute("UPDATE runs SET state=?, reason=?, epoch=?, updated_at=?, name=? WHERE id=?",
                  (r["state"], r["reason"], r["epoch"], r["updated_at"], r["name"], p.run_id))
        if p.points:
            c.executemany("INSERT OR REPLACE INTO epochs (run_id, epoch, point) VALUES (?, ?, ?)",
                          [(p.run_id, json.loads(pt)["epoch"], pt) for pt in p.points])
        stride, stored = self._strides.get(p.run_id, (1, 0))
        for epoch, encode in p.frames:
            if epoch % stride:
                continue
            frame = encode()
            while stored + len(frame) > self.budget and stride < 2**30:
                stride *= 2
                c.execute("DELETE FROM snapshots WHERE run_id=? AND epoch % ? != 0", (p.run_id, stride))
                stored = c.execute("SELECT COALESCE(SUM(LENGTH(frame)), 0) FROM snapshots WHERE run_id=?",
                                   (p.run_id,)).fetchone()[0]
            if epoch % stride == 0:
                c.execute("INSERT OR REPLACE INTO snapshots (run_id, epoch, frame) VALUES (?, ?, ?)",
                          (p.run_id, epoch, frame))
                stored += len(frame)
        self._strides[p.run_id] = (stride, stored)
        if p.latest is not None:
            epoch, encode = p.latest
            c.execute("UPDATE runs SET latest_epoch=?, latest_frame=?, stride=?, stored_bytes=? WHERE id=?",
                      (epoch, encode(), stride, stored, p.run_id))

    def stride(self, run_id: str) -> int:
        """Only epochs that are multiples of this are worth handing to the writer."""
        return self._strides.get(run_id, (1, 0))[0]

    def create_run(self, row: dict[str, Any]) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO runs (id, name, config, meta, state, reason, epoch, created_at, updated_at)"
                " VALUES (:id, :name, :config, :meta, :state, :reason, :epoch, :created_at, :updated_at)", row)

    def delete_run(self, run_id: str) -> None:
        with self._lock, self._transaction():
            for table, col in (("snapshots", "run_id"), ("epochs", "run_id"), ("runs", "id")):
                self._conn.execute(f"DELETE FROM {table} WHERE {col}=?", (run_id,))
        self._strides.pop(run_id, None)

    def add_upload(self, name: str, filename: str, label_column: str, info: dict[str, Any], at: str) -> None:
        with self._lock:
            self._conn.execute("INSERT INTO uploads VALUES (?, ?, ?, ?, ?)",
                               (name, filename, label_column, json.dumps(info), at))

    # -- reading (a connection per call: readers never wait for the writer in WAL mode) ----------------------
    @contextlib.contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        try:
            yield conn
        finally:
            conn.close()

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self._reader() as c:
            row = c.execute("SELECT id, name, config, meta, state, reason, epoch, created_at, updated_at, "
                            "latest_epoch FROM runs WHERE id=?", (run_id,)).fetchone()
        return dict(row) if row else None

    def list_runs(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        with self._reader() as c:
            rows = c.execute("SELECT id, name, config, meta, state, reason, epoch, created_at, updated_at, "
                             "latest_epoch FROM runs ORDER BY seq DESC LIMIT ? OFFSET ?",
                             (limit, offset)).fetchall()
            total = c.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        return [dict(r) for r in rows], int(total)

    def history(self, run_id: str) -> list[dict[str, Any]]:
        with self._reader() as c:
            rows = c.execute("SELECT point FROM epochs WHERE run_id=? ORDER BY epoch", (run_id,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def stored_epochs(self, run_id: str) -> tuple[list[int], int | None]:
        with self._reader() as c:
            rows = c.execute("SELECT epoch FROM snapshots WHERE run_id=? ORDER BY epoch", (run_id,)).fetchall()
            latest = c.execute("SELECT latest_epoch FROM runs WHERE id=?", (run_id,)).fetchone()
        epochs = [int(r[0]) for r in rows]
        last = latest[0] if latest and latest[0] is not None else None
        if last is not None and last not in epochs:
            epochs.append(int(last))
        return epochs, last

    def frame(self, run_id: str, epoch: int) -> bytes | None:
        with self._reader() as c:
            row = c.execute("SELECT frame FROM snapshots WHERE run_id=? AND epoch=?", (run_id, epoch)).fetchone()
            if row is None:
                row = c.execute("SELECT latest_frame FROM runs WHERE id=? AND latest_epoch=?",
                                (run_id, epoch)).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    def latest_frame(self, run_id: str) -> bytes | None:
        with self._reader() as c:
            row = c.execute("SELECT latest_frame FROM runs WHERE id=?", (run_id,)).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    def get_upload(self, name: str) -> dict[str, Any] | None:
        with self._reader() as c:
            row = c.execute("SELECT * FROM uploads WHERE name=?", (name,)).fetchone()
        return dict(row) if row else None

    def list_uploads(self) -> list[dict[str, Any]]:
        with self._reader() as c:
            rows = c.execute("SELECT * FROM uploads ORDER BY created_at DESC").fetchall()
        return [dict(r) for r in rows]

    def integrity_check(self) -> str:
        with self._reader() as c:
            return str(c.execute("PRAGMA integrity_check").fetchone()[0])
