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
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..config import Settings
from ..schemas import RunPatch, StepRequest
from .fanout import Fanout, Flow, transport_of
from .lifecycle import IllegalTransition
from .reader import RunReader
from .run import Run, RunError
from .runs import NotFound, RunManager

log = logging.getLogger("backprop_viz.ws")
FLOOD_LIMIT = 100  # messages per second a client may send
CLOSE_WAIT = 5.0  # seconds a close frame may wait for a slow client's buffer before we give up on it
MAX_POINTS = 1000  # metrics points in one message, at most (a client that fell behind catches up in steps)
FRAME_RETRY = 0.1  # seconds before a client whose snapshot had no room looks again
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


class FramesMessage(BaseModel):
    """``{"type": "frames", "max_rate": r, "grids": "u1"}``: this client takes at most r snapshots a second (a
    page asks for what it can draw), with the grids as float32 (``"f4"``, the default) or compact (``"u1"``,
    a quarter of the bytes); it changes nothing of the run, so it needs no token."""

    model_config = ConfigDict(extra="forbid", strict=True)
    type: Literal["frames"]
    max_rate: float = Field(gt=0, le=1000, allow_inf_nan=False)
    grids: Literal["f4", "u1"] = "f4"


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


@contextlib.asynccontextmanager
async def _closed_is_gone() -> AsyncIterator[None]:
    """A send on a connection the server closed by itself (uvicorn answers a frame that is not UTF-8 with
    1007) is a client gone, as any failed send is: WebSocketDisconnect, not a RuntimeError."""
    try:
        yield
    except RuntimeError as e:
        if "after sending 'websocket.close'" not in str(e):
            raise
        raise WebSocketDisconnect(1006) from e


def _validation_text(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}" for err in e.errors())


