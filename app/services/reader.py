"""The one read service for runs, live or stored: a live run answers from memory (on the event loop), a
stored one from SQLite (in a thread). Also the read models' shapes: ``RunOut``, ``hello``, snapshots as JSON,
history as CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
from typing import Any

import numpy as np

from backprop_core.datasets import Dataset

from ..schemas import RunConfig
from ..worker import frames
from .data import DataService
from .run import Run
from .runs import NotFound, RunManager
from .storage import Storage


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


def hello_message(out: dict[str, Any], meta: dict[str, Any], points_json: list[str]) -> str:
    """``hello`` as JSON text, its ``history`` spliced in from points serialised once (a long run's hello
    would otherwise hold the event loop for json.dumps of every point)."""
    head = json.dumps({"type": "hello", "run": out, "layer_sizes": meta["layer_sizes"],
                       "activations": meta["activations"], "grid": meta.get("grid")},
                      separators=(",", ":"), allow_nan=False)
    return head[:-1] + ',"history":[' + ",".join(points_json) + "]}"


def points_text(points_json: list[str]) -> str:
    """``History`` as JSON text, from points serialised once."""
    return '{"points":[' + ",".join(points_json) + "]}"


class RunReader:
    """Answers reads from memory when the run is live, from SQLite otherwise (NotFound when neither)."""

    live_out = staticmethod(live_out)

    def __init__(self, runs: RunManager, storage: Storage, data: DataService) -> None:
        self.runs, self.storage, self.data = runs, storage, data

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

    async def points(self, run_id: str) -> list[str]:
        """The history as EpochPoint JSON texts."""
        run = self._live(run_id)
        if run is not None:
            return run.points[:]
        await self._row(run_id)
        return await asyncio.to_thread(self.storage.history_json, run_id)

    async def history(self, run_id: str) -> list[dict[str, Any]]:
        return [json.loads(p) for p in await self.points(run_id)]

    async def hello_text(self, run_id: str, since: int = -1) -> str:
        """``hello`` of a run; its history holds the epochs after ``since`` (all of them by default)."""
        points = await self.points(run_id)
        return hello_message(await self.out(run_id), await self.meta(run_id), points[since + 1:])

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


def data_out(ds: Dataset) -> dict[str, Any]:
    """A dataset's points as ``DataOut`` (train order = the probe index): the raw data, and how the
    network's inputs are made from it."""
    raw = ds.raw
    return {
        "name": ds.name, "task": ds.task, "n_classes": ds.n_classes, "feature_names": list(ds.feature_names),
        "class_names": list(ds.class_names), "image_shape": list(ds.image_shape) if ds.image_shape else None,
        "train": {"X": raw.X_train.tolist(), "y": ds.y_train.tolist()},
        "test": {"X": raw.X_test.tolist(), "y": ds.y_test.tolist()},
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


def history_csv(points: list[dict[str, Any]], n_layers: int) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["epoch", "train_cost", "test_cost", "accuracy", "train_accuracy", "learning_rate",
                *(f"grad_norm_{l}" for l in range(1, n_layers + 1)),
                *(f"delta_norm_{l}" for l in range(1, n_layers + 1))])
    for p in points:
        w.writerow([p["epoch"], p["train_cost"], p["test_cost"], p["accuracy"], p["train_accuracy"],
                    p["learning_rate"], *p["grad_norms"], *p["delta_norms"]])
    return buf.getvalue()


def nearest(epochs: list[int], epoch: int, k: int = 2) -> list[int]:
    return sorted(sorted(epochs, key=lambda e: (abs(e - epoch), e))[:k])
