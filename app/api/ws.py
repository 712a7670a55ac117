"""``WS /ws/runs/{id}``: the run stream (docs/protocol.md).

On connect: ``hello`` (config, state, layer sizes, the whole history), then the newest binary snapshot.
Then, as the run trains: ``metrics`` (every epoch, no gaps), binary snapshots (latest wins), ``state``.
The client may send ``control`` and ``probe`` messages. Two tasks per client: a sender that follows the
run's hub and a reader of the client's messages; one lock orders their sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool

from ..config import Settings
from ..services.hub import Feed
from ..services.lifecycle import IllegalTransition
from ..services.present import Reader
from ..services.run import Run
from ..services.runs import LimitExceeded, NotFound, RunManager
from .deps import token_ok

router = APIRouter()
log = logging.getLogger("backprop_viz.ws")
FLOOD_LIMIT = 100  # messages per second a client may send
CLOSE_WAIT = 5.0  # seconds a close frame may wait for a slow client's buffer before we give up on it


class _Client:
    """One connection's sends: ordered by a lock, each cut off after ``timeout`` seconds (the setting
    ``ws_send_timeout``): a send waits only while the client's buffer is full, i.e. while it does not read."""

    def __init__(self, ws: WebSocket, timeout: float) -> None:
        self.ws = ws
        self.timeout = timeout
        self.lock = asyncio.Lock()

    async def text(self, msg: dict[str, Any]) -> None:
        await self.raw(json.dumps(msg, separators=(",", ":"), allow_nan=False))

    async def raw(self, data: str) -> None:
        async with self.lock, asyncio.timeout(self.timeout):  # asyncio.timeout: no task per send (wait_for)
            await self.ws.send_text(data)

    async def binary(self, data: bytes) -> None:
        async with self.lock, asyncio.timeout(self.timeout):
            await self.ws.send_bytes(data)


def _metrics_text(run: Run, start: int, end: int) -> str:
    """The metrics message for points [start, end), built once for all the clients at the same place."""
    cached = run.metrics_cache
    if cached[0] == start and cached[1] == end:
        return cached[2]
    text = ('{"type":"metrics","points":[' + ",".join(run.points_json[start:end]) + '],"ended_at":'
            + json.dumps(run.ended_at[end - 1]) + "}")  # the points were serialised once, by the run
    run.metrics_cache = (start, end, text)
    return text


def origin_allowed(ws: WebSocket, settings: Settings) -> bool:
    """Same origin (the Host the client connected to), or one listed in the settings; no Origin = not a
    browser, allowed."""
    origin = ws.headers.get("origin")
    if origin is None:
        return True
    if origin in settings.allowed_origins or "*" in settings.allowed_origins:
        return True
    return urlsplit(origin).netloc == ws.headers.get("host", "")


def _read_token(ws: WebSocket) -> str | None:
    """The token of a stream that reads need one for: ``?token=`` (browsers cannot set headers on a
    WebSocket) or ``Authorization: Bearer`` on the handshake."""
    auth = ws.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return ws.query_params.get("token")


@router.websocket("/ws/runs/{run_id}")
async def run_stream(ws: WebSocket, run_id: str) -> None:
    settings: Settings = ws.app.state.settings
    runs: RunManager = ws.app.state.runs
    await ws.accept()
    if not origin_allowed(ws, settings):
        await ws.close(1008, "origin not allowed")
        return
    if settings.token_for_reads and not token_ok(settings, _read_token(ws)):
        await ws.close(1008, "this server needs an API token for reads: connect with ?token=<token>")
        return
    run = runs.runs.get(run_id)
    reader = Reader(runs, ws.app.state.storage)
    client = _Client(ws, settings.ws_send_timeout)
    try:
        if run is None:
            try:
                await _hello_stored(client, reader, run_id)
            except NotFound:
                await ws.close(1008, f"no run {run_id[:40]!r}")
                return
            await _read(client, runs, run_id, settings)
            return
        feed = run.hub.add()
        try:
            await _follow(client, runs, run, feed, settings)
        finally:
            run.hub.remove(feed)
    except (WebSocketDisconnect, asyncio.CancelledError):
        pass
    except TimeoutError:  # a send waited ws_send_timeout: the client does not read
        client_addr = ":".join(str(p) for p in ws.client or ("?", "?"))
        log.warning("WebSocket client %s took no message for %g s: closing it (1008)", client_addr,
                    settings.ws_send_timeout)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_WAIT):  # the close frame queues behind what it did not read
                await ws.close(1008, f"client too slow: it took no message for {settings.ws_send_timeout:g} s")


def _hello(out: dict[str, Any], meta: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "hello", "run": out, "layer_sizes": meta["layer_sizes"],
            "activations": meta["activations"], "grid": meta.get("grid"), "history": history}


def _with_history(hello: dict[str, Any], points_json: list[str]) -> str:
    """``hello`` as JSON text with its ``history`` spliced in from points serialised once by the run (a long
    run's hello would otherwise hold the event loop for json.dumps of every point)."""
    head = json.dumps({k: v for k, v in hello.items() if k != "history"}, separators=(",", ":"), allow_nan=False)
    return head[:-1] + ',"history":[' + ",".join(points_json) + "]}"


