"""A server a whole class can share (issue 10), against a REAL uvicorn: many watchers while a class's runs
train, clients that never read big snapshots, a long run's hello (live and after a restart) and the Python
client's gap-free watch of it, a client that fell far behind. Nothing here depends on the machine's speed:
every wait is for an event, and the only thresholds are of memory. The figures are measured by
benchmarks/bench_class.py."""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import time
from typing import Any

import websockets

from backprop_viz import AsyncClient, Client
from tests import support as kit

TINY = {"dataset": "xor", "n_samples": 10, "hidden_layers": [], "batch_size": 5}  # thousands of epochs a second


def _watchers(url: str, n: int, go: Any, out: Any) -> None:
    """A client process: n watchers of url; reports each one's epochs (hello history + metrics, in order)."""

    async def main() -> list[list[int]]:
        watches = [kit.Watch() for _ in range(n)]
        tasks = [asyncio.create_task(kit.watch(url, timeout=600, watch_out=w)) for w in watches]
        while not all(w.hello for w in watches) and not any(t.done() for t in tasks):
            await asyncio.sleep(0.05)
        go.release()
        return [w.all_epochs() for w in await asyncio.gather(*tasks)]

    out.put(asyncio.run(main()))


def test_a_hundred_watchers_get_every_point_while_a_class_of_runs_all_train(make_server: Any) -> None:
    srv = make_server()
    ctx = mp.get_context("spawn")
    with srv.client() as http:
        students = [kit.create_run(http, epochs=100_000, speed=20, seed=s) for s in range(16)]
        demo = kit.create_run(http, start=False, epochs=60, speed=20, name="the teacher's demo")
        go, out = ctx.Semaphore(0), ctx.Queue()
        procs = [ctx.Process(target=_watchers, args=(f"{srv.ws_url}/ws/runs/{demo['id']}", 50, go, out))
                 for _ in range(2)]
        for p in procs:
            p.start()
        for _ in procs:
            assert go.acquire(timeout=120), "the watchers did not connect"
        http.post(f"/api/runs/{demo['id']}/resume").raise_for_status()
        states = {kit.strict_loads(http.get(f"/api/runs/{r['id']}").text)["state"] for r in [*students, demo]}
        seen = [e for _ in procs for e in out.get(timeout=600)]
        for p in procs:
            p.join(30)
        for r in students:
            http.post(f"/api/runs/{r['id']}/stop")
    assert states == {"running"}, f"every run of the class trains at once: {states}"
    assert len(seen) == 100
    for i, epochs in enumerate(seen):
        assert epochs == list(range(61)), f"watcher {i}: {epochs[:3]} … {epochs[-3:]} ({len(epochs)})"


def _hello(url: str) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with websockets.connect(url, max_size=2**26, compression=None, open_timeout=60) as ws:
            msg: dict[str, Any] = json.loads(await ws.recv())
            return msg

    return asyncio.run(go())


def _check_thinned(hello: dict[str, Any], count: int) -> None:
    assert hello["type"] == "hello" and hello["history_total"] == count
    stride, start = hello["history_stride"], hello["history_complete_from"]
    epochs = [p["epoch"] for p in hello["history"]]
    assert stride > 1 and stride & (stride - 1) == 0, stride
    assert epochs == [*range(0, start, stride), *range(start, count)]
    assert len(epochs) <= 2000 and epochs[-1] == count - 1


def test_a_long_runs_hello_is_thinned_and_watch_fills_the_gap_live_and_after_a_restart(make_server: Any) -> None:
    srv = make_server(BPV_MAX_EPOCHS="1000000")
    epochs = 6000
    with srv.client() as http:
        run = kit.create_run(http, epochs=epochs, **TINY)
        follower = Client(srv.url)
        kit.wait_epoch(http, run["id"], 2500, timeout=600)
        live = [p["epoch"] for p in follower.run(run["id"]).watch()]  # joins mid-run, reads on to the end
        assert live == list(range(epochs + 1))
        kit.wait_state(http, run["id"], "done")
        _check_thinned(_hello(f"{srv.ws_url}/ws/runs/{run['id']}"), epochs + 1)
        since3000 = [p["epoch"] for p in follower.run(run["id"]).watch(since=3000)]
        assert since3000 == list(range(3001, epochs + 1))
    srv.stop()
    srv.start()
    _check_thinned(_hello(f"{srv.ws_url}/ws/runs/{run['id']}"), epochs + 1)
    with Client(srv.url) as follower:
        stored = [p["epoch"] for p in follower.run(run["id"]).watch()]
        assert stored == list(range(epochs + 1))
        assert [p["epoch"] for p in follower.run(run["id"]).history()] == stored

    async def watch_async() -> list[int]:
        client = AsyncClient(srv.url)
        try:
            return [p["epoch"] async for p in (await client.run(run["id"])).watch()]
        finally:
            await client.aclose()

    assert asyncio.run(watch_async()) == list(range(epochs + 1))


