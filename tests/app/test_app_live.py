"""A REAL uvicorn (subprocess, free loopback port) driven over REST with httpx and over the stream with the
``websockets`` client library: the stream against REST snapshots, pause/step/resume, a slow client beside a
fast one, restarts (graceful and crash), and bad input that must not stop the server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.worker import frames
from tests.support import Server, at_rest, check_frame_layout, committed, expected_shapes, wait_async, wait_for

pytestmark = pytest.mark.timeout(180)


class Stream:
    """A websockets client that records every message: (receipt time, kind, payload)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.log: list[tuple[float, str, Any]] = []
        self.epochs: list[int] = []  # every metrics point's epoch, in order of arrival
        self.points: dict[int, dict[str, Any]] = {}

    async def recv(self, timeout: float = 30.0) -> tuple[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        if isinstance(raw, bytes):
            item: tuple[str, Any] = ("bytes", raw)
        else:
            msg = json.loads(raw)
            item = ("json", msg)
            if msg["type"] in ("metrics", "hello"):
                for p in msg["points"] if msg["type"] == "metrics" else msg["history"]:
                    self.epochs.append(p["epoch"])
                    self.points[p["epoch"]] = p
        self.log.append((time.monotonic(), *item))
        return item

    async def until(self, pred: Any, timeout: float = 60.0) -> tuple[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            item = await self.recv(max(0.05, deadline - time.monotonic()))
            if pred(item):
                return item

    async def send(self, msg: dict[str, Any] | str) -> None:
        await self.ws.send(msg if isinstance(msg, str) else json.dumps(msg))


def js(kind: str) -> Any:
    return lambda item: item[0] == "json" and item[1]["type"] == kind


def frame_at(epoch: int, batch: int = 0) -> Any:
    return lambda item: item[0] == "bytes" and (h := frames.header_only(item[1]))["epoch"] == epoch \
        and h["batch"] == batch


def open_ws(server: Server, run_id: str) -> Any:
    return connect(f"{server.ws_url}/ws/runs/{run_id}", max_size=None, compression=None, open_timeout=30,
                   close_timeout=2)


def assert_consecutive(epochs: list[int]) -> None:
    assert epochs == list(range(epochs[0], epochs[0] + len(epochs))), f"gap or repeat in {epochs[:50]}…"


# -- the stream against REST -----------------------------------------------------------------------------------
def test_stream_snapshots_equal_rest_snapshots_and_control(live_server: Server) -> None:
    async def main() -> None:
        async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
            # 400 epochs fit the snapshot budget: every epoch is stored (the stride stays 1)
            r = await http.post("/api/runs", json={"speed": 40, "epochs": 400, "probe_index": 2})
            assert r.status_code == 201, r.text
            rid = r.json()["id"]
            async with open_ws(live_server, rid) as ws:
                s = Stream(ws)
                kind, hello = await s.recv()
                assert kind == "json" and hello["type"] == "hello" and hello["layer_sizes"] == [2, 4, 2, 1]
                start = len(s.epochs)
                frames_seen: dict[int, bytes] = {}
                while len(s.epochs) - start < 25:
                    kind, m = await s.recv()
                    if kind == "bytes":
                        frames_seen[frames.header_only(m)["epoch"]] = m
                assert_consecutive(s.epochs)
                assert s.epochs[0] == 0
                assert frames_seen, "a watcher gets snapshots"
                shapes = expected_shapes([2, 4, 2, 1], grid=40)
                for frame in frames_seen.values():
                    header, tensors = check_frame_layout(frame)
                    assert header["probe_index"] == 2
                    for name, shape in shapes.items():
                        assert tensors[name].shape == shape, name
                    assert header["train_cost"] == pytest.approx(s.points[header["epoch"]]["train_cost"])
                # stored epochs (every epoch is, under the budget) equal what the stream carried
                checked = 0
                for epoch, frame in sorted(frames_seen.items())[:5]:
                    async def stored(epoch: int = epoch) -> bool:
                        listed = (await http.get(f"/api/runs/{rid}/snapshots")).json()["epochs"]
                        return epoch in listed
                    await wait_async(stored, what=f"epoch {epoch} stored")
                    rest = await http.get(f"/api/runs/{rid}/snapshots/{epoch}", params={"format": "binary"})
                    assert rest.status_code == 200, (epoch, rest.text)
                    h1, t1 = frames.decode(frame)
                    h2, t2 = frames.decode(rest.content)
                    assert h1 == h2 and t1.keys() == t2.keys()
                    for name in t1:
                        np.testing.assert_array_equal(t1[name], t2[name], err_msg=name)
                    checked += 1
                assert checked == min(5, len(frames_seen))

                # pause over the stream; the newest frame equals REST's snapshot of that epoch
                await s.send({"type": "control", "action": "pause"})
                _, st = await s.until(js("state"))
                assert st["state"] == "paused"
                # the epoch in flight at the pause still comes: where the run stands, from its worker
                paused = await asyncio.to_thread(_at_rest, live_server, rid)
                assert paused["state"] == "paused"
                epoch = paused["epoch"]
                _, frame = await _last_frame_of(s, epoch)
                rest = await http.get(f"/api/runs/{rid}/snapshots/{epoch}?format=binary")
                assert rest.status_code == 200
                assert rest.content == frame, "the same bytes over WS and REST"
                js_snap = (await http.get(f"/api/runs/{rid}/snapshots/{epoch}")).json()
                _, t = frames.decode(frame)
                np.testing.assert_allclose(np.asarray(js_snap["tensors"]["dW2"]["data"], np.float32),
                                           t["dW2"].ravel())

                # step one epoch, one batch; then resume
                await s.send({"type": "control", "action": "step", "unit": "epoch"})
                _, m = await s.until(js("metrics"))
                assert m["points"][-1]["epoch"] == epoch + 1
                await s.until(frame_at(epoch + 1))
                await s.send({"type": "control", "action": "step", "unit": "batch"})
                _, batch_frame = await s.until(frame_at(epoch + 1, batch=1))
                assert not np.array_equal(frames.decode(batch_frame)[1]["W1"],
                                          frames.decode(frame)[1]["W1"])
                await s.send({"type": "control", "action": "resume"})
                _, st = await s.until(js("state"))
                assert st["state"] == "running"
                n = len(s.epochs)
                while len(s.epochs) < n + 5:
                    await s.recv()
                assert_consecutive(s.epochs)
                await s.send({"type": "control", "action": "stop"})
                _, st = await s.until(js("state"))
                assert st["state"] == "stopped"

    asyncio.run(main())


def _at_rest(server: Server, run_id: str) -> dict[str, Any]:
    with server.client() as http:
        return at_rest(http, run_id)


async def _last_frame_of(s: Stream, epoch: int) -> tuple[str, bytes]:
    """The frame of ``epoch``: already received (the newest), or the next one to come."""
    for _, kind, payload in reversed(s.log):
        if kind == "bytes":
            if frames.header_only(payload)["epoch"] == epoch:
                return kind, payload
            break
    item = await s.until(frame_at(epoch))
    return item[0], item[1]


# -- a slow client beside a fast one ----------------------------------------------------------------------------
SLOW_WINDOW = 100  # epochs the run trains while the slow client takes nothing


def test_slow_client_does_not_hold_back_a_fast_one_or_training(live_server: Server) -> None:
    """The slowest client there is: one that stops reading, with a small receive window (the server's sends to
    it back up within a few frames), beside one that reads everything. While the slow one takes nothing the
    run trains on and the fast one gets every epoch and fresh snapshots; then the slow one reads again and
    gets every epoch too, in order. Only events are waited for: how fast is benchmarks/bench_stream.py's."""

    async def main() -> None:
        async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
            rid = (await http.post("/api/runs", json={"epochs": 100_000})).json()["id"]
            rss0 = int(live_server.rss_mb() * 1024)
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: the window it offers
            sock.connect(("127.0.0.1", live_server.port))
            slow_ws = await connect(f"{live_server.ws_url}/ws/runs/{rid}", sock=sock, max_size=None,
                                    compression=None, open_timeout=30, close_timeout=2, max_queue=1,
                                    ping_interval=None)  # no keep-alive of its own while it does not read
            fast_ws = await open_ws(live_server, rid)
            slow, fast = Stream(slow_ws), Stream(fast_ws)
            await slow.until(js("hello"))
            start = slow.epochs[-1]  # the slow one's hello history ends here; it reads nothing more for now

            stop = asyncio.Event()

            async def read_fast() -> None:  # until stopped and its connection dropped
                with contextlib.suppress(ConnectionClosed):
                    while not stop.is_set():
                        await fast.recv(timeout=30)

            reader = asyncio.create_task(read_fast())

            async def fast_has(epoch: int) -> bool:
                if reader.done():
                    reader.result()  # raises what stopped the fast client
                return bool(fast.epochs) and fast.epochs[-1] >= epoch

            async def fast_frame_after(epoch: int) -> bool:
                return any(k == "bytes" and frames.header_only(p)["epoch"] > epoch for _, k, p in fast.log)

            async def run_at(epoch: int) -> bool:
                return bool((await http.get(f"/api/runs/{rid}")).json()["epoch"] >= epoch)

            target = start + SLOW_WINDOW
            await wait_async(lambda: run_at(target), what=f"the run to train to epoch {target} (slow client idle)")
            await wait_async(lambda: fast_has(target), what=f"the fast client to get epoch {target}")
            await wait_async(lambda: fast_frame_after(start), what="a fresh snapshot for the fast client")
            rss1 = int(live_server.rss_mb() * 1024)
            stop.set()  # not cancel(): Python 3.11's wait_for may swallow a cancellation that meets a message
            fast_ws.transport.abort()
            await reader
            # the slow one reads again: every epoch, in order, up to the window's end (metrics are never dropped)
            while not slow.epochs or slow.epochs[-1] < target:
                await slow.recv(timeout=30)
            slow_ws.transport.abort()

            assert_consecutive(fast.epochs)
            assert fast.epochs[0] == 0
            n_hello = len(fast.log[0][2]["history"])
            assert sum(len(p["points"]) for _, k, p in fast.log if k == "json" and p["type"] == "metrics") \
                == len(fast.epochs) - n_hello
            assert_consecutive(slow.epochs)
            assert slow.epochs[0] == 0
            assert rss1 - rss0 < 60_000, (rss0, rss1)
            assert (await http.get("/healthz")).status_code == 200

    asyncio.run(main())


# -- restarts -----------------------------------------------------------------------------------------------------
def _watch(server: Server, run_id: str, epochs: int) -> int:
    """Watch ``run_id`` until its stream has brought ``epochs`` epochs' metrics; the newest epoch a client saw."""

    async def main() -> int:
        async with open_ws(server, run_id) as ws:
            s = Stream(ws)
            await s.until(js("hello"))
            end = (s.epochs[-1] if s.epochs else 0) + epochs
            while not s.epochs or s.epochs[-1] < end:
                await s.recv()
            return s.epochs[-1]

    return asyncio.run(main())


def _check_interrupted(http: httpx.Client, run_id: str, must_have: int, graceful: bool) -> None:
    live = http.get(f"/api/runs/{run_id}").json()
    assert live["state"] == "interrupted" and live["reason"], live
    hist = [p["epoch"] for p in http.get(f"/api/runs/{run_id}/history").json()["points"]]
    assert hist == list(range(len(hist)))
    # every epoch committed before a crash (every epoch a client saw, with a graceful stop) is in the history
    assert hist[-1] >= must_have, (hist[-1], must_have)
    if graceful:  # the lifespan's shutdown flushed everything: the run's row agrees with its history
        assert live["epoch"] == hist[-1]
    snaps = http.get(f"/api/runs/{run_id}/snapshots").json()
    assert snaps["latest"] is not None and snaps["latest"] <= hist[-1]
    assert http.get(f"/api/runs/{run_id}/export").status_code == 200
    for action in ("resume", "pause", "step"):
        r = http.post(f"/api/runs/{run_id}/{action}")
        assert r.status_code == 409 and "interrupted" in r.json()["detail"]


def test_restarts_find_finished_runs_and_interrupt_live_ones(tmp_path: Path) -> None:
    """Crash (SIGKILL) and graceful stop (SIGTERM), each followed by a start on the same data dir."""
    server = Server(tmp_path / "data", tmp_path / "uvicorn.log")
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            done_id = http.post("/api/runs", json={"epochs": 12, "name": "finished"}).json()["id"]
            wait_for(lambda: http.get(f"/api/runs/{done_id}").json()["state"] == "done")
            crash_id = http.post("/api/runs", json={"epochs": 100_000, "speed": 100}).json()["id"]
            paused_id = http.post("/api/runs", json={"start": False}).json()["id"]
        seen = _watch(server, crash_id, 40)
        # the storage writer commits what clients were shown: the file itself holds the epoch seen, then the crash
        wait_for(lambda: committed(server.db_path, crash_id)["epochs"][-1:] >= [seen],
                 what=f"epoch {seen} committed to the database")
        server.stop(kill=True)
        must_have = seen

        server.start()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            runs = {r["id"]: r for r in http.get("/api/runs").json()["items"]}
            assert set(runs) == {done_id, crash_id, paused_id}
            done = runs[done_id]
            assert done["state"] == "done" and done["epoch"] == 12 and done["name"] == "finished"
            pts = http.get(f"/api/runs/{done_id}/history").json()["points"]
            assert [p["epoch"] for p in pts] == list(range(13))
            assert http.get(f"/api/runs/{done_id}/snapshots/12").status_code == 200
            _check_interrupted(http, crash_id, must_have, graceful=False)
            assert runs[paused_id]["state"] == "interrupted"
            term_id = http.post("/api/runs", json={"epochs": 100_000, "speed": 100}).json()["id"]
        must_have = _watch(server, term_id, 40)
        server.stop(kill=False)  # the graceful stop writes all that was shown

        server.start()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            runs = {r["id"]: r for r in http.get("/api/runs").json()["items"]}
            assert set(runs) == {done_id, crash_id, paused_id, term_id}
            assert runs[done_id]["state"] == "done"
            _check_interrupted(http, term_id, must_have, graceful=True)
            assert http.post("/api/runs", json={"epochs": 3}).status_code == 201
    finally:
        server.stop()


# -- bad input keeps the server serving ---------------------------------------------------------------------------
def test_bad_configs_ids_and_messages_keep_the_server_serving(live_server: Server) -> None:
    async def main() -> None:
        async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
            for body in ({"hidden_layers": [1024] * 3}, {"activation": "nope"}, {"epochs": -1},
                         {"learning_rate": "x"}, [], "null", {"dataset": "../../etc/passwd"}):
                r = await http.post("/api/runs", json=body)
                assert r.status_code == 422, (body, r.text)
            r = await http.post("/api/runs", content=b"\xff\x00garbage", headers={"content-type": "application/json"})
            assert r.status_code in (400, 422)
            for rid in ("ffffffffffff", "nope", "%2e%2e", "a" * 500):
                assert (await http.get(f"/api/runs/{rid}")).status_code in (404, 422)
                assert (await http.post(f"/api/runs/{rid}/pause")).status_code in (404, 422)
            rid = (await http.post("/api/runs", json={"start": False})).json()["id"]

            # unknown run
            async with open_ws(live_server, "ffffffffffff") as ws:
                with pytest.raises(ConnectionClosed) as ei:
                    await asyncio.wait_for(ws.recv(), 30)
                assert ei.value.rcvd is not None and ei.value.rcvd.code == 1008
            # malformed messages: errors, then still serving on the same connection
            async with open_ws(live_server, rid) as ws:
                s = Stream(ws)
                await s.until(js("hello"))
                for bad in ("nope", "{}", '{"type": "control", "action": "fly"}', '{"type": "probe", "index": -5}',
                            '{"type": "probe", "index": 999999}', "[" * 10_000):
                    await s.send(bad)
                    _, err = await s.until(js("error"))
                    assert err["message"]
                await s.send({"type": "control", "action": "step"})
                _, m = await s.until(js("metrics"))
                assert m["points"][-1]["epoch"] == 1
            # binary from the client: 1003
            async with open_ws(live_server, rid) as ws:
                await ws.send(b"\x01\x02")
                with pytest.raises(ConnectionClosed) as ei:
                    while True:
                        await asyncio.wait_for(ws.recv(), 30)
                assert ei.value.rcvd is not None and ei.value.rcvd.code == 1003
            # a message over 64 KiB: 1009 from the app
            async with open_ws(live_server, rid) as ws:
                await ws.send(json.dumps({"type": "probe", "index": 1, "pad": "x" * 100_000}))
                with pytest.raises(ConnectionClosed) as ei:
                    while True:
                        await asyncio.wait_for(ws.recv(), 30)
                assert ei.value.rcvd is not None and ei.value.rcvd.code == 1009
            # over uvicorn's --ws-max-size (1 MiB): the connection goes (the server may not wait to say why)
            async with open_ws(live_server, rid) as ws:
                with pytest.raises(ConnectionClosed):
                    await ws.send("x" * (2 << 20))
                    while True:
                        await asyncio.wait_for(ws.recv(), 30)
            # an abrupt disconnect mid-stream
            run2 = (await http.post("/api/runs", json={"epochs": 100_000})).json()["id"]
            ws = await open_ws(live_server, run2)
            await ws.recv()
            ws.transport.abort()
            # the server streamed every epoch since (to a connection that was reset) and the run trained on
            aborted_at = (await http.get(f"/api/runs/{run2}")).json()["epoch"]

            async def trained_on() -> bool:
                return bool((await http.get(f"/api/runs/{run2}")).json()["epoch"] >= aborted_at + 50)

            await wait_async(trained_on, what="the run to train 50 epochs past the abort")
            assert (await http.get("/healthz")).json()["status"] == "ok"
            r = (await http.get(f"/api/runs/{run2}")).json()
            assert r["state"] == "running"
            assert live_server.alive()

    asyncio.run(main())
