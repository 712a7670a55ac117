"""A web replica of a cluster: the run service's interface (``RunManager``) over Redis and PostgreSQL.

State lives in the registry (``bus.py``); an action moves it there atomically (whichever replica acts) and
tells the run's worker. A run this replica streams to its clients has a local view — a ``Run`` fed by the
run's event stream: its history (what PostgreSQL has, then the stream, each epoch once), its newest
snapshot and its state. Snapshots are still made on demand: a view asks the run's worker, through its
command stream, as a single server asks its worker process. Questions that need an answer (a parameter
edit, a walkthrough) wait for the worker's ack on this replica's reply stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from ..config import Settings
from ..schemas import RunConfig, RunCreate, RunPatch
from ..services.data import DataService
from ..services.lifecycle import ACTIONS, IllegalTransition, RunState, check_action
from ..services.run import Run, RunError
from ..services.runs import NotFound, RunManager
from ..services.storage import Pending, Storage
from ..worker import frames
from ..worker.wire import Message
from . import bus
from .worker import now

log = logging.getLogger("backprop_viz.cluster.replica")
REQUEST_TIMEOUT = 60.0  # seconds a command's answer may take (a long epoch of another run comes first)
VIEW_IDLE = 30.0  # seconds a view with no watcher is kept


class RemoteLink:
    """A view's way to its run's worker: commands into the stream of the worker the registry names now (a
    run may move to another worker), answers from this replica's."""

    alive = True

    def __init__(self, cluster: ClusterRuns, run_id: str) -> None:
        self.cluster, self.run_id = cluster, run_id
        self.runs: set[str] = set()

    def send(self, header: dict[str, Any], body: bytes = b"") -> None:
        self.cluster.command_run(self.run_id, header, body)

    async def request(self, header: dict[str, Any], body: bytes = b"", timeout: float = REQUEST_TIMEOUT) -> Message:
        return await self.cluster.request(await self.cluster.worker_of(self.run_id), header, body, timeout)


class View(Run):
    """A run as this replica sees it: state from the registry, events from the run's stream."""

    def __init__(self, run_id: str, reg: dict[str, str], link: RemoteLink) -> None:
        config = RunConfig.model_validate_json(reg["config"])
        super().__init__(run_id, reg.get("name", ""), config, int(reg.get("n_train", "0") or 0))
        self.meta = json.loads(reg["meta"]) if reg.get("meta") else {}
        self.state, self.reason = RunState(reg["state"]), reg.get("reason", "")
        self.created_at, self.updated_at = reg.get("created_at", self.created_at), reg.get("updated_at", "")
        self.link = link
        self.stored = True  # workers write it; a view hands storage nothing
        self.task: asyncio.Task[None] | None = None
        self.used = time.monotonic()

    def drain(self) -> Pending | None:
        return None

    def on_points(self, points: list[str], ended_at: list[float], steps_left: int) -> None:
        """Each epoch once: a worker that carried the run on from a checkpoint sends the epochs after it again."""
        last = len(self.points) - 1
        fresh = [(p, t) for p, t in zip(points, ended_at, strict=False) if json.loads(p)["epoch"] > last]
        if fresh:
            super().on_points([p for p, _ in fresh], [t for _, t in fresh], steps_left)


