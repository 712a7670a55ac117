"""One live run: its trainer, its worker thread, its history and newest snapshot.

The worker thread is the only one that trains. It waits on ``cond`` while the run is paused or queued,
paces epochs when a speed is set, and hands every epoch to the hub (clients) and, through ``drain``, to
the storage writer. Other threads change the run only through the manager, under ``cond``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from backprop_core import EpochSnapshot, Trainer, TrainerState
from backprop_core.datasets import Dataset

from ..schemas import RunConfig
from . import frames
from .hub import Hub
from .lifecycle import RunState
from .storage import Pending

log = logging.getLogger("backprop_viz.run")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Run:
    def __init__(self, run_id: str, name: str, config: RunConfig, meta: dict[str, Any], trainer: Trainer,
                 dataset: Dataset, hub: Hub, on_end: Callable[[Run, RunState, str], None],
                 stride: Callable[[], int]) -> None:
        self.id, self.name, self.config, self.meta = run_id, name, config, meta
        self.trainer, self.dataset, self.hub = trainer, dataset, hub
        self.state = RunState.PAUSED
        self.reason = ""
        self.created_at = self.updated_at = now()
        self.speed: float | None = config.speed
        self.cond = threading.Condition()
        self.train_lock = threading.Lock()  # held while the trainer steps; parameter edits take it too
        self.steps: deque[str] = deque()
        # the history: each epoch's point serialised once (JSON text, ~300 bytes), spliced as it is into
        # metrics, hello and SQLite; REST parses it back. Epochs are consecutive from 0.
        self.points_json: list[str] = []
        self.metrics_cache: tuple[int, int, str] = (-1, -1, "")  # the newest metrics message (app/api/ws.py)
        self.ended_at: list[float] = []  # unix time each history point's epoch ended (metrics' ``ended_at``)
        self._head: tuple[int, EpochSnapshot | None] = (0, None)  # (seq, newest snapshot), swapped atomically
        self._frame: tuple[int, bytes] = (-1, b"")
        self._frame_lock = threading.Lock()
        self._on_end = on_end
        self._stride = stride
        # storage hand-off
        self._flushed_points = 0
        self._frames: list[tuple[int, Callable[[], bytes]]] = []
        self._dirty = True
        self._pending_latest = False
        self.thread = threading.Thread(target=self._work, name=f"run-{run_id}", daemon=True)

    # -- what readers see ---------------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        return self.trainer.epoch

    def latest(self) -> tuple[int, EpochSnapshot | None]:
        return self._head

    def frame(self) -> tuple[int, bytes]:
        """(seq, binary frame) of the newest snapshot, encoded once and shared by every client."""
        with self._frame_lock:
            seq, snap = self._head
            if snap is not None and self._frame[0] != seq:
                self._frame = (seq, frames.encode(snap))
            return self._frame

    def state_message(self) -> dict[str, Any]:
        return {"type": "state", "state": self.state.value, "reason": self.reason, "epoch": self.epoch}

    def touch(self) -> None:
        self.updated_at = now()
        self._dirty = True

    # -- the worker ---------------------------------------------------------------------------------------
    def _work(self) -> None:
        try:
            self._publish(self.trainer.snapshot())  # epoch 0: the initial network
            next_due = time.monotonic()
            while True:
                with self.cond:
                    step = self._wait_for_work()
                    if step is None and self.state is not RunState.RUNNING:
                        return
                    if step is None and self.speed:
                        now = time.monotonic()
                        next_due = min(next_due, now + 1 / self.speed)  # a faster new speed applies at once
                        delay = next_due - now
                        if delay > 0:  # capped: Condition.wait overflows past time_t (speed 1e-300)
                            self.cond.wait(min(delay, 3600.0))  # a pause, stop or speed change wakes us early
                            continue
                with self.train_lock:
                    snap = self.trainer.step_batch() if step == "batch" else self.trainer.step_epoch()
                if self.speed:
                    next_due = max(next_due + 1 / self.speed, time.monotonic() - 1 / self.speed)
                self._after_step(snap)
                if self.trainer.state.terminal:
                    return
        except Exception as e:  # a bug or bad data must not take the server down: the run fails, visibly
            log.exception("run %s failed", self.id)
            self._on_end(self, RunState.FAILED, f"{type(e).__name__}: {e}")

    def _wait_for_work(self) -> str | None:
        """Under cond: block until there is an epoch to train or a step to take; None = train / leave."""
        while True:
            if self.state.terminal:
                return None
            if self.steps and self.state is not RunState.RUNNING:
                return self.steps.popleft()
            if self.state is RunState.RUNNING:
                return None
            self.cond.wait()

    def _after_step(self, snap: EpochSnapshot | None) -> None:
        t = self.trainer
        if snap is None:  # diverged: the trainer never hands out NaN
            self._on_end(self, RunState.DIVERGED, t.reason)
            return
        self._publish(snap)
        if t.state is TrainerState.DONE:
            self._on_end(self, RunState.DONE, t.reason)

    def _publish(self, snap: EpochSnapshot) -> None:
        if snap.batch == 0:
            point = frames.point(snap)
            # before the point: readers index both by len(history)
            self.ended_at.append(time.time())
            self.points_json.append(json.dumps(point, separators=(",", ":"), allow_nan=False))
            if snap.epoch % self._stride() == 0:
                self._frames.append((snap.epoch, lambda s=snap: frames.encode(s)))  # type: ignore[misc]
        self.show(snap)

    def show(self, snap: EpochSnapshot) -> None:
        """Make ``snap`` the newest snapshot and wake the clients (also for a paused run whose probe or
        weights were edited)."""
        self._head = (self._head[0] + 1, snap)
        self._pending_latest = True
        self.touch()
        self.hub.wake()

    # -- storage hand-off (called by the writer thread) -----------------------------------------------------
    def drain(self) -> Pending | None:
        if not self._dirty:
            return None
        self._dirty = False
        points = self.points_json[self._flushed_points:]
        self._flushed_points += len(points)
        out, self._frames = self._frames, []
        latest = None
        snap = self._head[1]
        if self._pending_latest and snap is not None:
            self._pending_latest = False
            latest = (snap.epoch, lambda: frames.encode(snap))
        row = {"state": self.state.value, "reason": self.reason, "epoch": self.epoch,
               "updated_at": self.updated_at, "name": self.name}
        return Pending(self.id, row, points, out, latest)
