"""The run stream's protocol (docs/protocol.md), in one place: one ``StreamSession`` per WebSocket client.

On connect: ``hello`` (config, state, layer sizes, the whole history), then the newest binary snapshot.
Then, as the run trains: ``metrics`` (every epoch, no gaps: a cursor into the run's history), binary
snapshots (latest wins, at most ``max_frame_rate`` a second) and ``state``. The client's ``control`` and
``probe`` messages are validated by the REST API's own models and carried out by the run service.

Snapshots are made on demand: when this client's newest snapshot is older than one frame interval, the
session asks the run for a fresh one (``Run.want_frame``); every client of the run shares the frames, so
a run builds about ``max_frame_rate`` snapshots a second however many watch it, and none when nobody does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from typing import Any, Literal

from fastapi import WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..config import Settings
from ..schemas import RunPatch, StepRequest
from .lifecycle import IllegalTransition
from .reader import RunReader, hello_message
from .run import Run, RunError
from .runs import NotFound, RunManager

log = logging.getLogger("backprop_viz.ws")
FLOOD_LIMIT = 100  # messages per second a client may send
CLOSE_WAIT = 5.0  # seconds a close frame may wait for a slow client's buffer before we give up on it
CONTROL_ACTIONS = ("pause", "resume", "step", "stop", "set")


class ControlMessage(BaseModel):
    """``{"type": "control", "action": …}``; ``step`` takes a ``unit``, ``set`` a learning rate and/or speed
    (validated as ``RunPatch``)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["control"]
    action: str | None = None
    token: str | None = None