async def _hello_stored(client: _Client, reader: Reader, run_id: str) -> None:
    out = await run_in_threadpool(reader.out, run_id)
    meta = await run_in_threadpool(reader.meta, run_id)
    history = await run_in_threadpool(reader.history, run_id)
    await client.text(_hello(out, meta, history))
    frame = await run_in_threadpool(reader.latest_frame, run_id)
    if frame:
        await client.binary(frame)
    await client.text({"type": "state", "state": out["state"], "reason": out["reason"], "epoch": out["epoch"]})


async def _follow(client: _Client, runs: RunManager, run: Run, feed: Feed, settings: Settings) -> None:
    from ..services.present import live_out

    sent = len(run.points_json)
    await client.raw(_with_history(_hello(live_out(run), run.meta, []), run.points_json[:sent]))
    seq, frame = run.frame()
    if frame:
        await client.binary(frame)
    sender = asyncio.create_task(_send_loop(client, run, feed, sent, seq))
    reader = asyncio.create_task(_read(client, runs, run.id, settings))
    try:  # whichever ends first ends the connection: a sender that timed out must not wait for the reader
        done, _ = await asyncio.wait({sender, reader}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, reader):
            task.cancel()
        for task in (sender, reader):
            with contextlib.suppress(BaseException):
                await task
    for task in done:
        exc = task.exception()
        # A send that timed out means a client that does not read: run_stream closes it with 1008. Any other
        # failed send means the connection is gone already (the client left, or uvicorn closed it: 1007, 1009).
        if exc is not None and (task is reader or isinstance(exc, TimeoutError)):
            raise exc


async def _send_loop(client: _Client, run: Run, feed: Feed, sent: int, last_seq: int) -> None:
    while True:
        await feed.event.wait()
        feed.event.clear()
        end = len(run.points_json)
        if end > sent:
            text = _metrics_text(run, sent, end)
            sent = end
            await client.raw(text)
        while feed.states:
            await client.text(feed.states.popleft())
        seq, _ = run.latest()
        if seq != last_seq:
            await asyncio.sleep(0)  # let every client's metrics go out before any client's snapshot
            last_seq, frame = run.frame()
            await client.binary(frame)


async def _read(client: _Client, runs: RunManager, run_id: str, settings: Settings) -> None:
    ws = client.ws
    window_start, count = time.monotonic(), 0
    while True:
        msg = await ws.receive()
        if msg["type"] == "websocket.disconnect":
            return
        count += 1
        if time.monotonic() - window_start > 1.0:
            window_start, count = time.monotonic(), 1
        if count > FLOOD_LIMIT:
            await ws.close(1008, f"more than {FLOOD_LIMIT} messages a second")
            return
        if msg.get("bytes") is not None:
            await ws.close(1003, "binary messages are not accepted; send JSON text")
            return
        text = msg.get("text") or ""
        if len(text) > settings.max_ws_message:
            await ws.close(1009, f"message larger than {settings.max_ws_message} bytes")
            return
        reply = await _handle(text, runs, run_id, settings)
        if reply is not None:
            await client.text(reply)


def _error(message: str, status: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "error", "message": message}
    if status is not None:
        out["status"] = status
    return out


async def _handle(text: str, runs: RunManager, run_id: str, settings: Settings) -> dict[str, Any] | None:
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError):  # deeply nested arrays overflow the parser's stack
        return _error("messages must be JSON objects with a 'type'", 400)
    if not isinstance(msg, dict):
        return _error("messages must be JSON objects with a 'type'", 400)
    kind = msg.get("type")
    if kind not in ("control", "probe"):
        return _error(f"unknown message type {str(kind)[:40]!r}; valid: control, probe", 400)
    if not token_ok(settings, msg.get("token") if isinstance(msg.get("token"), str) else None):
        return _error("this server needs an API token: add \"token\" to control messages", 401)
    try:
        if kind == "probe":
            index = msg.get("index")
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                return _error("probe: 'index' must be a non-negative integer", 400)
            await run_in_threadpool(runs.patch, run_id, None, None, False, index, None, None)
            return None
        return await _control(msg, runs, run_id)
    except NotFound as e:
        return _error(str(e), 404)
    except IllegalTransition as e:
        return _error(str(e), 409)
    except LimitExceeded as e:
        return _error(str(e), e.status)
    except ValueError as e:
        return _error(str(e), 422)


async def _control(msg: dict[str, Any], runs: RunManager, run_id: str) -> dict[str, Any] | None:
    action = msg.get("action")
    if action in ("pause", "resume", "stop"):
        await run_in_threadpool(runs.action, run_id, action)
    elif action == "step":
        unit = msg.get("unit", "epoch")
        if unit not in ("epoch", "batch"):
            return _error("step: 'unit' must be 'epoch' or 'batch'", 400)
        await run_in_threadpool(runs.action, run_id, "step", unit)
    elif action == "set":
        lr = msg.get("learning_rate")
        if lr is not None and (not isinstance(lr, int | float) or isinstance(lr, bool)
                               or not math.isfinite(lr) or not 0 < lr <= 100):
            return _error("set: 'learning_rate' must be a number in (0, 100]", 400)
        speed_given = "speed" in msg
        speed = msg.get("speed")
        if speed is not None and (not isinstance(speed, int | float) or isinstance(speed, bool)
                                  or not math.isfinite(speed) or not 0 < speed <= 100_000):
            return _error("set: 'speed' must be null or a number of epochs per second in (0, 100000]", 400)
        await run_in_threadpool(runs.patch, run_id, lr, speed, speed_given, None, None, None)
    else:
        return _error(f"unknown control action {str(action)[:40]!r}; valid: pause, resume, step, stop, set", 400)
    return None
