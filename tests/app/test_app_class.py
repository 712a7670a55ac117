"""A server a class can share (issue 10), the parts that need no uvicorn: the in-memory history tail over a real
SQLite file, the shape of a long hello, the stream's server-wide budget, the history's pages, the dataset
cache's byte bound, previews' caps, admission by estimated memory and the defaults that let a class train.
The real-server halves are in tests/reliability/test_reliability_class.py."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.schemas import RunConfig
from app.services import history
from app.services.data import DataService, nbytes
from app.services.fanout import Fanout, Flow
from app.services.history import HELLO_ALL, HELLO_RECENT, HELLO_THIN, TAIL, Shape, Tail
from app.services.storage import Pending, Storage
from tests.support import wait_for


def point(epoch: int) -> str:
    return json.dumps({"epoch": epoch, "train_cost": 1.0 / (epoch + 1)})


def epochs_of(points: list[str]) -> list[int]:
    return [json.loads(p)["epoch"] for p in points]


# -- the history tail -----------------------------------------------------------------------------------------
def test_the_tail_lets_go_only_of_what_storage_holds_and_reads_join_memory_and_sqlite(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "db.sqlite3", 2**20)
    storage.create_run({"id": "r", "name": "", "config": "{}", "meta": "{}", "state": "running", "reason": "",
                        "epoch": 0, "created_at": "t", "updated_at": "t"})
    tail = Tail()
    n = 5 * TAIL
    tail.extend([point(e) for e in range(n)], [float(e) for e in range(n)])
    tail.committed(0)  # storage has nothing yet: everything stays
    assert tail.base == 0 and len(tail) == n
    row = {"state": "running", "reason": "", "epoch": 0, "updated_at": "t", "name": "", "config": "{}"}
    storage.write([Pending("r", row, [point(e) for e in range(3 * TAIL)])])
    tail.committed(3 * TAIL)  # storage has the first 3 × TAIL: memory keeps TAIL of those and all the rest
    assert tail.base == 3 * TAIL and len(tail) == n  # what storage lacks, and the newest TAIL, stay
    assert tail.ended(tail.base) == float(tail.base) and tail.ended(tail.base - 1) is None

    def fetch(start: int, end: int) -> list[str]:
        return storage.points("r", start, end)

    def fetch_at(epochs: list[int]) -> list[str]:
        return storage.points_at("r", epochs)

    got = asyncio.run(history.read(tail, fetch, 0, n))
    assert epochs_of(got) == list(range(n))
    picked = [0, 7, tail.base - 1, tail.base, n - 1]
    assert epochs_of(asyncio.run(history.read_at(tail, fetch_at, picked))) == picked
    assert storage.count("r") == 3 * TAIL
    storage.close()


@pytest.mark.parametrize("count", [1, HELLO_ALL, HELLO_ALL + 1, 10_000, 100_001, 1_000_000])
def test_a_long_hello_is_evenly_thinned_then_complete_and_ends_at_the_newest(count: int) -> None:
    shape = Shape.of(count)
    carried = shape.thinned() + list(range(shape.complete_from, count))
    assert carried[-1] == count - 1
    assert len(carried) <= HELLO_ALL
    if count <= HELLO_ALL:
        assert (shape.stride, shape.complete_from) == (1, 0) and carried == list(range(count))
    else:
        assert shape.complete_from == count - HELLO_RECENT
        assert shape.stride & (shape.stride - 1) == 0 and len(shape.thinned()) <= HELLO_THIN
        assert shape.thinned()[0] == 0 and all(e % shape.stride == 0 for e in shape.thinned())
        assert Shape.of(count + 1).stride in (shape.stride, 2 * shape.stride)  # the chosen epochs stay put


# -- the stream's server-wide budget -----------------------------------------------------------------------------
class _Client:
    def __init__(self) -> None:
        self.flow = Flow(None)

    def stalled(self) -> None:
        raise AssertionError("a client without a transport is never judged by the watchdog")


def test_each_clients_share_of_the_snapshot_budget_falls_as_clients_join() -> None:
    s = Settings(snapshot_rate=1200, snapshot_mb_rate=120, max_frame_rate=60, metrics_rate=5000)

    async def go() -> list[tuple[float, float, float]]:
        fan = Fanout(s)
        out = []
        for n in (1, 10, 200, 1000):
            while len(fan.clients) < n:
                fan.join(_Client())
            out.append((fan.frame_interval(50_000), fan.frame_interval(8 * 2**20), fan.metrics_interval()))
        await fan.close()
        return out

    (one, ten, class_, crowd) = asyncio.run(go())
    assert one[0] == pytest.approx(1 / 60) and ten[0] == pytest.approx(1 / 60)  # under the budget: the per-client cap
    assert class_[0] == pytest.approx(200 / 1200)  # 200 clients share 1 200 sends a second: 6 each
    assert crowd[0] == pytest.approx(1000 / 1200)
    assert one[1] == pytest.approx(8 / 120) and class_[1] == pytest.approx(200 * 8 / 120)  # big frames: by bytes
    assert one[2] < 0.001 and class_[2] == pytest.approx(200 / 5000) and crowd[2] == pytest.approx(0.2)


# -- REST: the history's pages -----------------------------------------------------------------------------------
def test_the_history_pages_by_since_and_limit_in_json_and_csv(client: TestClient) -> None:
    rid = client.post("/api/runs", json={"epochs": 30}).json()["id"]
    wait_for(lambda: client.get(f"/api/runs/{rid}").json()["state"] == "done", timeout=120)
    whole = client.get(f"/api/runs/{rid}/history").json()
    assert [p["epoch"] for p in whole["points"]] == list(range(31)) and whole["next"] is None
    seen, since = [], -1
    while since is not None:
        page = client.get(f"/api/runs/{rid}/history", params={"since": since, "limit": 7}).json()
        assert len(page["points"]) <= 7
        seen += page["points"]
        since = page["next"]
    assert seen == whole["points"]
    assert client.get(f"/api/runs/{rid}/history", params={"since": 30}).json() == {"points": [], "next": None}
    rows = list(csv.reader(io.StringIO(client.get(f"/api/runs/{rid}/history",
                                                  params={"format": "csv", "since": 9, "limit": 5}).text)))
    assert rows[0][0] == "epoch" and [int(r[0]) for r in rows[1:]] == [10, 11, 12, 13, 14]
    for bad in ({"limit": 0}, {"limit": 10_001}, {"since": -2}):
        assert client.get(f"/api/runs/{rid}/history", params=bad).status_code == 422, bad
    assert client.get("/api/runs/ffffffffffff/history").status_code == 404


# -- datasets: the cache's byte bound, loaded once, previews' caps ------------------------------------------------
def test_the_dataset_cache_is_bounded_by_bytes_and_a_dataset_asked_for_at_once_loads_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, dataset_cache_mb=0.1)
    storage = Storage(settings.db_path, 2**20)
    loads: list[str] = []

    class Counting(DataService):
        def _load(self, cfg: RunConfig) -> Any:
            loads.append(cfg.dataset)
            return super()._load(cfg)

    data = Counting(settings, storage)
    sizes = [nbytes(data.load(RunConfig(dataset="circle", n_samples=400, seed=s))) for s in range(8)]
    assert data._cached_bytes <= 0.1 * 2**20 < sum(sizes)
    data.load(RunConfig(dataset="digits"))  # ~1 MB: larger than the whole cache, not kept
    assert data._cached_bytes <= 0.1 * 2**20
    loads.clear()
    cfg = RunConfig(dataset="spiral", n_samples=2000, seed=99)
    threads = [threading.Thread(target=data.load, args=(cfg,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == ["spiral"], loads
    storage.close()


def _csv(rows: int, columns: int) -> bytes:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(rows, columns)).round(3)
    lines = [",".join([*(f"c{i}" for i in range(columns)), "label"])]
    lines += [",".join(map(str, x)) + f",{int(x[0] > 0)}" for x in X]
    return ("\n".join(lines) + "\n").encode()


def _rows(out: dict[str, Any]) -> int:
    return len(out["train"]["X"]) + len(out["test"]["X"])


def test_previews_honour_their_caps_uploads_too(client: TestClient) -> None:
    def upload(rows: int, columns: int) -> str:
        r = client.post("/api/datasets", files={"file": ("t.csv", _csv(rows, columns), "text/csv")},
                        data={"label_column": "label"})
        assert r.status_code == 201, r.text
        return str(r.json()["name"])

    tall, wide = upload(12_000, 4), upload(4_000, 100)
    assert _rows(client.get(f"/api/datasets/{tall}").json()) == 5000  # 12 000 rows: the default cap
    small = client.get(f"/api/datasets/{tall}", params={"n_samples": 100}).json()
    assert _rows(small) == 100 and len(small["train"]["X"]) == 50
    assert _rows(client.get(f"/api/datasets/{wide}").json()) == 200_000 // 100  # the values cap
    assert _rows(client.get("/api/datasets/circle", params={"n_samples": 300}).json()) == 300
    assert client.get(f"/api/datasets/{tall}", params={"n_samples": 5001}).status_code == 422


# -- runs: a class's worth train; beyond the estimated memory, a clear 429 ----------------------------------------
def test_the_default_limits_let_a_class_of_runs_train_at_once(client: TestClient) -> None:
    ids = [client.post("/api/runs", json={"epochs": 100_000, "speed": 1}).json()["id"] for _ in range(40)]
    states = {client.get(f"/api/runs/{i}").json()["state"] for i in ids}
    assert states == {"running"}, states
    limits = client.get("/api/catalog").json()["limits"]
    assert limits["max_running"] >= 300 and limits["max_queued"] >= 300
    for i in ids:
        client.post(f"/api/runs/{i}/stop")


def test_runs_beyond_the_estimated_memory_get_429_until_one_ends(make_client: Callable[..., TestClient]) -> None:
    c = make_client(runs_memory_mb=2.5)  # a small run is estimated at ~1 MB
    a = c.post("/api/runs", json={"epochs": 100_000, "speed": 5})
    b = c.post("/api/runs", json={"epochs": 100_000, "speed": 5, "start": False})
    assert a.status_code == b.status_code == 201
    r = c.post("/api/runs", json={})
    assert r.status_code == 429 and "BPV_RUNS_MEMORY_MB" in r.json()["detail"], r.text
    big = make_client(runs_memory_mb=64).post("/api/runs", json={"dataset": "digits", "hidden_layers": [1024, 1024]})
    assert big.status_code == 429 and "MB" in big.json()["detail"], big.text
    c.post(f"/api/runs/{a.json()['id']}/stop")
    assert c.post("/api/runs", json={"start": False}).status_code == 201


# -- a long history's report: thinned as it is read ---------------------------------------------------------------
def _thin_reference(points: list[dict[str, Any]], limit: int) -> list[int]:
    """The report's rule computed at once with NumPy: the ends, and per bucket (np.array_split) the first
    lowest and first highest training cost, or the bucket's first point when it has none."""
    n = len(points)
    cost = np.array([np.nan if p["train_cost"] is None else p["train_cost"] for p in points])
    keep = {0, n - 1}
    for chunk in np.array_split(np.arange(n), max(1, (limit - 2) // 2)):
        if np.isnan(cost[chunk]).all():
            keep.add(int(chunk[0]))
        else:
            keep |= {int(chunk[np.nanargmin(cost[chunk])]), int(chunk[np.nanargmax(cost[chunk])])}
    return sorted(keep)


@pytest.mark.parametrize("n, limit", [(2001, 2000), (10_007, 2000), (5000, 7), (999, 50)])
def test_the_streamed_thinning_keeps_what_the_whole_history_would(n: int, limit: int) -> None:
    rng = np.random.default_rng(n)
    costs = rng.random(n).round(2)  # ties: the first lowest and highest are kept
    points = [{"epoch": i, "train_cost": None if (i // 37) % 11 == 3 else float(costs[i])} for i in range(n)]
    thinner = history.Thinner(n, limit)
    for p in points:
        thinner.add(p)
    got = [p["epoch"] for p in thinner.result()]
    assert got == _thin_reference(points, limit)
    assert len(got) <= limit