class ClusterRuns(RunManager):
    """``RunManager`` for a web replica of a cluster (the same routes and stream sessions use it)."""

    def __init__(self, settings: Settings, storage: Storage, data: DataService) -> None:
        super().__init__(settings, storage, data)
        assert settings.broker_url is not None
        self.r: Any = aioredis.Redis.from_url(settings.broker_url, socket_timeout=15, socket_connect_timeout=5,
                                              health_check_interval=10, **bus.RETRY)
        self.node = f"web-{socket.gethostname()}-{secrets.token_hex(4)}"
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Message]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.failing: str | None = None
        self._views: dict[str, View] = self.runs  # type: ignore[assignment]  # the views are the runs held here

    # -- life -----------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._spawn(self._replies(), "replies")
        self._spawn(self._collect_views(), "views")

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(Exception):
            await self.r.aclose()

    def pending(self) -> list[Pending]:
        return []

    async def _do(self, call: Awaitable[Any]) -> Any:
        """A broker call from a request: a failing broker is a 503 naming it, never a 500."""
        try:
            out = await call
        except RedisError as e:
            self._failing(e)
            raise RunError(f"the broker is failing: {e}", status=503) from e
        self._ok()
        return out

    # -- commands and their answers -------------------------------------------------------------------------
    def command_run(self, run_id: str, header: dict[str, Any], body: bytes = b"") -> None:
        """Send a command to the worker hosting ``run_id`` now, not waiting (in order with the others)."""
        self._spawn(self._to_run(run_id, Message(header, body)), "command")

    async def worker_of(self, run_id: str) -> str:
        worker = (await self._registry(run_id)).get("worker")
        if not worker:
            raise NotFound(f"no run {run_id!r}")
        return worker

    async def _to_run(self, run_id: str, msg: Message) -> None:
        try:
            worker = (bus.registry_out(await self.r.hgetall(bus.run_key(run_id)))).get("worker")
            if worker:
                await self.r.xadd(bus.commands_key(worker), bus.pack(msg), maxlen=bus.COMMANDS_MAXLEN,
                                  approximate=True)
        except RedisError as e:
            self._failing(e)

    async def request(self, worker: str, header: dict[str, Any], body: bytes = b"",
                      timeout: float = REQUEST_TIMEOUT) -> Message:
        cid = next(self._ids)
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[cid] = fut
        try:
            await self.r.xadd(bus.commands_key(worker), bus.pack(Message({**header, "id": cid, "reply": self.node},
                                                                         body)),
                              maxlen=bus.COMMANDS_MAXLEN, approximate=True)
            async with asyncio.timeout(timeout):
                return await fut
        except TimeoutError:
            raise RunError(f"the run's training worker did not answer within {timeout:g} s", status=503) from None
        except RedisError as e:
            self._failing(e)
            raise RunError(f"the broker is failing: {e}", status=503) from e
        finally:
            self._waiting.pop(cid, None)

    async def _read_stream(self, key: str, handle: Callable[[dict[bytes, bytes]], Awaitable[None]]) -> None:
        """Every entry of a Redis stream, from its start, in order, for as long as the task lives (a failing
        broker is waited out)."""
        last: bytes | str = "0-0"
        while True:
            try:
                got = await self.r.xread({key: last}, count=512, block=1000)
                self._ok()
            except RedisError as e:
                self._failing(e)
                await asyncio.sleep(1.0)
                continue
            for _, entries in got or []:
                for entry_id, fields in entries:
                    last = entry_id
                    await handle(fields)

    async def _replies(self) -> None:
        await self._read_stream(bus.reply_key(self.node), self._answered)

    async def _answered(self, fields: dict[bytes, bytes]) -> None:
        msg = bus.unpack(fields)
        fut = self._waiting.get(int(msg.header.get("id", 0)))
        if fut is not None and not fut.done():
            fut.set_result(msg)

    # -- the registry ---------------------------------------------------------------------------------------
    async def _registry(self, run_id: str) -> dict[str, str]:
        try:
            reg: dict[str, str] = bus.registry_out(await self.r.hgetall(bus.run_key(run_id)))
        except RedisError as e:
            self._failing(e)
            raise RunError(f"the broker is failing: {e}", status=503) from e
        return reg

    async def _transition(self, run_id: str, state: RunState, reason: str,
                          allowed: tuple[RunState, ...] | None, action: str) -> str:
        keys, args = bus.transition_args(run_id, state, reason, allowed, now())
        try:
            before = await self.r.eval(bus.TRANSITION, len(keys), *keys, *args)
        except ResponseError as e:
            text = str(e)
            if text.startswith("NORUN"):
                raise NotFound(f"no run {run_id!r}") from None
            current = text.split(" ", 1)[1] if " " in text else "?"
            need = " or ".join(s.value for s in (allowed or ()))
            raise IllegalTransition(f"cannot {action} a run that is {current}" + (f" (it must be {need})"
                                                                                   if need else "")) from None
        except RedisError as e:
            self._failing(e)
            raise RunError(f"the broker is failing: {e}", status=503) from e
        view = self._views.get(run_id)
        if view is not None:
            view.mirror(state, reason)
        return before.decode() if isinstance(before, bytes) else str(before)

    async def describe(self, run_id: str) -> dict[str, Any] | None:
        from ..services.reader import links

        reg = await self._registry(run_id)
        if not reg or reg.get("state") not in ("queued", "running", "paused") or not reg.get("meta"):
            return None
        meta = json.loads(reg["meta"])
        return {"id": run_id, "name": reg.get("name", ""), "state": reg["state"], "reason": reg.get("reason", ""),
                "epoch": int(reg.get("epoch", "0") or 0), "config": json.loads(reg["config"]),
                "layer_sizes": meta["layer_sizes"], "activations": meta["activations"], "task": meta["task"],
                "n_classes": meta["n_classes"], "created_at": reg.get("created_at", ""),
                "updated_at": reg.get("updated_at", ""), "links": links(run_id)}

    async def _worker_for_new_run(self) -> str:
        """The live worker hosting the fewest runs."""
        try:
            members = [m.decode() for m in await self.r.smembers(bus.WORKERS)]
            beats = await self.r.mget([bus.heartbeat_key(w) for w in members]) if members else []
        except RedisError as e:
            self._failing(e)
            raise RunError(f"the broker is failing: {e}", status=503) from e
        alive = [(json.loads(b).get("runs", 0), w) for w, b in zip(members, beats, strict=True) if b]
        if not alive:
            raise RunError("no training worker is alive: start one with `backprop-viz worker`", status=503)
        return str(min(alive)[1])

    # -- what the routes call -------------------------------------------------------------------------------
    async def create(self, body: RunCreate) -> Run:
        cfg = self.check_config(body)
        dataset = await asyncio.to_thread(self.data.load, cfg)
        cfg = self.check_data(cfg, dataset)
        worker = await self._worker_for_new_run()
        run_id = secrets.token_hex(6)
        stamp = now()
        reg = {"state": "paused", "reason": "", "worker": worker, "name": body.name, "config": cfg.model_dump_json(),
               "meta": "", "n_train": str(dataset.n_train), "epoch": "0", "created_at": stamp, "updated_at": stamp}
        try:
            await self.r.hset(bus.run_key(run_id), mapping=reg)
        except RedisError as e:
            self._failing(e)
            raise RunError(f"the broker is failing: {e}", status=503) from e
        await asyncio.to_thread(self.storage.create_run, {
            "id": run_id, "name": body.name, "config": cfg.model_dump_json(), "meta": "{}", "state": "paused",
            "reason": "", "epoch": 0, "created_at": stamp, "updated_at": stamp})
        try:
            answer = await self.request(worker, {"t": "start", "run": run_id, "config": cfg.model_dump(),
                                                 "state": "paused", "stride": 1})
            if answer.header.get("error"):
                raise RunError(str(answer.header["error"]))
        except RunError:
            await self._forget(run_id)
            raise
        meta = json.dumps(answer.header["meta"])
        await self._do(self.r.hset(bus.run_key(run_id), "meta", meta))
        await self._do(self.r.sadd(bus.LIVE, run_id))
        await asyncio.to_thread(self.storage.set_meta, run_id, meta)
        if body.start:
            await self._transition(run_id, RunState.RUNNING, "", (RunState.PAUSED,), "resume")
            self.command_run(run_id, {"t": "run", "run": run_id, "running": True, "state": "running"})
        view = await self._view(run_id)
        assert view is not None
        return view

    async def _continue(self, run_id: str, epochs: int) -> Run:
        """A finished run paused again with a new limit: a worker restores it from its checkpoint in the store."""
        row = await asyncio.to_thread(self.storage.get_run, run_id)
        if row is None:
            raise NotFound(f"no run {run_id!r}")
        reg = await self._registry(run_id)
        state = RunState(reg.get("state") or row["state"])
        check_action("continue", state)
        last = int(reg.get("epoch") or row["epoch"])
        if epochs <= last:
            raise RunError(f"epochs: the run is at epoch {last}; a new limit must be above it", field="epochs")
        deadline = time.monotonic() + 10  # the worker writes its last checkpoint a moment after the run ends
        while (saved := await asyncio.to_thread(self.storage.checkpoint, run_id)) is None or saved[0] != last:
            if time.monotonic() > deadline:
                raise IllegalTransition(f"cannot continue run {run_id}: it has no checkpoint of its last epoch")
            await asyncio.sleep(0.1)
        row = await asyncio.to_thread(self.storage.get_run, run_id) or row
        cfg = RunConfig.model_validate_json(row["config"]).model_copy(update={"epochs": epochs})
        dataset = await asyncio.to_thread(self.data.load, cfg)
        worker = await self._worker_for_new_run()
        stamp = now()
        await self._do(self.r.hset(bus.run_key(run_id), mapping={
            "state": state.value, "reason": row["reason"], "worker": worker, "name": row["name"],
            "config": cfg.model_dump_json(), "meta": row["meta"], "n_train": str(dataset.n_train),
            "epoch": str(row["epoch"]), "created_at": row["created_at"], "updated_at": stamp}))
        for key in (bus.run_key(run_id), bus.events_key(run_id), bus.frame_key(run_id)):
            await self._do(self.r.persist(key))  # live again: its keys no longer expire
        await self._transition(run_id, RunState.PAUSED, f"continued to epoch {epochs}", (state,), "continue")
        answer = await self.request(worker, {"t": "start", "run": run_id, "config": cfg.model_dump(), "resume": True,
                                             "state": "paused", "reason": f"continued to epoch {epochs}"})
        if answer.header.get("error"):
            raise RunError(str(answer.header["error"]))
        old = self._views.pop(run_id, None)
        if old is not None and old.task is not None:
            old.task.cancel()
        view = await self._view(run_id)
        assert view is not None
        if old is not None:
            view.watchers |= old.watchers
        return view

    async def _forget(self, run_id: str) -> None:
        with contextlib.suppress(RedisError):
            await self.r.delete(bus.run_key(run_id), bus.events_key(run_id), bus.frame_key(run_id))
            await self.r.srem(bus.LIVE, run_id)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.storage.delete_run, run_id)

    async def live(self, run_id: str, action: str) -> Run:
        view = await self._view(run_id)
        if view is None:
            row = await asyncio.to_thread(self.storage.get_run, run_id)
            if row is None:
                raise NotFound(f"no run {run_id!r}")
            raise IllegalTransition(f"cannot {action} a run that is {row['state']}")
        return view

    async def action(self, run_id: str, action: str, unit: str = "epoch") -> Run:
        view = await self.live(run_id, action)
        if action == "pause":
            await self._transition(run_id, RunState.PAUSED, "", ACTIONS["pause"], action)
            self.command_run(run_id, {"t": "run", "run": run_id, "running": False, "state": "paused"})
        elif action == "resume":
            await self._transition(run_id, RunState.RUNNING, "", ACTIONS["resume"], action)
            self.command_run(run_id, {"t": "run", "run": run_id, "running": True, "state": "running"})
        elif action == "stop":
            await self._transition(run_id, RunState.STOPPED, "stopped by the user", ACTIONS["stop"], action)
            self.command_run(run_id, {"t": "drop", "run": run_id, "frame": True, "state": "stopped",
                                      "reason": "stopped by the user"})
        elif action == "step":
            state = (await self._registry(run_id)).get("state", "")
            if state != "paused":
                raise IllegalTransition(f"cannot step a run that is {state} (it must be paused)")
            self.command_run(run_id, {"t": "step", "run": run_id, "unit": unit})
        return view

    async def patch(self, run_id: str, body: RunPatch) -> Run | None:
        if body.model_fields_set <= {"name"} and body.name is not None:  # any run, live or stored
            reg = await self._registry(run_id)
            if reg:
                await self._do(self.r.hset(bus.run_key(run_id), mapping={"name": body.name, "updated_at": now()}))
            if not await asyncio.to_thread(self.storage.rename, run_id, body.name) and not reg:
                raise NotFound(f"no run {run_id!r}")
            view = self._views.get(run_id)
            if view is not None:
                view.name = body.name
                view.touch()
            return view
        run = await super().patch(run_id, body)
        if run is not None:
            await self._do(self.r.hset(bus.run_key(run_id), mapping={"config": run.config.model_dump_json(),
                                                                     "updated_at": now()}))
        return run

    async def delete(self, run_id: str) -> None:
        reg = await self._registry(run_id)
        if not reg and await asyncio.to_thread(self.storage.get_run, run_id) is None:
            raise NotFound(f"no run {run_id!r}")
        if reg.get("state") in ("queued", "running", "paused"):
            with contextlib.suppress(IllegalTransition):
                await self._transition(run_id, RunState.STOPPED, "deleted", ACTIONS["stop"], "delete")
            self.command_run(run_id, {"t": "drop", "run": run_id, "frame": False, "state": "stopped",
                                      "reason": "deleted"})
        view = self._views.pop(run_id, None)
        if view is not None and view.task is not None:
            view.task.cancel()
        await self._forget(run_id)

    async def follow(self, run_id: str) -> Run | None:
        return await self._view(run_id)

    # -- views ------------------------------------------------------------------------------------------------
    async def _view(self, run_id: str) -> View | None:
        """The live run's view here (made, with its history, at the first need); None if not live."""
        view = self._views.get(run_id)
        if view is not None:
            view.used = time.monotonic()
            return view
        reg = await self._registry(run_id)
        if not reg or not reg.get("meta") or reg.get("state") not in ("queued", "running", "paused"):
            return None
        view = View(run_id, reg, RemoteLink(self, run_id))
        view.points = await asyncio.to_thread(self.storage.history_json, run_id)
        view.ended_at = [0.0] * len(view.points)
        frame = await self._do(self.r.get(bus.frame_key(run_id)))
        if frame:
            header = frames.header_only(frame)
            view.on_frame(int(header["epoch"]), int(header["batch"]), frame)
        existing = self._views.setdefault(run_id, view)
        if existing is view:
            view.task = self._spawn(self._follow(view), f"view-{run_id}")
        return existing

    async def _follow(self, view: View) -> None:
        """Feed the view from the run's stream, from its start (each epoch is taken once) to its end."""
        await self._read_stream(bus.events_key(view.id), lambda fields: self._apply(view, fields))

    async def _apply(self, view: View, fields: dict[bytes, bytes]) -> None:
        kind = bus.text(fields, "k")
        if kind == "points":
            texts = fields[b"body"].decode().split("\n")
            first = json.loads(texts[0])["epoch"]
            if first > len(view.points):  # epochs whose events never reached the bus (it was down): the store has them
                await self._catch_up(view, first)
            view.on_points(texts, json.loads(fields[b"ended_at"]), int(bus.text(fields, "steps", "0") or 0))
        elif kind == "frame":
            frame = await self.r.get(bus.frame_key(view.id))
            if frame:
                header = frames.header_only(frame)
                view.on_frame(int(header["epoch"]), int(header["batch"]), frame)
        elif kind == "state":
            view.mirror(RunState(bus.text(fields, "state")), bus.text(fields, "reason"))

    async def _catch_up(self, view: View, upto: int, timeout: float = 30.0) -> None:
        """Take epochs len(points) … upto − 1 from the store (its writer may lag a moment behind)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stored = await asyncio.to_thread(self.storage.history_json, view.id)
            if len(stored) >= upto:
                view.on_points(stored[len(view.points):upto], [time.time()] * (upto - len(view.points)), 0)
                return
            await asyncio.sleep(0.25)
        log.error("run %s: epochs %d … %d are neither on the bus nor in the store", view.id, len(view.points), upto)

    async def _collect_views(self) -> None:
        """Forget views nobody has watched or used for VIEW_IDLE seconds."""
        while True:
            await asyncio.sleep(VIEW_IDLE / 3)
            cutoff = time.monotonic() - VIEW_IDLE
            for run_id, view in list(self._views.items()):
                if not view.watchers and view.used < cutoff:
                    self._views.pop(run_id, None)
                    if view.task is not None:
                        view.task.cancel()

    # -- health -----------------------------------------------------------------------------------------------
    def _failing(self, e: Exception) -> None:
        if self.failing is None:
            log.error("the broker is failing: %s", e)
        self.failing = f"{type(e).__name__}: {e}"

    def _ok(self) -> None:
        if self.failing is not None:
            log.warning("the broker works again")
        self.failing = None

    def health(self) -> tuple[str, str]:
        if self.failing is not None:
            return "degraded", f"the broker (Redis) is failing: {self.failing}; commands and live updates wait"
        return "ok", ""

    async def check(self) -> tuple[str, str]:
        """A fresh look at the broker and the store (``/healthz`` in a cluster)."""
        try:
            await self.r.ping()
            self._ok()
        except RedisError as e:
            self._failing(e)
        status, reason = self.health()
        try:
            await asyncio.to_thread(self.storage.integrity_check)
        except Exception as e:
            return "degraded", (reason + "; " if reason else "") + f"the store (PostgreSQL) is failing: {e}"
        return status, reason

    def active(self) -> int:
        return sum(1 for v in self._views.values() if v.state is RunState.RUNNING)
