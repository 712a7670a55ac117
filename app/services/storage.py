"""Persistence in one SQLite file (standard library, WAL): runs, every epoch's scalars, stored snapshots.

Nothing here runs on its own: ``write`` stores a batch of what live runs produced in one transaction (the
``Persister`` in ``persist.py`` calls it every ``commit_interval`` seconds off the event loop, and calls it
again with the same batch if it fails). Readers open a connection per call and never wait for the writer.

Snapshot budget: a run stores every ``stride``-th epoch's frame. The stride starts as the smallest power of
two with which the run's planned epochs fit the budget (``plan_stride``); when a run grows past it anyway,
the stride doubles and the frames off the new stride are deleted (every 2nd, then every 4th … epoch stays),
so a run can always be replayed end to end. The newest frame is kept apart (``runs.latest_frame``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

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
CREATE TABLE IF NOT EXISTS checkpoints (
  run_id TEXT PRIMARY KEY, epoch INTEGER NOT NULL, state BLOB NOT NULL
);
"""
ROW_FIELDS = ("state", "reason", "epoch", "updated_at", "name", "config")  # what a Pending row may update
LIVE_STATES = ("queued", "running", "paused")


class StorageError(RuntimeError):
    """The data directory cannot be used (missing permissions, read-only, disk full). ``status``: the HTTP
    status to answer with — 507 when the disk is full, else 503."""

    def __init__(self, message: str, status: int = 503) -> None:
        super().__init__(message)
        self.status = status


DB_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error, OSError)


def is_disk_full(e: BaseException) -> bool:
    return (isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)) or (
        isinstance(e, sqlite3.Error | psycopg.Error) and ("full" in str(e).lower() or "space" in str(e).lower()))


@contextlib.contextmanager
def failing(what: str) -> Iterator[None]:
    """The database's and the OS's errors while ``what`` as a StorageError saying so."""
    try:
        yield
    except DB_ERRORS as e:
        raise StorageError(f"storage is failing: could not {what}: {e}", 507 if is_disk_full(e) else 503) from e


@dataclass
class Pending:
    """What a live run hands the writer: new epoch points, frames to store, the run's row."""

    run_id: str
    row: dict[str, Any]  # state, reason, epoch, updated_at, name, config
    points: list[str] = field(default_factory=list)  # EpochPoint JSON texts, consecutive epochs
    frames: list[tuple[int, bytes]] = field(default_factory=list)  # (epoch, frame) on the run's stride
    latest: tuple[int, bytes] | None = None  # (epoch, frame): the run's newest frame
    checkpoint: tuple[int, bytes] | None = None  # (epoch, trainer state): where training can carry on


