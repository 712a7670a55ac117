"""The worker: hosts runs and trains them in turn, one epoch (or one asked-for mini-batch) at a time.

One thread, one loop: take the commands that have arrived, train the next run that is due (round robin
among the runs that train flat out; a run with a speed waits until its next epoch is due), send what that
epoch produced, and sleep only when no run has work. Every epoch gives a metrics point (cheap: the costs
and the per-layer norms). A snapshot with tensors is built only when someone will read it: the web process
asked for one (``want``), storage keeps this epoch (``stride``), or the run stops moving (a pause, a step,
its end), so that what it shows last is where it stands. A checkpoint (``backprop_core.checkpoint``: where
training can carry on, bit for bit) is sent when a run stops moving, and every ``checkpoint_every`` seconds
while it trains when that is set (a cluster's workers, so that another can take a run over).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backprop_core import EpochSnapshot, InvalidTransition, Trainer, TrainerState, checkpoint
from backprop_core.datasets import Dataset

from . import frames, questions
from .build import build_trainer, meta
from .wire import Channel, Link, Message

log = logging.getLogger("backprop_viz.worker")
FLUSH_SECONDS = 0.01  # a run's points wait at most this long for company before they are sent
# an epoch at least this long: a `want` that came while it trained counts for it (without the look, a slow
# run's frames come every other epoch: the want is read only after the next epoch)
EARLY_LOOK_SECONDS = 0.002


@dataclass
class Hosted:
    """One run in this worker."""

    id: str
    trainer: Trainer
    running: bool = False
    speed: float | None = None
    stride: int = 1
    want: bool = False
    steps: deque[str] = field(default_factory=deque)
    next_due: float = 0.0
    shown: tuple[int, int, int] = (-1, -1, -1)  # (epoch, batch, version) of the newest frame sent
    points: list[bytes] = field(default_factory=list)
    ended_at: list[float] = field(default_factory=list)
    flushed_at: float = 0.0
    saved: tuple[int, int, int] = (-1, -1, -1)  # the trainer's position at the newest checkpoint sent
    saved_at: float = 0.0

    def due(self, now: float) -> float:
        """Seconds until this run has work (0: now), or -1 when it has none."""
        if self.steps and not self.running:
            return 0.0
        if not self.running:
            return -1.0
        return 0.0 if not self.speed else max(0.0, self.next_due - now)


class Worker:
    """``load_dataset(config)``: the data of a run whose ``start`` carries none (a cluster's workers load it
    from the store); ``load_checkpoint(run_id)``: (epoch, state) to resume a run from (``start`` with
    ``resume``)."""

    def __init__(self, channel: Link, clock: Callable[[], float] = time.monotonic, *,
                 load_dataset: Callable[[dict[str, Any]], Dataset] | None = None,
                 load_checkpoint: Callable[[str], tuple[int, bytes] | None] | None = None,
                 checkpoint_every: float = 0.0) -> None:
        self.ch = channel
        self.clock = clock
        self.load_dataset, self.load_checkpoint = load_dataset, load_checkpoint
        self.checkpoint_every = checkpoint_every
        self.runs: dict[str, Hosted] = {}
        self.order: deque[str] = deque()  # round robin
        self.leaving = False
        self.pending: deque[Message] = deque()  # commands read early (see _look_for_wants), in order

    # -- the loop -------------------------------------------------------------------------------------------
    def serve(self) -> None:
        self.ch.send({"t": "ready", "pid": os.getpid()})
        wait: float | None = None
        while not self.leaving:
            if wait is None or wait > 0:
                self._flush_all()  # about to sleep: nothing may wait in a buffer meanwhile
            for msg in self._incoming(wait):
                self._command(msg)
            if self.ch.closed:
                return
            run, wait = self._next()
            if wait is not None:
                wait = min(wait, 3600.0)  # select() refuses absurd time-outs (a speed of 1e-300 epochs/s)
            if run is not None:
                self._advance(run)
                self._flush_due()

    def _incoming(self, wait: float | None) -> list[Message]:
        """The commands read early, then what arrives within ``wait`` (at once when some were read early)."""
        if not self.pending:
            return self.ch.receive(wait)
        early = list(self.pending)
        self.pending.clear()
        return early + self.ch.receive(0)

    def _look_for_wants(self) -> None:
        """After a long epoch: a `want` for a run that trains counts for the epoch just trained; every other
        command waits for its turn in the loop (nothing else may act between a step and its point)."""
        for msg in self.ch.receive(0):
            run = self.runs.get(str(msg.header.get("run")))
            if msg.type == "want" and run is not None and (run.running or run.steps) and not self.pending:
                run.want = True
            else:
                self.pending.append(msg)

    def _next(self) -> tuple[Hosted | None, float | None]:
        """The next run to train (rotated to the back), or how long until one is due (None: none is)."""
        now = self.clock()
        soonest: float | None = None
        for _ in range(len(self.order)):
            run = self.runs[self.order[0]]
            self.order.rotate(-1)
            d = run.due(now)
            if d == 0:
                return run, 0.0
            if d > 0 and (soonest is None or d < soonest):
                soonest = d
        return None, soonest

    # -- training -----------------------------------------------------------------------------------------
    def _advance(self, run: Hosted) -> None:
        try:
            self._train(run)
        except Exception as e:  # a bug or bad data fails this run, visibly; the worker goes on
            log.error("run %s failed:\n%s", run.id, traceback.format_exc())
            if run.id in self.runs:
                self._end(run, "failed", f"{type(e).__name__}: {e}")

    def _train(self, run: Hosted) -> None:
        t = run.trainer
        step = run.steps.popleft() if run.steps and not run.running else None
        started = self.clock()
        snap = t.step_batch(tensors=False) if step == "batch" else t.step_epoch(tensors=False)
        now = self.clock()
        if run.speed and step is None:
            run.next_due = max(run.next_due + 1 / run.speed, now - 1 / run.speed)
        if not run.want and now - started >= EARLY_LOOK_SECONDS:
            self._look_for_wants()
        self._settle(run, snap)

    def _settle(self, run: Hosted, snap: EpochSnapshot | None) -> None:
        """What follows a step: the epoch's point, a frame when one is wanted or the run stands still, the end."""
        t = run.trainer
        if snap is None:  # diverged: the trainer never hands out NaN
            self._end(run, "diverged", t.reason)
            return
        if snap.batch == 0:
            self._point(run, snap)
        done = t.state is TrainerState.DONE
        moving = run.running and not done
        stored = snap.batch == 0 and snap.epoch % run.stride == 0
        if run.want or stored or not moving:
            self._frame(run)
        if not moving or (self.checkpoint_every and self.clock() - run.saved_at >= self.checkpoint_every):
            self._checkpoint(run)
        if done:
            self._end(run, "done", t.reason)

    def _point(self, run: Hosted, snap: EpochSnapshot) -> None:
        run.points.append(json.dumps(frames.point(snap), separators=(",", ":"), allow_nan=False).encode())
        run.ended_at.append(time.time())

    def _frame(self, run: Hosted) -> None:
        """Send the snapshot of the run's current state (its points first: they arrive in order)."""
        self._flush(run)
        snap = run.trainer.snapshot()
        run.shown, run.want = run.trainer.position, False
        self.ch.send({"t": "frame", "run": run.id, "epoch": snap.epoch, "batch": snap.batch}, frames.encode(snap))

    def _frame_if_stale(self, run: Hosted) -> None:
        if run.shown != run.trainer.position:
            self._frame(run)

    def _checkpoint(self, run: Hosted) -> None:
        """Send where the run stands (its points first: a checkpoint never runs ahead of the history)."""
        run.saved_at = self.clock()
        if run.saved == run.trainer.position:
            return
        self._flush(run)
        run.saved = run.trainer.position
        self.ch.send({"t": "checkpoint", "run": run.id, "epoch": run.trainer.epoch}, checkpoint.save(run.trainer))

    def _flush(self, run: Hosted) -> None:
        run.flushed_at = self.clock()
        if not run.points:
            return
        body = b"\n".join(run.points)
        head = {"t": "points", "run": run.id, "ended_at": run.ended_at, "steps_left": len(run.steps)}
        run.points, run.ended_at = [], []
        self.ch.send(head, body)

    def _flush_due(self) -> None:
        now = self.clock()
        for run in self.runs.values():
            if run.points and now - run.flushed_at >= FLUSH_SECONDS:
                self._flush(run)

    def _flush_all(self) -> None:
        for run in self.runs.values():
            self._flush(run)

    def save_all(self) -> None:
        """Before leaving: every run's points and a checkpoint of where it stands."""
        for run in list(self.runs.values()):
            self._flush(run)
            self._checkpoint(run)

    def _end(self, run: Hosted, state: str, reason: str) -> None:
        self._flush(run)
        self._forget(run.id)
        self.ch.send({"t": "ended", "run": run.id, "state": state, "reason": reason})

    def _forget(self, run_id: str) -> None:
        if self.runs.pop(run_id, None) is not None:
            self.order.remove(run_id)

    # -- commands -----------------------------------------------------------------------------------------
    def _command(self, msg: Message) -> None:
        h = msg.header
        kind = msg.type
        if kind == "exit":
            self.leaving = True
            return
        if kind == "start":
            self._start(h, msg.body)
            return
        run = self.runs.get(str(h.get("run")))
        if run is None:  # it ended (or failed to start) while the command was on its way: nothing to do
            self._ack(h, None)
            return
        if kind == "run":
            run.running = bool(h["running"])
            run.next_due = self.clock()
            if not run.running:
                self._frame_if_stale(run)
                self._checkpoint(run)
        elif kind == "step":
            run.steps.append("batch" if h.get("unit") == "batch" else "epoch")
        elif kind == "want":
            run.want = True
            if not run.running and not run.steps:
                self._frame_if_stale(run)
        elif kind == "stride":
            run.stride = max(1, int(h["stride"]))
        elif kind == "set":
            self._ack(h, self._set(run, h))
        elif kind in questions.KINDS:
            self._answer(run, h)
        elif "id" in h:
            self._ack(h, f"unknown command {kind!r}")
        elif kind == "drop":
            self._flush(run)
            if h.get("frame"):
                self._frame_if_stale(run)
                self._checkpoint(run)
            self._forget(run.id)

    def _ack(self, h: dict[str, Any], error: str | None, body: bytes = b"", **payload: Any) -> None:
        """The answer to command ``h`` (to whoever asked: ``reply`` names them in a cluster)."""
        if "id" in h:
            self.ch.send({"t": "ack", "id": h["id"], "reply": h.get("reply"), "error": error, **payload}, body)

    def _answer(self, run: Hosted, h: dict[str, Any]) -> None:
        """A question about the run's current weights (``questions.py``); steps asked for earlier go first."""
        while run.id in self.runs and run.steps and not run.running:
            self._advance(run)
        if run.id not in self.runs:
            self._ack(h, "the run ended before the question was answered")
            return
        try:
            body, walked = questions.answer(run.trainer, h)
        except (ValueError, InvalidTransition) as e:
            self._ack(h, str(e))
            return
        except Exception as e:  # a bug fails this run, visibly, as in _advance
            log.error("run %s failed:\n%s", run.id, traceback.format_exc())
            self._end(run, "failed", f"{type(e).__name__}: {e}")
            self._ack(h, f"{type(e).__name__}: {e}")
            return
        if walked is not None and walked.answer["applied"]:
            self._settle(run, walked.snapshot)  # one batch step, shown as any other: point, frame, end
        self._ack(h, None, body)

    def _start(self, h: dict[str, Any], body: bytes) -> None:
        """A new run (its first point and snapshot, then the ack with its meta), or with ``resume`` a run
        carried on from its newest checkpoint (its history goes on from there)."""
        run_id = str(h["run"])
        if run_id in self.runs:
            self._ack(h, None, meta=meta(self.runs[run_id].trainer))
            return
        try:
            given = pickle.loads(body) if body else {}  # noqa: S301 - from the server that started this worker
            if "dataset" in given:
                dataset = given["dataset"]
            elif self.load_dataset is not None:
                dataset = self.load_dataset(h["config"])
            else:
                raise ValueError("the run's data did not come with it")
            trainer = build_trainer(h["config"], dataset)
            saved = given.get("checkpoint")
            if saved is None and h.get("resume") and self.load_checkpoint is not None:
                saved = self.load_checkpoint(run_id)
            if saved is not None:
                checkpoint.restore(trainer, saved[1])
        except (ValueError, TypeError, KeyError, OSError) as e:
            self._ack(h, f"{e}")
            return
        run = Hosted(run_id, trainer, running=h.get("state") == "running", speed=h["config"].get("speed"),
                     stride=max(1, int(h.get("stride", 1))), next_due=self.clock(), saved_at=self.clock())
        self.runs[run_id] = run
        self.order.append(run_id)
        if saved is None:
            self._point(run, trainer.snapshot(tensors=False))
        else:
            run.saved = trainer.position
        self._frame(run)
        self._ack(h, None, meta=meta(trainer), epoch=trainer.epoch)

    def _set(self, run: Hosted, h: dict[str, Any]) -> str | None:
        t = run.trainer
        try:
            if "parameter" in h:
                p = h["parameter"]
                t.set_parameter(p["kind"], p["layer"], p["row"], p.get("col"), p["value"])
            if "learning_rate" in h:
                t.set_learning_rate(h["learning_rate"])
            if "probe_index" in h:
                t.set_probe(h["probe_index"])
            if "epochs" in h:
                if h["epochs"] <= t.epoch:
                    raise ValueError(f"epochs: the run is at epoch {t.epoch}; a new limit must be above it")
                t.max_epochs = h["epochs"]
        except ValueError as e:
            return str(e)
        if "speed" in h:
            run.speed = h["speed"]
            run.next_due = min(run.next_due, self.clock() + (1 / run.speed if run.speed else 0))
        if ("parameter" in h or "probe_index" in h) and not run.running:
            self._frame(run)  # a paused run shows its edit at once
        return None


def _die_with(parent: int) -> None:
    """SIGKILL this process when the server that started it dies, however it dies (Linux)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if parent and os.getppid() != parent:  # it died before the line above
        os._exit(0)


def main(fd: int, parent: int = 0) -> int:
    """Serve on the socket ``fd`` (one end of a socketpair made by the web process ``parent``)."""
    import socket

    from threadpoolctl import threadpool_limits

    _die_with(parent)
    threadpool_limits(1)  # one worker process = one core's worth of training
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: worker %(process)d: %(message)s")
    sock = socket.socket(fileno=fd)
    try:
        Worker(Channel(sock)).serve()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server has gone
    finally:
        sock.close()
    return 0
