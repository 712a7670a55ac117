"""The worker's loop (app/worker/host.py) on an in-memory channel: a ``want`` that arrives while a long epoch
trains is answered with that epoch's snapshot, right after its point — not one epoch later (a slow run's
watcher would get a frame every other epoch); on a short epoch, or for other commands, the loop's order
holds."""

from __future__ import annotations

import pickle
from typing import Any

from app.schemas import RunConfig
from app.services.runs import resolve
from app.worker.host import EARLY_LOOK_SECONDS, Worker
from app.worker.wire import Message
from backprop_core import datasets
from backprop_core.inputs import prepare


class Channel:
    """Commands handed to the worker when it looks (``receive``), and everything it sends."""

    def __init__(self) -> None:
        self.inbox: list[Message] = []
        self.sent: list[dict[str, Any]] = []
        self.closed = False

    def send(self, header: dict[str, Any], body: bytes | bytearray | memoryview = b"") -> None:
        self.sent.append(header)

    def receive(self, timeout: float | None) -> list[Message]:
        out, self.inbox = self.inbox, []
        return out


class Clock:
    """Each reading ``step`` seconds after the last: every epoch "takes" that long."""

    def __init__(self, step: float) -> None:
        self.t, self.step = 0.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


def _worker(step: float) -> tuple[Worker, Channel]:
    cfg = RunConfig(epochs=1000, speed=None)
    ds = prepare(datasets.load(cfg.dataset, n_samples=cfg.n_samples, noise=cfg.noise,
                               train_fraction=cfg.train_fraction, seed=cfg.seed), cfg.features,
                 standardize=cfg.standardize)
    ch = Channel()
    w = Worker(ch, clock=Clock(step))
    w._command(Message({"t": "start", "id": 1, "run": "r", "state": "running",
                        "config": resolve(cfg, ds).model_dump(), "stride": 10**6}, pickle.dumps({"dataset": ds})))
    ch.sent.clear()
    return w, ch


def _train_one_epoch_with_a_want_arriving(w: Worker, ch: Channel) -> list[tuple[str, int | None]]:
    run = w.runs["r"]
    ch.inbox = [Message({"t": "want", "run": "r"}, b""), Message({"t": "stride", "run": "r", "stride": 5}, b"")]
    w._advance(run)
    w._flush(run)
    return [(h["t"], h.get("epoch")) for h in ch.sent]


def test_a_want_that_came_during_a_long_epoch_gets_that_epochs_snapshot() -> None:
    w, ch = _worker(step=2 * EARLY_LOOK_SECONDS)
    assert _train_one_epoch_with_a_want_arriving(w, ch) == [("points", None), ("frame", 1)]
    assert list(w.pending) == [Message({"t": "stride", "run": "r", "stride": 5}, b"")]  # waits for the loop
    assert w.runs["r"].stride == 10**6
    for msg in w._incoming(0):
        w._command(msg)
    assert w.runs["r"].stride == 5 and not w.pending


def test_on_a_short_epoch_commands_wait_for_the_loop() -> None:
    w, ch = _worker(step=0.0)
    assert _train_one_epoch_with_a_want_arriving(w, ch) == [("points", None)]
    assert not w.pending and len(ch.inbox) == 2  # still unread: the loop reads them before the next epoch
