"""Datasets for runs: the core's built-in sets and uploaded CSV files (stored under generated names), as the
network sees them: the config's features, standardised unless it says ``standardize: false``."""

from __future__ import annotations

import json
import secrets
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from backprop_core import datasets, prepare
from backprop_core.datasets import Dataset

from ..config import Settings
from ..schemas import RunConfig
from .storage import Storage, StorageError


class DataError(ValueError):
    """A dataset that cannot be had; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 422, field: str = "dataset") -> None:
        super().__init__(message)
        self.status, self.field = status, field


class DataService:
    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.settings = settings
        self.storage = storage
        self._cache: OrderedDict[tuple[Any, ...], tuple[Dataset, int]] = OrderedDict()  # (dataset, bytes)
        self._cached_bytes = 0
        self._loading: dict[tuple[Any, ...], threading.Lock] = {}
        self._lock = threading.Lock()

    def infos(self) -> list[dict[str, Any]]:
        """Built-in datasets, then uploads (newest first)."""
        out = [vars(i).copy() for i in datasets.DATASETS.values()]
        for u in self.storage.list_uploads():
            out.append(_upload_info(u))
        return out

    def load(self, cfg: RunConfig) -> Dataset:
        """The dataset a run config names, deterministic from its seed, prepared as the config says
        (features, standardisation; ``Dataset.raw`` keeps the data itself). Cached: the recent ones, up to
        ``dataset_cache_mb`` between them; a dataset asked for again while it loads is loaded once (six
        previews of one big upload at once parse it once)."""
        key = (cfg.dataset, cfg.n_samples, cfg.noise, cfg.train_fraction, cfg.seed, tuple(cfg.features),
               cfg.standardize)
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                if key in self._cache:
                    self._cache.move_to_end(key)
                    return self._cache[key][0]
            try:
                ds = self._prepare(cfg)
                self._keep(key, ds)
            finally:
                with self._lock:
                    self._loading.pop(key, None)
        return ds

    def _prepare(self, cfg: RunConfig) -> Dataset:
        raw = self._load(cfg)
        try:
            return prepare(raw, cfg.features, standardize=cfg.standardize)
        except ValueError as e:  # features on data that is not 2-D, values too large to standardise
            raise DataError(str(e), 422, "features") from e

    def _keep(self, key: tuple[Any, ...], ds: Dataset) -> None:
        size, cap = nbytes(ds), int(self.settings.dataset_cache_mb * 2**20)
        if size > cap:
            return
        with self._lock:
            self._cache[key] = (ds, size)
            self._cached_bytes += size
            while self._cached_bytes > cap:
                _, (_, old) = self._cache.popitem(last=False)
                self._cached_bytes -= old

    def _load(self, cfg: RunConfig) -> Dataset:
        if cfg.dataset.startswith("csv:"):
            up = self.storage.get_upload(cfg.dataset)
            if up is None:
                raise DataError(f"no uploaded dataset {cfg.dataset!r}; upload one with POST /api/datasets", 422)
            try:
                text = self.storage.read_upload(up["filename"])
            except FileNotFoundError as e:
                raise DataError(f"the file of the uploaded dataset {cfg.dataset!r} is missing ({e}); upload it "
                                "again") from None
            try:
                return self._csv(text, up["label_column"], cfg)
            except ValueError as e:  # the file was valid when uploaded; keep the message
                raise DataError(str(e)) from e
        try:
            return datasets.load(cfg.dataset, n_samples=cfg.n_samples, noise=cfg.noise,
                                 train_fraction=cfg.train_fraction, seed=cfg.seed)
        except ValueError as e:
            field = "n_samples" if "n_samples" in str(e) else "dataset"
            raise DataError(str(e), 422, field) from e

    def _csv(self, content: bytes, label_column: str, cfg: RunConfig | None = None) -> Dataset:
        s = self.settings
        extra = {"train_fraction": cfg.train_fraction, "seed": cfg.seed, "name": cfg.dataset} if cfg else {}
        return datasets.load_csv(content, label_column, max_bytes=s.max_upload_bytes, max_rows=s.max_upload_rows,
                                 max_columns=s.max_upload_columns, **extra)  # type: ignore[arg-type]

    def upload(self, content: bytes, label_column: str, display_name: str) -> dict[str, Any]:
        """Validate an uploaded CSV, store it under a generated name and return its info."""
        if len(content) > self.settings.max_upload_bytes:
            raise DataError(f"file: the upload is {len(content)} bytes; the limit is "
                            f"{self.settings.max_upload_bytes}", 413, "file")
        try:
            ds = self._csv(content, label_column)
        except ValueError as e:
            raise DataError(f"file: {e}", 422, "file") from e
        name = f"csv:{secrets.token_hex(6)}"
        filename = f"{name[4:]}.csv"
        self.storage.save_upload(filename, content)
        info = {
            "task": ds.task, "input_dim": ds.input_dim, "n_classes": ds.n_classes,
            "default_samples": ds.n_train + ds.n_test, "display_name": display_name[:200],
            "two_d": ds.input_dim == 2, "label_column": label_column,
        }
        try:
            self.storage.add_upload(name, filename, label_column, info, datetime.now(UTC).isoformat())
        except StorageError:
            self.storage.drop_upload(filename)  # no file without its row
            raise
        return _upload_info({"name": name, "info": info})


def nbytes(ds: Dataset) -> int:
    """The bytes of a dataset's arrays, its raw source's included."""
    total, seen = 0, set()
    for d in (ds, ds.source):
        for a in (d.X_train, d.y_train, d.X_test, d.y_test) if d is not None else ():
            if id(a) not in seen:
                seen.add(id(a))
                total += a.nbytes
    return total


def _upload_info(row: dict[str, Any]) -> dict[str, Any]:
    info = row["info"] if isinstance(row["info"], dict) else json.loads(row["info"])
    label = info.get("display_name") or "uploaded CSV"
    return {
        "name": row["name"], "task": info["task"],
        "description": f"{label} (CSV, label column {info['label_column']!r})",
        "default_samples": info["default_samples"], "input_dim": info["input_dim"],
        "n_classes": info["n_classes"], "two_d": info["two_d"], "label": label,
    }