def test_a_client_far_behind_catches_up_from_storage_in_order(make_server: Any) -> None:
    """A client that reads nothing while the run trains 15 000 epochs (more than the kernel's buffers, ~2 MB
    here, and the server's in-memory tail hold), then reads: every point comes, in order; those the server
    no longer held in memory were read back from SQLite, so their messages carry no ``ended_at``."""
    srv = make_server(BPV_WS_SEND_TIMEOUT="600")
    epochs = 25_000
    with srv.client() as http:
        run = kit.create_run(http, start=False, epochs=epochs, **TINY)
        ws = kit.RawWS(srv.port, f"/ws/runs/{run['id']}", rcvbuf=65536)
        http.post(f"/api/runs/{run['id']}/resume").raise_for_status()
        kit.wait_epoch(http, run["id"], 15_000, timeout=900)
        seen: list[int] = []
        without_time = 0
        for opcode, payload in ws.frames(timeout=600):
            if opcode == 9:  # uvicorn's keep-alive ping, read at last: answer it
                ws.send(payload, opcode=10)
            assert opcode != 8, f"closed: {payload!r}"
            if opcode != 1:
                continue
            m = kit.strict_loads(payload)
            if m["type"] == "hello":
                seen += [p["epoch"] for p in m["history"]]
            elif m["type"] == "metrics":
                seen += [p["epoch"] for p in m["points"]]
                without_time += "ended_at" not in m
            elif m["type"] == "state" and m["state"] == "done":
                break
        ws.close()
    gaps = [(a, b) for a, b in zip(seen, seen[1:], strict=False) if b != a + 1]
    assert seen == list(range(epochs + 1)), f"{len(seen)} points, gaps {gaps[:5]}, last {seen[-3:]}"
    assert without_time > 0, "the client never fell behind the in-memory tail"


def test_clients_that_never_read_big_snapshots_cost_bounded_memory_and_are_let_go(make_server: Any) -> None:
    """30 clients that never read a run of ~8.7 MB snapshots: without bounds each would hold a snapshot
    (260 MB). The server holds at most BPV_SNAPSHOT_BUFFER_MB of them, cuts the clients off once they take
    nothing, aborts them when the close frame cannot go out, and its memory comes back down."""
    srv = make_server(BPV_WS_SEND_TIMEOUT="3", BPV_SNAPSHOT_BUFFER_MB="24")
    with srv.client() as http:
        run = kit.create_run(http, dataset="digits", hidden_layers=[1024, 1024], epochs=100_000)
        path = f"/ws/runs/{run['id']}"
        kit.wait_epoch(http, run["id"], 1, timeout=300)
        frame_mb = len(srv.get_bytes(f"/api/runs/{run['id']}/snapshots/0?format=binary")) / 2**20

        def abuse() -> tuple[float, float, float]:
            rss0 = srv.rss_mb()  # the well-behaved watcher has its first snapshot: the server's steady state
            clients = [kit.RawWS(srv.port, path, rcvbuf=4096) for _ in range(30)]
            peak = rss0
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and srv.log().count("took no message") < 5:
                peak = max(peak, srv.rss_mb())
                time.sleep(0.1)
            for _ in range(50):  # the cut-offs and aborts of the others meanwhile
                peak = max(peak, srv.rss_mb())
                time.sleep(0.1)

            def settled() -> float | None:
                rss = srv.rss_mb()
                return rss if rss < rss0 + 3 * frame_mb else None

            after = kit.wait_for(settled, timeout=180, interval=0.5, what="the server's memory to come back down")
            for c in clients:
                c.close()
            return rss0, peak, after

        rss0, peak, after = asyncio.run(_watch_beside(f"{srv.ws_url}{path}", abuse))
        http.post(f"/api/runs/{run['id']}/stop")
    kit.FIGURES["30 never-readers of 8.7 MB snapshots: server RSS before / peak / after (MiB)"] = (
        f"{rss0:.0f} / {peak:.0f} / {after:.0f}")
    assert peak - rss0 < 24 + 6 * frame_mb, f"RSS grew {peak - rss0:.0f} MiB for 30 clients"
    assert after < rss0 + 3 * frame_mb


async def _watch_beside(url: str, act: Any) -> Any:
    """``act()`` (in a thread) while a well-behaved client watches: it must see every epoch, in order."""
    w, stop = kit.Watch(), asyncio.Event()
    task = asyncio.create_task(kit.watch(url, until_terminal=False, timeout=900, watch_out=w, stop=stop))
    await kit.wait_async(lambda: _true(w.hello and w.frames > 0), timeout=120,
                         what="the well-behaved watcher's hello and first snapshot")
    result = await asyncio.to_thread(act)
    stop.set()
    await task
    assert w.gaps() == [] and w.epochs, f"the well-behaved watcher: gaps {w.gaps()[:5]}, {len(w.epochs)} epochs"
    return result


async def _true(value: bool) -> bool:
    return value