class ProbeMessage(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    type: Literal["probe"]
    index: int = Field(ge=0)
    token: str | None = None


class ClientError(Exception):
    """A message the server could not act on: answered with an ``error`` message, the connection stays."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    def message(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "error", "message": str(self)}
        if self.status is not None:
            out["status"] = self.status
        return out


def _validation_text(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}" for err in e.errors())


class StreamSession:
    def __init__(self, ws: WebSocket, runs: RunManager, reader: RunReader, settings: Settings,
                 authorized: Any) -> None:
        self.ws, self.runs, self.reader, self.settings = ws, runs, reader, settings
        self.authorized = authorized  # (message token) → bool: may this message change the run?
        self.send_lock = asyncio.Lock()
        self.event = asyncio.Event()
        self.states: deque[dict[str, Any]] = deque(maxlen=64)
        self.interval = 1.0 / settings.max_frame_rate
        self.since = -1
        self._timer: asyncio.TimerHandle | None = None

    # -- what the run calls (Watcher) ---------------------------------------------------------------------
    def wake(self) -> None:
        self.event.set()

    def push_state(self, message: dict[str, Any]) -> None:
        self.states.append(message)
        self.event.set()

    # -- sending --------------------------------------------------------------------------------------------
    async def text(self, msg: dict[str, Any]) -> None:
        await self.raw(json.dumps(msg, separators=(",", ":"), allow_nan=False))

    async def raw(self, data: str) -> None:
        """One text frame; a send waits only while the client's buffer is full, and at most
        ``ws_send_timeout`` seconds (TimeoutError: the client does not read)."""
        async with self.send_lock, asyncio.timeout(self.settings.ws_send_timeout):
            await self.ws.send_text(data)

    async def binary(self, data: bytes) -> None:
        async with self.send_lock, asyncio.timeout(self.settings.ws_send_timeout):
            await self.ws.send_bytes(data)

    # -- the session ----------------------------------------------------------------------------------------
    async def serve(self, run_id: str, since: int = -1) -> None:
        """Follow the run until either side leaves; close codes per docs/protocol.md. ``since``: the client
        has every epoch up to this one already (a reconnect): hello's history starts after it."""
        self.since = since
        try:
            run = await self.runs.follow(run_id)
            if run is None:
                try:
                    await self._hello_stored(run_id)
                except NotFound:
                    await self.ws.close(1008, f"no run {run_id[:40]!r}")
                    return
                await self._read(run_id)
            else:
                await self._follow(run)
        except (WebSocketDisconnect, asyncio.CancelledError):
            pass
        except TimeoutError:  # a send waited ws_send_timeout: the client does not read
            addr = ":".join(str(p) for p in self.ws.client or ("?", "?"))
            log.warning("WebSocket client %s took no message for %g s: closing it (1008)", addr,
                        self.settings.ws_send_timeout)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_WAIT):  # the close frame queues behind what it did not read
                    await self.ws.close(1008, "client too slow: it took no message for "
                                              f"{self.settings.ws_send_timeout:g} s")
        finally:
            if self._timer is not None:
                self._timer.cancel()

    async def _hello_stored(self, run_id: str) -> None:
        out = await self.reader.out(run_id)
        await self.raw(await self.reader.hello_text(run_id, self.since))
        frame = await self.reader.latest_frame(run_id)
        if frame:
            await self.binary(frame)
        await self.text({"type": "state", "state": out["state"], "reason": out["reason"], "epoch": out["epoch"]})

    async def _follow(self, run: Run) -> None:
        run.watchers.add(self)
        try:
            sent = len(run.points)
            await self.raw(hello_message(self.reader.live_out(run), run.meta, run.points[self.since + 1:sent]))
            frame_seq, last_frame = run.frame_seq, time.monotonic()
            if run.frame:  # the newest there is, at once; the send loop asks for a fresher one if it is behind
                await self.binary(run.frame)
            sender = asyncio.create_task(self._send_loop(run, sent, frame_seq, last_frame))
            reader = asyncio.create_task(self._read(run.id))
            try:  # whichever ends first ends the connection: a sender that timed out must not wait for the reader
                done, _ = await asyncio.wait({sender, reader}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (sender, reader):
                    task.cancel()
                for task in (sender, reader):
                    with contextlib.suppress(BaseException):
                        await task
        finally:
            run.watchers.discard(self)
        for task in done:
            exc = task.exception()
            # A send that timed out means a client that does not read: serve() closes it with 1008. Any other
            # failed send means the connection is gone already (the client left, or uvicorn closed it).
            if exc is not None and (task is reader or isinstance(exc, TimeoutError)):
                raise exc

    async def _send_loop(self, run: Run, sent: int, frame_seq: int, last_frame: float) -> None:
        self.event.set()  # look once at once: the run may have moved on since hello
        while True:
            await self.event.wait()
            self.event.clear()
            end = len(run.points)
            if end > sent:
                text = _metrics_text(run, sent, end)
                sent = end
                await self.raw(text)
            while self.states:
                await self.text(self.states.popleft())
            now = time.monotonic()
            if run.frame_seq != frame_seq:  # a newer snapshot: send it when this client's interval is over
                due = last_frame + self.interval
                if now < due:
                    self._wake_at(due - now)
                    continue
                await asyncio.sleep(0)  # let every client's metrics go out before any client's snapshot
                frame_seq, frame = run.frame_seq, run.frame
                last_frame = time.monotonic()
                await self.binary(frame)
                now = last_frame
            due = run.frame_time + self.interval  # this client has the newest: is a fresher one worth making?
            if now >= due:
                run.want_frame()
            else:
                self._wake_at(due - now)

    def _wake_at(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(delay, self.event.set)

    # -- the client's messages ------------------------------------------------------------------------------
    async def _read(self, run_id: str) -> None:
        ws = self.ws
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
            if len(text) > self.settings.max_ws_message:
                await ws.close(1009, f"message larger than {self.settings.max_ws_message} bytes")
                return
            try:
                await self._handle(text, run_id)
            except ClientError as e:
                await self.text(e.message())

    async def _handle(self, text: str, run_id: str) -> None:
        try:
            msg = json.loads(text)
        except (ValueError, RecursionError):  # deeply nested arrays overflow the parser's stack
            raise ClientError("messages must be JSON objects with a 'type'", 400) from None
        if not isinstance(msg, dict):
            raise ClientError("messages must be JSON objects with a 'type'", 400)
        kind = msg.get("type")
        if kind not in ("control", "probe"):
            raise ClientError(f"unknown message type {str(kind)[:40]!r}; valid: control, probe", 400)
        token = msg.get("token")
        if not self.authorized(token if isinstance(token, str) else None):
            raise ClientError("this server needs an API token: add \"token\" to control messages", 401)
        try:
            await self._carry_out(msg, run_id)
        except ValidationError as e:
            raise ClientError(f"{kind}: {_validation_text(e)}", 400) from None
        except NotFound as e:
            raise ClientError(str(e), 404) from None
        except IllegalTransition as e:
            raise ClientError(str(e), 409) from None
        except RunError as e:
            raise ClientError(str(e), e.status) from None

    async def _carry_out(self, msg: dict[str, Any], run_id: str) -> None:
        if msg["type"] == "probe":
            probe = ProbeMessage.model_validate(msg)
            await self.runs.patch(run_id, RunPatch(probe_index=probe.index))
            return
        control = ControlMessage.model_validate(msg)
        action = control.action
        if action not in CONTROL_ACTIONS:
            what = "no control action" if action is None else f"unknown control action {action[:40]!r}"
            raise ClientError(f"{what}; valid: {', '.join(CONTROL_ACTIONS)}", 400)
        if action == "step":
            step = StepRequest.model_validate({"unit": msg.get("unit", "epoch")})
            await self.runs.action(run_id, "step", step.unit)
        elif action == "set":
            patch = RunPatch.model_validate({k: msg[k] for k in ("learning_rate", "speed") if k in msg})
            await self.runs.patch(run_id, patch)
        else:
            await self.runs.action(run_id, action)


def _metrics_text(run: Run, start: int, end: int) -> str:
    """The metrics message for points [start, end), built once for all the clients at the same place."""
    cached = run.metrics_cache
    if cached[0] == start and cached[1] == end:
        return cached[2]
    text = ('{"type":"metrics","points":[' + ",".join(run.points[start:end]) + '],"ended_at":'
            + json.dumps(run.ended_at[end - 1]) + "}")  # the points were serialised once, by the worker
    run.metrics_cache = (start, end, text)
    return text