class StreamSession:
    def __init__(self, ws: WebSocket, runs: RunManager, reader: RunReader, settings: Settings,
                 authorized: Any) -> None:
        self.ws, self.runs, self.reader, self.settings = ws, runs, reader, settings
        self.authorized = authorized  # (message token) → bool: may this message change the run?
        self.fanout: Fanout = runs.fanout
        self.flow = Flow(transport_of(ws))
        self.send_lock = asyncio.Lock()
        self.event = asyncio.Event()
        self.states: deque[dict[str, Any]] = deque(maxlen=64)
        self.since = -1
        self._timer: asyncio.Handle | None = None
        self._timer_at = 0.0
        self._metrics_due = 0.0  # loop time from which this client may have its next metrics message …
        self._frame_due = 0.0  # … and its next snapshot
        self._min_interval = 0.0  # seconds between this client's snapshots, at least (its "frames" message)
        self._grids = "f4"  # how it takes the grids (its "frames" message)
        self._body: asyncio.Task[None] | None = None
        self._stalled = False

    # -- what the run calls (Watcher) ---------------------------------------------------------------------
    def wake(self, frame: bool = False) -> None:
        """New points (or a new frame): the sender looks now if this client is due, else when it is (what
        arrives meanwhile goes out with it)."""
        due = self._frame_due if frame else self._metrics_due
        if asyncio.get_running_loop().time() >= due:
            self.event.set()
        else:
            self._wake_at(due)

    def push_state(self, message: dict[str, Any]) -> None:
        self.states.append(message)
        self.event.set()

    # -- what the fanout calls (Client) ---------------------------------------------------------------------
    def stalled(self) -> None:
        """The client has taken nothing for ``ws_send_timeout`` seconds: end the session (``serve`` closes)."""
        self._stalled = True
        if self._body is not None:
            self._body.cancel()

    # -- sending --------------------------------------------------------------------------------------------
    async def text(self, msg: dict[str, Any]) -> None:
        await self.raw(json.dumps(msg, separators=(",", ":"), allow_nan=False))

    async def raw(self, data: str) -> None:
        """One text frame; a send waits only while the client's buffer is over its high-water mark. A client
        that takes nothing is found by the fanout's watchdog; without a transport to watch, a send waits at
        most ``ws_send_timeout`` seconds (TimeoutError)."""
        async with self.send_lock, self._bounded(), _closed_is_gone():
            await self.ws.send_text(data)
        self.fanout.sent(self, len(data))

    async def binary(self, data: bytes) -> None:
        """A snapshot (reserved with the fanout first)."""
        async with self.send_lock, self._bounded(), _closed_is_gone():
            await self.ws.send_bytes(data)
        self.fanout.sent(self, len(data))

    def _bounded(self) -> contextlib.AbstractAsyncContextManager[Any]:
        if self.flow.transport is not None:
            return contextlib.nullcontext()
        return asyncio.timeout(self.settings.ws_send_timeout)

    # -- the session ----------------------------------------------------------------------------------------
    async def serve(self, run_id: str, since: int = -1) -> None:
        """Follow the run until either side leaves; close codes per docs/protocol.md. ``since``: the client
        has every epoch up to this one already (a reconnect): hello's history starts after it."""
        self.since = since
        self.fanout.join(self)
        self._body = asyncio.create_task(self._serve(run_id))
        try:
            await self._body
        except WebSocketDisconnect:
            pass
        except asyncio.CancelledError:
            if not self._stalled:
                raise
            await self._cut_off()
        except TimeoutError:  # a send waited ws_send_timeout (no transport to watch): the client does not read
            await self._cut_off()
        finally:
            self.fanout.leave(self)
            if self._timer is not None:
                self._timer.cancel()

    async def _serve(self, run_id: str) -> None:
        run = await self.runs.follow(run_id)
        try:
            if run is not None:
                await self._follow(run)
                return
            await self._hello_stored(run_id)
        except NotFound:  # (or deleted while its hello was read)
            await self.ws.close(1008, f"no run {run_id[:40]!r}")
            return
        await self._read(run_id)

    async def _cut_off(self) -> None:
        """Close a client that stopped reading with 1008 and a reason. The close frame waits behind what the
        client has not read: if it cannot be sent, or is not taken, within CLOSE_WAIT seconds, the connection
        is aborted, and what its buffer held is freed."""
        addr = ":".join(str(p) for p in self.ws.client or ("?", "?"))
        log.warning("WebSocket client %s took no message for %g s: closing it (1008)", addr,
                    self.settings.ws_send_timeout)
        transport = self.flow.transport
        try:
            async with asyncio.timeout(CLOSE_WAIT):
                await self.ws.close(1008, "client too slow: it took no message for "
                                          f"{self.settings.ws_send_timeout:g} s")
        except Exception:  # noqa: BLE001 - could not even queue the close: nothing more to tell it
            if transport is not None:
                transport.abort()
            return
        if transport is not None:
            asyncio.get_running_loop().call_later(CLOSE_WAIT, _abort_if_held, transport)

    async def _hello_stored(self, run_id: str) -> None:
        out = await self.reader.out(run_id)
        await self.raw(await self.reader.hello_text(run_id, since=self.since))
        frame = await self.reader.latest_frame(run_id)
        if frame:
            await self.binary(frame)
        await self.text({"type": "state", "state": out["state"], "reason": out["reason"], "epoch": out["epoch"]})

    async def _follow(self, run: Run) -> None:
        run.watchers.add(self)
        try:
            sent = len(run.history)
            await self.raw(await self.reader.hello_text(run.id, sent, self.since, run))
            sender = asyncio.create_task(self._send_loop(run, sent))
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

    async def _send_loop(self, run: Run, sent: int) -> None:
        """Metrics from the cursor ``sent`` (every epoch, in order), state changes, and the newest snapshot
        when this client's interval is over and the fanout has room (the first one at once)."""
        loop = asyncio.get_running_loop()
        fanout = self.fanout
        frame_seq = -1
        frame = run.frame_for(self._grids)
        if frame and self.fanout.reserve_frame(self, len(frame)):  # the newest there is, at once
            frame_seq = run.frame_seq
            self._frame_due = loop.time() + self._interval(len(frame))
            await self.binary(frame)
        self.event.set()  # look once at once: the run may have moved on since hello
        while True:
            await self.event.wait()
            self.event.clear()
            now = loop.time()
            if len(run.history) > sent:
                if now >= self._metrics_due:
                    sent = await self._metrics(run, sent)
                    self._metrics_due = now + fanout.metrics_interval()
                    if len(run.history) > sent:  # more than one message's worth, or more came meanwhile
                        self._wake_at(self._metrics_due)
                else:
                    self._wake_at(self._metrics_due)
            # a change of state goes out after the points before it, with the newest snapshot
            state_due = bool(self.states) and sent == len(run.history)
            if run.frame_seq != frame_seq and run.frame:  # a newer snapshot: this client's turn yet?
                size = len(run.frame_for(self._grids))
                if now < self._frame_due and not state_due:
                    self._wake_at(self._frame_due)
                elif not fanout.reserve_frame(self, size):
                    self._wake_at(now + FRAME_RETRY)
                else:
                    if not state_due:
                        await asyncio.sleep(0)  # let every client's metrics go out before any client's snapshot
                    frame_seq, frame = run.frame_seq, run.frame_for(self._grids)
                    fanout.reserved(self, len(frame))
                    self._frame_due = loop.time() + self._interval(size)
                    await self.binary(frame)
            while state_due and self.states:
                await self.text(self.states.popleft())
            if run.frame_seq == frame_seq:  # this client has the newest: is a fresher one worth making?
                # when this client will take one, asked for early by the time the worker takes to answer, so
                # that it arrives when due
                interval = fanout.frame_interval(len(run.frame))
                due = max(run.frame_time + interval, self._frame_due) - min(run.frame_lead, interval)
                if now >= due:
                    run.want_frame()
                else:
                    self._wake_at(due)

    def _interval(self, size: int) -> float:
        """Seconds until this client's next snapshot: the server's budget, or the client's own limit."""
        return max(self.fanout.frame_interval(size), self._min_interval)

    async def _metrics(self, run: Run, sent: int) -> int:
        """Send the points from epoch ``sent`` on (at most MAX_POINTS); returns the new cursor. A client that
        fell behind the run's in-memory tail gets the older points from storage."""
        end = min(len(run.history), sent + MAX_POINTS)
        if sent >= run.history.base:
            await self.raw(_metrics_text(run, sent, end))
            return end
        points = await self.reader.read(run.id, sent, min(end, run.history.base))
        if not points:  # the run was deleted meanwhile
            return end
        await self.raw(metrics_message(points, run.history.ended(sent + len(points) - 1)))
        return sent + len(points)

    def _wake_at(self, when: float) -> None:
        """Wake the sender at loop time ``when`` (or earlier, if it is to wake earlier already)."""
        if self._timer is not None:
            if self._timer_at <= when:
                return
            self._timer.cancel()
        self._timer_at = when  # (uvloop's handle for a time already past has no when())
        self._timer = asyncio.get_running_loop().call_at(when, self._ring)

    def _ring(self) -> None:
        self._timer = None
        self.event.set()

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
        if kind == "frames":
            try:
                frames = FramesMessage.model_validate(msg)
            except ValidationError as e:
                raise ClientError(f"frames: {_validation_text(e)}", 400) from None
            self._min_interval = 1 / frames.max_rate
            self._grids = frames.grids
            return
        if kind not in ("control", "probe"):
            raise ClientError(f"unknown message type {str(kind)[:40]!r}; valid: control, probe, frames", 400)
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
    """The metrics message for points [start, end) in memory, built once for all the clients at the same place."""
    cached = run.metrics_cache
    if cached[0] == start and cached[1] == end:
        return cached[2]
    text = metrics_message(run.history.slice(start, end), run.history.ended(end - 1))
    run.metrics_cache = (start, end, text)
    return text


def metrics_message(points: list[str], ended_at: float | None) -> str:
    """``metrics`` as JSON text, from points serialised once (by the worker). ``ended_at`` is left out when
    unknown (points read back from storage for a client that fell far behind)."""
    tail = "" if ended_at is None else ',"ended_at":' + json.dumps(ended_at)
    return '{"type":"metrics","points":[' + ",".join(points) + "]" + tail + "}"


def _abort_if_held(transport: asyncio.WriteTransport) -> None:
    """Still holding unsent data CLOSE_WAIT seconds after the close frame: the client is not reading."""
    if transport.get_write_buffer_size() > 0:
        transport.abort()
