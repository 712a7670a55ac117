"""The one read service for runs, live or stored: a live run answers from memory (on the event loop), a
stored one from SQLite (in a thread). Also the read models' shapes: ``RunOut``, ``hello``, snapshots as JSON,
history as CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from backprop_core.datasets import Dataset

from ..schemas import RunConfig
from ..worker import frames
from . import history
from .data import DataService
from .history import Shape, Tail
from .run import Run
from .runs import NotFound, RunManager
from .storage import Storage

PAGE = 1000  # history points read from storage at once
DATA_CACHE = 32 * 2**20  # bytes of recent runs' data as JSON kept (one at least)

def links(run_id: str) -> dict[str, str]:
    base = f"/api/runs/{run_id}"
    return {"self": base, "ws": f"/ws/runs/{run_id}", "history": f"{base}/history",
            "snapshots": f"{base}/snapshots", "export": f"{base}/export", "data": f"{base}/data"}


def live_out(run: Run) -> dict[str, Any]:
    return {
        "id": run.id, "name": run.name, "kind": run.meta.get("kind", "trained"), "state": run.state.value,
        "reason": run.reason, "epoch": run.epoch,
        "config": run.config.model_dump(), "layer_sizes": run.meta["layer_sizes"],
        "activations": run.meta["activations"], "task": run.meta["task"], "n_classes": run.meta["n_classes"],
        "created_at": run.created_at, "updated_at": run.updated_at, "links": links(run.id),
    }


def row_out(row: dict[str, Any]) -> dict[str, Any]:
    meta = json.loads(row["meta"])
    return {
        "id": row["id"], "name": row["name"], "kind": meta.get("kind", "trained"), "state": row["state"],
        "reason": row["reason"],
        "epoch": row["epoch"], "config": json.loads(row["config"]), "layer_sizes": meta["layer_sizes"],
        "activations": meta["activations"], "task": meta["task"], "n_classes": meta["n_classes"],
        "created_at": row["created_at"], "updated_at": row["updated_at"], "links": links(row["id"]),
    }


def hello_message(out: dict[str, Any], meta: dict[str, Any], points_json: list[str], shape: Shape) -> str:
    """``hello`` as JSON text, its ``history`` (the epochs ``shape`` names) spliced in from points serialised
    once (a long run's hello would otherwise hold the event loop for json.dumps of every point)."""
    head = json.dumps({"type": "hello", "run": out, "layer_sizes": meta["layer_sizes"],
                       "activations": meta["activations"], "grid": meta.get("grid"),
                       "history_total": shape.count, "history_stride": shape.stride,
                       "history_complete_from": shape.complete_from, "history_start": shape.start},
                      separators=(",", ":"), allow_nan=False)
    return head[:-1] + ',"history":[' + ",".join(points_json) + "]}"


class RunReader:
    """Answers reads from memory when the run is live, from SQLite otherwise (NotFound when neither)."""

    live_out = staticmethod(live_out)

    def __init__(self, runs: RunManager, storage: Storage, data: DataService) -> None:
        self.runs, self.storage, self.data = runs, storage, data
        self._data_cache: OrderedDict[str, bytes] = OrderedDict()  # data_json's, by the data's config
        self._data_locks: dict[str, asyncio.Lock] = {}

    async def _row(self, run_id: str) -> dict[str, Any]:
        row = await asyncio.to_thread(self.storage.get_run, run_id)
        if row is None:
            raise NotFound(f"no run {run_id!r}")
        return row

    def _live(self, run_id: str) -> Run | None:
        run = self.runs.runs.get(run_id)
        return run if run is not None and run.meta else None  # (a run still being created is not there yet)

    async def out(self, run_id: str) -> dict[str, Any]:
        run = self._live(run_id)
        if run is not None:
            return live_out(run)
        elsewhere = await self.runs.describe(run_id)  # live on another node of a cluster
        return elsewhere if elsewhere is not None else row_out(await self._row(run_id))

    async def page(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        rows, total = await asyncio.to_thread(self.storage.list_runs, limit, offset)
        out = []
        for row in rows:
            run = self._live(row["id"])
            out.append(live_out(run) if run is not None else row_out(row))
        return out, total

    async def meta(self, run_id: str) -> dict[str, Any]:
        run = self._live(run_id)
        if run is not None:
            return dict(run.meta)
        meta: dict[str, Any] = json.loads((await self._row(run_id))["meta"])
        return meta

    # -- history: what is in memory from there, the rest from SQLite (history.py) ------------------------------
    def _tail(self, run_id: str) -> Tail | None:
        run = self._live(run_id)
        return run.history if run is not None else None

    def _fetch(self, run_id: str) -> tuple[history.Fetch, history.FetchAt]:
        return (lambda start, end: self.storage.points(run_id, start, end),
                lambda epochs: self.storage.points_at(run_id, epochs))

    async def count(self, run_id: str) -> int:
        """How many epochs the run's history has (NotFound when there is no such run)."""
        tail = self._tail(run_id)
        if tail is not None:
            return len(tail)
        await self._row(run_id)
        return await asyncio.to_thread(self.storage.count, run_id)

    async def read(self, run_id: str, start: int, end: int) -> list[str]:
        """The EpochPoint JSON texts of epochs [start, end)."""
        return await history.read(self._tail(run_id), self._fetch(run_id)[0], start, end)

    async def pages(self, run_id: str, start: int = 0, end: int | None = None,
                    page: int = PAGE) -> AsyncIterator[list[str]]:
        """The points of epochs [start, end) (to the newest there is now by default), ``page`` at a time:
        memory independent of the run's length."""
        if end is None:
            end = await self.count(run_id)
        while start < end:
            points = await self.read(run_id, start, min(end, start + page))
            if not points:
                return
            yield points
            start += len(points)

    async def history(self, run_id: str) -> list[dict[str, Any]]:
        return [json.loads(p) async for page in self.pages(run_id) for p in page]

    async def thinned(self, run_id: str, limit: int) -> list[dict[str, Any]]:
        """At most ``limit`` points (``history.Thinner``), read page by page: memory independent of the run's
        length."""
        count = await self.count(run_id)
        if count <= limit:
            return await self.history(run_id)
        thinner = history.Thinner(count, limit)
        async for page in self.pages(run_id, 0, count):
            for text in page:
                thinner.add(json.loads(text))
        return thinner.result()

    async def hello_text(self, run_id: str, count: int | None = None, since: int = -1,
                         run: Run | None = None) -> str:
        """``hello``, with the history's first ``count`` epochs (all there are by default) after ``since`` (a
        reconnecting client has those up to it). ``run``: the live run (or a cluster's view of one) followed."""
        tail: Tail | None
        if run is not None:
            out, meta, tail = live_out(run), dict(run.meta), run.history
        else:
            out, meta, tail = await self.out(run_id), await self.meta(run_id), self._tail(run_id)
        if count is None:
            count = len(tail) if tail is not None else await self.count(run_id)
        fetch, fetch_at = self._fetch(run_id)
        points, shape = await history.hello_points(tail, fetch, fetch_at, count, since + 1)
        return hello_message(out, meta, points, shape)

    async def stored_epochs(self, run_id: str) -> tuple[list[int], int | None]:
        run = self._live(run_id)
        if run is None:
            await self._row(run_id)
        epochs, latest = await asyncio.to_thread(self.storage.stored_epochs, run_id)
        if run is not None and run.frame and run.frame_at[1] == 0:
            latest = run.frame_at[0]
            if latest not in epochs:
                epochs.append(latest)
        return sorted(set(epochs)), latest

    async def frame(self, run_id: str, epoch: int) -> bytes | None:
        run = self._live(run_id)
        if run is None:
            await self._row(run_id)
        elif run.frame and run.frame_at == (epoch, 0):
            return run.frame
        elif (waiting := run.unsaved_frame(epoch)) is not None:
            return waiting
        return await asyncio.to_thread(self.storage.frame, run_id, epoch)

    async def latest_frame(self, run_id: str) -> bytes | None:
        run = self._live(run_id)
        if run is not None:
            return run.frame or None
        await self._row(run_id)
        return await asyncio.to_thread(self.storage.latest_frame, run_id)

    async def config(self, run_id: str) -> RunConfig:
        run = self._live(run_id)
        if run is not None:
            return run.config
        return RunConfig.model_validate_json((await self._row(run_id))["config"])

    async def dataset(self, run_id: str) -> Dataset:
        """The run's own data, rebuilt from its config (deterministic from its seed)."""
        return await asyncio.to_thread(self.data.load, await self.config(run_id))

    async def data_json(self, run_id: str) -> bytes:
        """``DataOut`` of the run's data as JSON, made once however many ask at once (a big upload's is tens
        of MB) and kept for the next ones while the recent ones stay under DATA_CACHE bytes."""
        cfg = await self.config(run_id)  # NotFound for a run that is not there (any more)
        key = cfg.model_dump_json(include={"dataset", "n_samples", "noise", "train_fraction", "seed", "features",
                                           "standardize"})
        lock = self._data_locks.setdefault(key, asyncio.Lock())
        async with lock:
            text = self._data_cache.get(key)
            if text is None:
                ds = await asyncio.to_thread(self.data.load, cfg)
                text = await asyncio.to_thread(_data_json, ds)
                self._data_cache[key] = text
                while sum(len(t) for t in self._data_cache.values()) > DATA_CACHE and len(self._data_cache) > 1:
                    self._data_cache.pop(next(iter(self._data_cache)))
            else:
                self._data_cache.move_to_end(key)
        if not lock.locked():
            self._data_locks.pop(key, None)
        return text


def _data_json(ds: Dataset) -> bytes:
    return json.dumps(data_out(ds), separators=(",", ":"), allow_nan=False).encode()


def data_out(ds: Dataset, rows: int | None = None) -> dict[str, Any]:
    """A dataset's points as ``DataOut`` (train order = the probe index): the raw data, and how the
    network's inputs are made from it. ``rows``: at most this many, the first of each split in proportion."""
    raw = ds.raw
    n_train, n_test = ds.n_train, ds.n_test
    if rows is not None and rows < n_train + n_test:
        n_train = min(n_train, round(rows * n_train / (n_train + n_test)))
        n_test = min(n_test, rows - n_train)
    return {
        "name": ds.name, "task": ds.task, "n_classes": ds.n_classes, "feature_names": list(ds.feature_names),
        "class_names": list(ds.class_names), "image_shape": list(ds.image_shape) if ds.image_shape else None,
        "train": {"X": raw.X_train[:n_train].tolist(), "y": ds.y_train[:n_train].tolist()},
        "test": {"X": raw.X_test[:n_test].tolist(), "y": ds.y_test[:n_test].tolist()},
        "column_names": list(raw.feature_names), **inputs_out(ds),
    }


def inputs_out(ds: Dataset) -> dict[str, Any]:
    """How a raw example becomes the network's inputs: a⁰ = (φ(x) − mean) / scale."""
    return {"feature_names": list(ds.feature_names), "standardized": ds.standardized,
            "mean": ds.mean.tolist(), "scale": ds.scale.tolist()}


def snapshot_json(frame: bytes) -> dict[str, Any]:
    header, tensors = frames.decode(frame)
    return {
        "epoch": header["epoch"], "batch": header["batch"], "probe_index": header["probe_index"],
        "train_cost": header["train_cost"], "test_cost": header["test_cost"], "accuracy": header["accuracy"],
        "learning_rate": header.get("learning_rate"),
        "tensors": {name: {"shape": list(a.shape), "data": _finite_list(a)} for name, a in tensors.items()},
    }


def _finite_list(a: np.ndarray) -> list[float | None]:
    flat = a.astype(np.float64).ravel().tolist()
    return [v if math.isfinite(v) else None for v in flat]


def csv_header(n_layers: int) -> str:
    """The history CSV's header row."""
    return csv_rows([["epoch", "train_cost", "test_cost", "accuracy", "train_accuracy", "learning_rate",
                      *(f"grad_norm_{l}" for l in range(1, n_layers + 1)),
                      *(f"delta_norm_{l}" for l in range(1, n_layers + 1))]])


def csv_points(points_json: list[str]) -> str:
    """History CSV rows of EpochPoint JSON texts."""
    rows = []
    for text in points_json:
        p = json.loads(text)
        rows.append([p["epoch"], p["train_cost"], p["test_cost"], p["accuracy"], p["train_accuracy"],
                     p["learning_rate"], *p["grad_norms"], *p["delta_norms"]])
    return csv_rows(rows)


def csv_rows(rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue()


def nearest(epochs: list[int], epoch: int, k: int = 2) -> list[int]:
    return sorted(sorted(epochs, key=lambda e: (abs(e - epoch), e))[:k])
