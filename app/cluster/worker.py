"""``backprop-viz worker``: a training worker of a cluster (any number, on any host).

It runs the same ``Worker`` as a single server's worker processes (``app/worker/host.py``) on another
channel: commands come from its own Redis stream, events go to each run's stream (``bus.py``), and what its
runs produce is written to PostgreSQL by a writer thread (every ``commit_interval`` seconds; a failed write
is kept and written again, as the single server's). A heartbeat thread says it is alive every second and
looks for runs whose worker stopped saying so: it claims them (one worker wins) and carries them on from
their newest checkpoint — the history goes on without a gap, and the epochs trained again after the
checkpoint come out bit for bit the same (the replicas pass each epoch on once).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from backprop_core.datasets import Dataset

from ..config import Settings
from ..schemas import RunConfig
from ..services.data import DataService
from ..services.lifecycle import RunState
from ..services.storage import Pending
from ..worker.host import Worker
from ..worker.wire import Message
from . import bus
from .pgstore import PgStorage

log = logging.getLogger("backprop_viz.cluster.worker")
LIVE_STATES = {"queued", "running", "paused"}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Unsaved:
    """What one run produced since the last write."""

    row: dict[str, Any] = field(default_factory=dict)
    points: list[str] = field(default_factory=list)
    frames: list[tuple[int, bytes]] = field(default_factory=list)
    latest: tuple[int, bytes] | None = None
    checkpoint: tuple[int, bytes] | None = None


class RedisChannel:
    """``wire.Channel`` for a cluster: commands from ``bpv:cmd:{worker}``, events routed by kind."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.closed = False
        self._last = b"0-0"

    def receive(self, timeout: float | None) -> list[Message]:
        # block at most a second at a time: the host's loop looks again, and a stop is seen
        block = None if timeout == 0 else max(1, int(min(1.0 if timeout is None else timeout, 1.0) * 1000))
        try:
            got = self.node.r.xread({bus.commands_key(self.node.id): self._last}, count=256, block=block)
        except redis.RedisError as e:
            self.node.broker_failing(e)
            time.sleep(min(timeout or 1.0, 1.0))
            return []
        self.node.broker_ok()
        out = []
        for _, entries in got or []:
            for entry_id, fields in entries:
                self._last = entry_id
                msg = bus.unpack(fields)
                self.node.noted(msg)
                out.append(msg)
        self.closed = self.node.stopping.is_set()
        return out

    def send(self, header: dict[str, Any], body: bytes | bytearray | memoryview = b"") -> None:
        self.node.event(Message(header, bytes(body)))


