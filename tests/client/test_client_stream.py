"""``watch()`` against a real server: gap-free across dropped connections (a loopback TCP relay that the test
cuts), snapshots, endings (done, diverged, stopped), a stream the server refuses, and the async client."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import numpy as np
import pytest

from backprop_viz import AsyncClient, Client, ConflictError, EpochPoint, Run, Snapshot, StreamError
from tests.support import Server

DIVERGES = {"dataset": "plane", "hidden_layers": [8, 8], "activation": "relu", "output_activation": "linear",
            "learning_rate": 100, "batch_size": 1, "epochs": 1000}


class Relay:
    """A TCP relay on 127.0.0.1 to the server; ``cut()`` drops every connection open through it (the client
    sees its stream die mid-run), new ones are still relayed."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                down, _ = self.listener.accept()
            except OSError:
                return
            up = socket.create_connection(self.target)
            with self._lock:
                self.accepted += 1
                self._open += [down, up]
            for a, b in ((down, up), (up, down)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        with self._lock:
            conns, self._open = self._open, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.listener.close()
        self.cut()


def test_watch_is_gap_free_across_dropped_connections(client: Client, server: Server) -> None:
    relay = Relay(server.port)
    try:
        with Client(f"http://127.0.0.1:{relay.port}") as through:
            run = through.start(dataset="circle", epochs=300, speed=150)  # paced: it is live while we cut
            seen: list[int] = []
            cuts = {40: False, 120: False}
            for point in run.watch():
                seen.append(point["epoch"])
                if point["epoch"] in cuts and not cuts[point["epoch"]]:
                    cuts[point["epoch"]] = True
                    relay.cut()
            assert all(cuts.values())
            assert seen == list(range(0, 301))  # nothing lost, nothing twice
            assert run.state == "done"
            assert relay.accepted >= 4  # the REST call, then three stream connections
    finally:
        relay.close()


def test_watch_with_snapshots(client: Client) -> None:
    run = client.start(dataset="xor", hidden_layers=[4], epochs=40)
    points: list[EpochPoint] = []
    snaps: list[Snapshot] = []
    for item in run.watch(snapshots=True):
        (snaps if isinstance(item, Snapshot) else points).append(item)  # type: ignore[arg-type]
    assert [p["epoch"] for p in points] == list(range(0, 41))
    assert snaps, "at least the snapshot sent right after hello"
    keys = [(s.epoch, s.batch) for s in snaps]
    assert keys == sorted(set(keys))  # newer ones only, never one twice
    assert all(s["W1"].shape == (2, 4) and np.isfinite(s["W1"]).all() for s in snaps)


def test_watch_of_a_finished_run_gives_its_last_snapshot(client: Client) -> None:
    """A run that ended before the stream opened (a short run, a slow client): hello says so, and the snapshot
    right after it is still read."""
    run = client.start(dataset="xor", hidden_layers=[4], epochs=5)
    assert [p["epoch"] for p in run.watch()] == list(range(0, 6))  # until it is done
    items = list(run.watch(snapshots=True))
    snaps = [s for s in items if isinstance(s, Snapshot)]
    assert [p["epoch"] for p in items if not isinstance(p, Snapshot)] == list(range(0, 6))
    assert [(s.epoch, s.batch) for s in snaps] == [(5, 0)]
    np.testing.assert_array_equal(snaps[0]["W1"], run.snapshot()["W1"])


def test_watch_ends_when_the_run_diverges(client: Client) -> None:
    run = client.start(**DIVERGES)
    points = list(run.watch())
    assert run.state == "diverged" and "learning rate" in run.reason
    assert [p["epoch"] for p in points] == list(range(0, len(points)))
    assert len(points) < 1001


def test_watch_of_a_stopped_run_ends_and_of_a_finished_one_replays(client: Client) -> None:
    run = client.start(epochs=100_000, speed=100)
    with_stop = run.watch()
    first = [next(with_stop) for _ in range(6)]  # epochs 0 … 5
    run.stop()
    rest = list(with_stop)  # ends: the run is stopped (the epoch in flight may still come)
    assert run.state == "stopped"
    epochs = [p["epoch"] for p in first + rest]
    assert epochs == list(range(0, len(epochs)))
    again = Run(client, client.run(run.id).info)
    assert [p["epoch"] for p in again.watch()] == [p["epoch"] for p in run.history()]
    assert [p["epoch"] for p in again.watch(since=3)][:1] == [4]


def test_a_stream_the_server_refuses_raises(client: Client) -> None:
    run = client.start(epochs=2)
    ghost = Run(client, {**run.info, "id": "ffffffffffff"})
    with pytest.raises(StreamError) as e:
        list(ghost.watch())
    assert e.value.code == 1008 and "no run" in e.value.reason


def test_the_async_client(server: Server) -> None:
    async def go() -> dict[str, Any]:
        async with AsyncClient(server.url) as c:
            run = await c.start(dataset="gauss", hidden_layers=[3], epochs=20, name="async")
            epochs = [p["epoch"] async for p in run.watch()]
            snap = await run.snapshot()
            history = await run.history()
            with pytest.raises(ConflictError):
                await run.pause()
            listed = [r.id for r in await c.runs()]
            paused = await c.start(start=False, epochs=50)
            await paused.step()
            stream = paused.watch()
            first_trained = await anext(p async for p in stream if p["epoch"] == 1)
            await stream.aclose()  # type: ignore[attr-defined]
            await paused.stop()
            return {"epochs": epochs, "snap": snap, "history": history, "listed": listed, "run": run,
                    "step": first_trained, "paused": paused}

    got = asyncio.run(go())
    assert got["epochs"] == list(range(0, 21)) and [p["epoch"] for p in got["history"]] == got["epochs"]
    assert got["snap"].epoch == 20 and got["snap"]["W1"].shape == (2, 3)
    assert got["run"].id in got["listed"] and got["run"].state == "done"
    assert got["step"]["epoch"] == 1 and got["paused"].state == "stopped"
