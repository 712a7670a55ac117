"""Training in worker processes, snapshots on demand (a real uvicorn and real workers).

- Runs train in processes apart from the web process; a worker killed mid-run fails its runs with a reason,
  the server goes on serving and starts a new worker for the next run.
- Every epoch's metrics reach a watcher in order, even at full speed.
- Snapshots with tensors are built only when someone reads them: with nobody watching, every frame the
  server holds is on the storage stride; a watcher gets frames between the stride's epochs.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from app.worker import frames
from tests.support import Server, wait_async, wait_for

pytestmark = pytest.mark.timeout(180)


def _workers(server: Server) -> list[int]:
    return server.workers()


@pytest.fixture
def server(tmp_path: Path) -> Any:
    # a small snapshot budget: a 2 000-epoch run of the default net (~47 KB frames) gets a stride of 64
    srv = Server(tmp_path / "data", tmp_path / "uvicorn.log", env={"BPV_SNAPSHOT_BUDGET_MB": "1.5",
                                                                        "BPV_WORKERS": "2"})
    srv.start()
    yield srv
    srv.stop()


def test_runs_train_in_worker_processes_and_a_killed_worker_fails_only_its_runs(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert _workers(server) == [], "no worker before a run needs one"
        a = http.post("/api/runs", json={"epochs": 100_000, "speed": 50}).json()
        b = http.post("/api/runs", json={"epochs": 100_000, "speed": 50}).json()
        workers = wait_for(lambda: len(_workers(server)) == 2 and _workers(server), what="two workers")
        assert server.pid not in workers
        wait_for(lambda: all(http.get(f"/api/runs/{r['id']}").json()["epoch"] >= 3 for r in (a, b)))
        os.kill(workers[0], signal.SIGKILL)

        def one_failed() -> list[dict[str, Any]]:
            runs = [http.get(f"/api/runs/{r['id']}").json() for r in (a, b)]
            return runs if any(r["state"] == "failed" for r in runs) else []

        runs = wait_for(one_failed, timeout=30, what="the killed worker's run to fail")
        failed = [r for r in runs if r["state"] == "failed"]
        alive = [r for r in runs if r["state"] != "failed"]
        assert len(failed) == 1 and len(alive) == 1, runs
        assert "training worker stopped" in failed[0]["reason"] and "signal 9" in failed[0]["reason"]
        epoch = alive[0]["epoch"]
        wait_for(lambda: http.get(f"/api/runs/{alive[0]['id']}").json()["epoch"] > epoch,
                 what="the other worker's run to go on")
        assert http.get("/healthz").status_code == 200
        c = http.post("/api/runs", json={"epochs": 5}).json()  # a new worker takes the next run
        wait_for(lambda: http.get(f"/api/runs/{c['id']}").json()["state"] == "done", timeout=60)
        assert len(_workers(server)) == 2
    assert "Traceback" not in server.log()


def test_snapshots_are_built_only_for_storage_until_someone_watches(server: Server) -> None:
    async def main() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            run = (await http.post("/api/runs", json={"epochs": 2000, "speed": 200})).json()
            rid = run["id"]

            async def listed() -> dict[str, Any]:
                return dict((await http.get(f"/api/runs/{rid}/snapshots")).json())

            async def three_stored() -> dict[str, Any] | None:
                seen = await listed()
                return seen if len(seen["epochs"]) >= 3 else None

            seen = await wait_async(three_stored, timeout=60, what="three stored epochs")
            stride = seen["epochs"][1] - seen["epochs"][0]
            assert stride > 1 and stride & (stride - 1) == 0, seen
            # nobody watches: every frame the server has is one that storage keeps (the newest included), over
            # five newest frames one after the other
            newest: set[int] = set()

            async def five_newest_on_the_stride() -> bool:
                seen = await listed()
                assert all(e % stride == 0 for e in seen["epochs"]), (stride, seen)
                assert seen["latest"] % stride == 0, (stride, seen)
                newest.add(seen["latest"])
                return len(newest) >= 5

            await wait_async(five_newest_on_the_stride, timeout=120, what="five newest frames")
            # a watcher gets snapshots of the epochs in between, made for it
            off_stride: set[int] = set()
            async with connect(f"{server.ws_url}/ws/runs/{rid}", max_size=None, compression=None) as ws:
                while not off_stride:
                    raw = await asyncio.wait_for(ws.recv(), 30)
                    if isinstance(raw, bytes):
                        epoch = frames.header_only(raw)["epoch"]
                        if epoch % stride:
                            off_stride.add(epoch)
            await http.post(f"/api/runs/{rid}/stop")

    asyncio.run(main())


def test_every_epoch_reaches_a_watcher_in_order_at_full_speed(server: Server) -> None:
    async def main() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            rid = (await http.post("/api/runs", json={"epochs": 1500, "speed": None, "start": False})).json()["id"]
            epochs: list[int] = []
            snapshots = 0
            async with connect(f"{server.ws_url}/ws/runs/{rid}", max_size=None, compression=None) as ws:
                await http.post(f"/api/runs/{rid}/resume")
                while True:
                    raw = await asyncio.wait_for(ws.recv(), 60)
                    if isinstance(raw, bytes):
                        snapshots += 1
                        continue
                    msg = json.loads(raw)
                    if msg["type"] == "hello":
                        epochs += [p["epoch"] for p in msg["history"]]
                    elif msg["type"] == "metrics":
                        epochs += [p["epoch"] for p in msg["points"]]
                    elif msg["type"] == "state" and msg["state"] == "done":
                        break
            # every point once, in order: the metrics of the last epochs come before the state message
            assert epochs == list(range(1501))
            assert snapshots >= 1
            history = (await http.get(f"/api/runs/{rid}/history")).json()["points"]
            assert [p["epoch"] for p in history] == epochs

    asyncio.run(main())


def test_a_snapshot_limit_a_client_asks_for_is_kept_and_a_bad_one_is_refused(server: Server) -> None:
    """``{"type": "frames", "max_rate": r}`` (a page asks for what it draws): after it, this client gets no
    snapshot sooner than 1/r after its last one — here one in 100 s, so at most one more while hundreds of
    epochs stream past; a bad limit is an ``error`` and the connection stays."""

    async def main() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            rid = (await http.post("/api/runs", json={"epochs": 100_000, "speed": None})).json()["id"]
            async with connect(f"{server.ws_url}/ws/runs/{rid}", max_size=None, compression=None) as ws:
                await ws.send(json.dumps({"type": "frames", "max_rate": 0.01}))
                await ws.send(json.dumps({"type": "frames", "max_rate": 0}))  # answered after the first is taken
                first_epoch = None
                after_error = 0
                errors: list[dict[str, Any]] = []
                while True:
                    raw = await asyncio.wait_for(ws.recv(), 60)
                    if isinstance(raw, bytes):
                        after_error += bool(errors)
                        continue
                    msg = json.loads(raw)
                    if msg["type"] == "error":
                        errors.append(msg)
                    elif msg["type"] == "metrics" and errors:
                        first_epoch = msg["points"][0]["epoch"] if first_epoch is None else first_epoch
                        if msg["points"][-1]["epoch"] >= first_epoch + 300:
                            break
                assert errors[0]["status"] == 400 and "max_rate" in errors[0]["message"], errors
                assert after_error <= 1  # the one already due when the limit came, then none for 100 s
                await ws.send(json.dumps({"type": "frames", "max_rate": "fast"}))
                while (msg := await asyncio.wait_for(ws.recv(), 60)) and (
                        isinstance(msg, bytes) or json.loads(msg)["type"] != "error"):
                    pass
            await http.post(f"/api/runs/{rid}/stop")

    asyncio.run(main())


def test_a_client_that_asks_for_compact_grids_gets_them_and_the_others_float32(server: Server) -> None:
    """``{"type": "frames", "max_rate": r, "grids": "u1"}``: this client's snapshots carry the grids as u1 with
    their range (a quarter of their bytes), while another client of the same run still gets float32; a bad
    value is an ``error`` and the connection stays."""

    async def next_frame(ws: Any) -> tuple[dict[str, Any], bytes]:
        while not isinstance(raw := await asyncio.wait_for(ws.recv(), 60), bytes):
            pass
        return frames.header_only(raw), raw

    def grid_dtypes(header: dict[str, Any]) -> set[str]:
        return {t["dtype"] for t in header["tensors"] if t["name"].startswith("grid")}

    async def main() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            rid = (await http.post("/api/runs", json={"epochs": 100_000, "speed": None})).json()["id"]
            url = f"{server.ws_url}/ws/runs/{rid}"
            async with connect(url, max_size=None, compression=None) as compact, \
                    connect(url, max_size=None, compression=None) as plain:
                await compact.send(json.dumps({"type": "frames", "max_rate": 30, "grids": "u1"}))
                header, raw = await next_frame(compact)  # (the one sent as it connected may be float32)
                while grid_dtypes(header) != {"u1"}:
                    header, raw = await next_frame(compact)
                assert all("range" in t for t in header["tensors"] if t["dtype"] == "u1")
                full, full_raw = await next_frame(plain)
                assert grid_dtypes(full) == {"f4"}
                assert len(raw) < len(full_raw) / 2
                await compact.send(json.dumps({"type": "frames", "max_rate": 30, "grids": "f8"}))
                while True:
                    msg = await asyncio.wait_for(compact.recv(), 60)
                    if isinstance(msg, str) and json.loads(msg)["type"] == "error":
                        assert "grids" in json.loads(msg)["message"], msg
                        break
                header, _ = await next_frame(compact)  # still served, still compact
                assert grid_dtypes(header) == {"u1"}
            await http.post(f"/api/runs/{rid}/stop")

    asyncio.run(main())