class Node:
    """One worker process of a cluster."""

    def __init__(self, settings: Settings, worker_id: str | None = None) -> None:
        if not settings.broker_url or not settings.database_url:
            raise ValueError("a cluster worker needs BPV_BROKER_URL and BPV_DATABASE_URL (or --broker, --database)")
        self.settings = settings
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.r: Any = redis.Redis.from_url(settings.broker_url, socket_timeout=10, socket_connect_timeout=5,
                                           health_check_interval=10, **bus.RETRY)  # (redis-py's types: too loose)
        self.store = PgStorage(settings.database_url, int(settings.snapshot_budget_mb * 2**20))
        self.data = DataService(settings, self.store)
        self.unsaved: dict[str, Unsaved] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.failing: str | None = None
        self._suspects: set[str] = set()
        self.channel = RedisChannel(self)
        self.host = Worker(self.channel, load_dataset=self._dataset, load_checkpoint=self.store.checkpoint,
                           checkpoint_every=settings.checkpoint_seconds)

    # -- running ------------------------------------------------------------------------------------------
    def serve(self) -> None:
        self._heartbeat()  # present before it says it is ready: a replica can place a run here at once
        threads = [threading.Thread(target=self._beat, name="heartbeat", daemon=True),
                   threading.Thread(target=self._write_loop, name="writer", daemon=True)]
        for t in threads:
            t.start()
        log.warning("worker %s: ready (broker and database reached)", self.id)
        try:
            self.host.serve()
        finally:
            self.stopping.set()
            self.host.save_all()  # where each run stands, for the worker that carries it on
            for t in threads:
                t.join(timeout=10)
            self._write()
            self.store.close()
            try:  # gone at once: another worker need not wait for the heartbeat to expire
                self.r.delete(bus.heartbeat_key(self.id))
                self.r.srem(bus.WORKERS, self.id)
            except redis.RedisError:
                pass

    def stop(self) -> None:
        self.stopping.set()

    def _dataset(self, config: dict[str, Any]) -> Dataset:
        return self.data.load(RunConfig.model_validate(config))

    # -- commands seen on the way in (what they say about the run's state, for the store) ---------------
    def noted(self, msg: Message) -> None:
        h = msg.header
        if "state" in h and msg.type in ("run", "drop", "start"):
            self._unsaved(str(h["run"])).row.update(state=h["state"], reason=h.get("reason", ""), updated_at=now())

    def _unsaved(self, run_id: str) -> Unsaved:
        with self.lock:
            return self.unsaved.setdefault(run_id, Unsaved())

    # -- events: to the bus, and to the store -------------------------------------------------------------
    def event(self, msg: Message) -> None:
        h, kind = msg.header, msg.type
        try:
            self._route(kind, h, msg.body)
        except redis.RedisError as e:  # the bus is down: the store still gets everything; watchers catch up
            self.broker_failing(e)

    def _route(self, kind: str, h: dict[str, Any], body: bytes) -> None:
        r = self.r
        if kind == "ack":
            if h.get("reply"):
                r.xadd(bus.reply_key(str(h["reply"])), bus.pack(Message(h)), maxlen=bus.COMMANDS_MAXLEN,
                       approximate=True)
            return
        run_id = str(h.get("run", ""))
        u = self._unsaved(run_id)
        if kind == "points":
            texts = body.decode().split("\n")
            last = json.loads(texts[-1])["epoch"]
            with self.lock:
                u.points.extend(texts)
                u.row.update(epoch=last, updated_at=now())
            pipe = r.pipeline(transaction=False)
            pipe.xadd(bus.events_key(run_id), {"k": "points", "body": body, "ended_at": json.dumps(h["ended_at"]),
                                               "steps": str(h.get("steps_left", 0))},
                      maxlen=bus.EVENTS_MAXLEN, approximate=True)
            pipe.hset(bus.run_key(run_id), "epoch", str(last))
            pipe.execute()
        elif kind == "frame":
            epoch, batch = int(h["epoch"]), int(h["batch"])
            hosted = self.host.runs.get(run_id)
            if epoch == 0 and batch == 0 and hosted is not None and hosted.saved == (-1, -1, -1):
                hosted.stride = self.store.plan_stride(run_id, len(body), hosted.trainer.max_epochs or 1)
            stride = hosted.stride if hosted is not None else 1
            with self.lock:
                if batch == 0 and epoch % stride == 0:
                    u.frames.append((epoch, body))
                u.latest = (epoch, body)
            pipe = r.pipeline(transaction=False)
            pipe.set(bus.frame_key(run_id), body)
            pipe.xadd(bus.events_key(run_id), {"k": "frame", "epoch": str(epoch), "batch": str(batch)},
                      maxlen=bus.EVENTS_MAXLEN, approximate=True)
            pipe.execute()
        elif kind == "checkpoint":
            with self.lock:
                u.checkpoint = (int(h["epoch"]), body)
        elif kind == "ended":
            state = RunState(h["state"]) if h["state"] in ("done", "diverged") else RunState.FAILED
            keys, args = bus.transition_args(run_id, state, str(h.get("reason", "")), None, now())
            try:
                r.eval(bus.TRANSITION, len(keys), *keys, *args)
            except redis.ResponseError:
                pass  # stopped or deleted meanwhile: that state stands
            with self.lock:
                u.row.update(state=state.value, reason=str(h.get("reason", "")), updated_at=now())

    # -- the writer ---------------------------------------------------------------------------------------
    def _write_loop(self) -> None:
        held: list[Pending] = []
        while not self.stopping.wait(self.settings.commit_interval):
            held = self._write(held)

    def _write(self, held: list[Pending] | None = None) -> list[Pending]:
        """Write what waits (and what failed before, first); returns what failed again."""
        with self.lock:
            batch = list(held or [])
            for run_id, u in self.unsaved.items():
                if u.row or u.points or u.frames or u.latest or u.checkpoint:
                    batch.append(Pending(run_id, dict(u.row), u.points, u.frames, u.latest, u.checkpoint))
            self.unsaved = {}
        try:
            self.store.write(batch)
        except Exception as e:  # kept, written again next time
            log.error("worker %s: writing to the database failed (will retry): %s", self.id, e)
            return batch
        for p in batch:
            hosted = self.host.runs.get(p.run_id)
            if hosted is not None:
                hosted.stride = max(hosted.stride, self.store.stride(p.run_id))
        return []

    # -- heartbeat, and runs left behind ----------------------------------------------------------------
    def _beat(self) -> None:
        last_scan = 0.0
        while not self.stopping.is_set():
            try:
                self._heartbeat()
                if time.monotonic() - last_scan >= self.settings.heartbeat_seconds * 2:
                    last_scan = time.monotonic()
                    self._adopt_orphans()
                self.broker_ok()
            except redis.RedisError as e:
                self.broker_failing(e)
            self.stopping.wait(self.settings.heartbeat_seconds)

    def _heartbeat(self) -> None:
        info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "runs": len(self.host.runs)})
        pipe = self.r.pipeline(transaction=False)
        pipe.set(bus.heartbeat_key(self.id), info, ex=bus.HEARTBEAT_TTL)
        pipe.sadd(bus.WORKERS, self.id)
        pipe.execute()

    def _adopt_orphans(self) -> None:
        """Claim the live runs whose worker has stopped beating (seen at two scans in a row) and carry them
        on here; let go of a run the registry gives to another worker (this one was taken for dead) or no
        longer has live (a command that never came: stopped, deleted)."""
        for run_id in list(self.host.runs):
            state = self.r.hget(bus.run_key(run_id), "state")
            if state is None or state.decode() not in LIVE_STATES:
                self.r.xadd(bus.commands_key(self.id), bus.pack(Message({"t": "drop", "run": run_id})))
        orphans: set[str] = set()
        for raw in self.r.smembers(bus.LIVE):
            run_id = raw.decode()
            reg = bus.registry_out(self.r.hgetall(bus.run_key(run_id)))
            owner = reg.get("worker", "")
            if run_id in self.host.runs and owner != self.id:
                log.warning("worker %s: run %s is now %s's: letting it go", self.id, run_id, owner)
                self.r.xadd(bus.commands_key(self.id), bus.pack(Message({"t": "drop", "run": run_id})))
                continue
            if not reg or reg.get("state") not in LIVE_STATES or owner == self.id:
                continue
            if owner and self.r.exists(bus.heartbeat_key(owner)):
                continue
            orphans.add(run_id)
            if run_id not in self._suspects:  # gone at the last scan too? (not a heartbeat that only lagged)
                continue
            if not self.r.eval(bus.CLAIM, 1, bus.run_key(run_id), owner, self.id):
                continue  # another worker was quicker
            log.warning("worker %s: carrying on run %s (its worker %s stopped)", self.id, run_id, owner or "?")
            state = reg["state"]
            header = {"t": "start", "run": run_id, "config": json.loads(reg["config"]), "resume": True,
                      "state": "running" if state in ("running", "queued") else "paused"}
            self.r.xadd(bus.commands_key(self.id), bus.pack(Message(header)), maxlen=bus.COMMANDS_MAXLEN,
                        approximate=True)
        self._suspects = orphans

    def broker_failing(self, e: Exception) -> None:
        if self.failing is None:
            log.error("worker %s: the broker is failing: %s", self.id, e)
        self.failing = str(e)

    def broker_ok(self) -> None:
        if self.failing is not None:
            log.warning("worker %s: the broker works again", self.id)
        self.failing = None


def run_worker(settings: Settings, on_ready: Callable[[Node], None] | None = None) -> int:
    """``backprop-viz worker``: serve until SIGTERM/SIGINT (the runs here are carried on by other workers)."""
    import signal

    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    node = Node(settings)
    signal.signal(signal.SIGTERM, lambda *_: node.stop())
    signal.signal(signal.SIGINT, lambda *_: node.stop())
    if on_ready is not None:
        on_ready(node)
    node.serve()
    return 0