class Storage:
    def __init__(self, db_path: Path, budget_bytes: int) -> None:
        self.path = db_path
        self.budget = budget_bytes
        self._lock = threading.Lock()
        self._strides: dict[str, tuple[int, int]] = {}  # run_id → (stride, stored_bytes), as committed
        self._conn: Any = self._open()  # a DB-API connection: sqlite3's here, PostgreSQL's in a cluster

    # -- set-up ---------------------------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.upload_dir.mkdir(exist_ok=True)
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
        """Runs that were live when the server last stopped become ``interrupted`` at their last stored epoch;
        returns how many."""
        with self._lock, failing("mark the runs that were live as interrupted"), self._transaction():
            cur = self._conn.execute(
                "UPDATE runs SET state = 'interrupted', reason = 'the server stopped while this run was live', "
                "epoch = COALESCE((SELECT MAX(epoch) FROM epochs WHERE run_id = runs.id), 0)"
                f" WHERE state IN {LIVE_STATES}")
            return int(cur.rowcount)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- writing --------------------------------------------------------------------------------------------
    def write(self, batch: list[Pending]) -> None:
        """Store ``batch`` in one transaction; on failure nothing of it is stored and it may be written again."""
        if not batch:
            return
        with self._lock:
            strides = dict(self._strides)
            with self._transaction():
                for p in batch:
                    self._write(p, strides)
            self._strides = strides

    BEGIN = "BEGIN IMMEDIATE"  # SQLite: take the write lock at once

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute(self.BEGIN)
        try:
            yield
        except BaseException:
            with contextlib.suppress(*DB_ERRORS):
                self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _write(self, p: Pending, strides: dict[str, tuple[int, int]]) -> None:
        c = self._conn
        fields = [k for k in ROW_FIELDS if k in p.row]  # a worker elsewhere updates only what it knows
        if fields:
            c.execute(f"UPDATE runs SET {', '.join(f'{k}=?' for k in fields)} WHERE id=?",
                      (*(p.row[k] for k in fields), p.run_id))
        if p.points:
            c.executemany("INSERT INTO epochs (run_id, epoch, point) VALUES (?, ?, ?) "
                          "ON CONFLICT (run_id, epoch) DO UPDATE SET point = excluded.point",
                          [(p.run_id, json.loads(pt)["epoch"], pt) for pt in p.points])
        if p.checkpoint is not None:
            c.execute("INSERT INTO checkpoints (run_id, epoch, state) VALUES (?, ?, ?) ON CONFLICT (run_id) "
                      "DO UPDATE SET epoch = excluded.epoch, state = excluded.state", (p.run_id, *p.checkpoint))
        stride, stored = strides.get(p.run_id) or self._stride_of(p.run_id)
        for epoch, frame in p.frames:
            if epoch % stride:
                continue
            while stored + len(frame) > self.budget and stride < 2**30:
                stride *= 2
                c.execute("DELETE FROM snapshots WHERE run_id=? AND epoch % ? != 0", (p.run_id, stride))
                stored = c.execute("SELECT COALESCE(SUM(LENGTH(frame)), 0) FROM snapshots WHERE run_id=?",
                                   (p.run_id,)).fetchone()[0]
            if epoch % stride == 0:
                c.execute("INSERT INTO snapshots (run_id, epoch, frame) VALUES (?, ?, ?) "
                          "ON CONFLICT (run_id, epoch) DO UPDATE SET frame = excluded.frame", (p.run_id, epoch, frame))
                stored += len(frame)
        strides[p.run_id] = (stride, stored)
        if p.latest is not None:
            epoch, frame = p.latest
            c.execute("UPDATE runs SET latest_epoch=?, latest_frame=?, stride=?, stored_bytes=? WHERE id=?",
                      (epoch, frame, stride, stored, p.run_id))

    def _stride_of(self, run_id: str) -> tuple[int, int]:
        """(stride, stored bytes) of a run this process has not written yet (a worker taking a run over)."""
        row = self._conn.execute("SELECT stride, stored_bytes FROM runs WHERE id=?", (run_id,)).fetchone()
        return (int(row[0]), int(row[1])) if row else (1, 0)

    def stride(self, run_id: str) -> int:
        """Only epochs that are multiples of this are worth handing to the writer."""
        with self._lock:
            known = self._strides.get(run_id)
            return known[0] if known is not None else self._stride_of(run_id)[0]

    def plan_stride(self, run_id: str, frame_bytes: int, epochs: int) -> int:
        """The first stride of a new run: the smallest power of two with which its ``epochs`` + 1 frames of
        ``frame_bytes`` fit the budget (so no frame is built only to be thinned away later)."""
        stride = 1
        while (epochs // stride + 1) * frame_bytes > self.budget and stride < 2**30:
            stride *= 2
        with self._lock:
            _, stored = self._strides.get(run_id, (1, 0))
            if stored == 0:
                self._strides[run_id] = (stride, 0)
            return self._strides[run_id][0]

    def create_run(self, row: dict[str, Any]) -> None:
        with self._lock, failing("store a new run"):
            self._conn.execute(
                "INSERT INTO runs (id, name, config, meta, state, reason, epoch, created_at, updated_at)"
                " VALUES (:id, :name, :config, :meta, :state, :reason, :epoch, :created_at, :updated_at)", row)

    def set_meta(self, run_id: str, meta: str) -> None:
        """The run's meta (JSON text), known once its worker has built it (a cluster)."""
        with self._lock, failing("store a run's meta"):
            self._conn.execute("UPDATE runs SET meta=? WHERE id=?", (meta, run_id))

    def rename(self, run_id: str, name: str) -> bool:
        """A stored run's new name; False when there is no such run."""
        with self._lock, failing("rename a run"):
            return bool(self._conn.execute("UPDATE runs SET name=? WHERE id=?", (name, run_id)).rowcount > 0)

    # -- uploaded files: beside the database, in uploads/ ------------------------------------------------------
    @property
    def upload_dir(self) -> Path:
        return self.path.parent / "uploads"

    def save_upload(self, filename: str, content: bytes) -> None:
        """``content`` as the file ``filename``, all of it or nothing: written to a temporary file beside it,
        flushed to disk, then renamed (a full disk leaves no partial or empty file behind)."""
        path = self.upload_dir / filename
        tmp = path.with_name(f".{path.name}.part")
        try:
            with failing("save the uploaded file"):
                self.upload_dir.mkdir(parents=True, exist_ok=True)
                with open(tmp, "wb") as f:
                    f.write(content)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def read_upload(self, filename: str) -> bytes:
        """The file's bytes (FileNotFoundError naming it when it is gone)."""
        return (self.upload_dir / filename).read_bytes()

    def drop_upload(self, filename: str) -> None:
        (self.upload_dir / filename).unlink(missing_ok=True)

    def delete_run(self, run_id: str) -> None:
        with self._lock, failing("delete a run"), self._transaction():
            for table, col in (("snapshots", "run_id"), ("epochs", "run_id"), ("checkpoints", "run_id"),
                               ("runs", "id")):
                self._conn.execute(f"DELETE FROM {table} WHERE {col}=?", (run_id,))
            self._strides.pop(run_id, None)

    def add_upload(self, name: str, filename: str, label_column: str, info: dict[str, Any], at: str) -> None:
        with self._lock, failing("store an upload"):
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

    def history_json(self, run_id: str) -> list[str]:
        """A run's EpochPoints as the JSON texts they were stored as, in epoch order."""
        with self._reader() as c:
            rows = c.execute("SELECT point FROM epochs WHERE run_id=? ORDER BY epoch", (run_id,)).fetchall()
        return [str(r[0]) for r in rows]

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

    def checkpoint(self, run_id: str) -> tuple[int, bytes] | None:
        """(epoch, trainer state) of the run's newest checkpoint, if any."""
        with self._reader() as c:
            row = c.execute("SELECT epoch, state FROM checkpoints WHERE run_id=?", (run_id,)).fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

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
