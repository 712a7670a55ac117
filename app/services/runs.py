"""The run service: creates runs, schedules them onto training slots, carries out user actions.

Training runs in worker threads (one per live run), never on the event loop. At most ``max_running``
runs train at once; a run that asks for a slot when none is free is ``queued`` and starts when one frees,
oldest first. BLAS is pinned to one thread (see ``main.py``) so concurrent runs don't fight over 2 cores.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections import OrderedDict, deque

import numpy as np

from backprop_core import MLP, Trainer, output_layer_size
from backprop_core.datasets import Dataset

from ..config import Settings
from ..schemas import ParameterEdit, RunConfig, RunCreate
from .data import DataError, DataService
from .hub import Hub
from .lifecycle import IllegalTransition, RunState, check_action, check_transition
from .run import Run
from .storage import Pending, Storage

KEEP_FINISHED = 16  # finished runs kept in memory (older ones are served from SQLite)


class NotFound(LookupError):
    pass


class LimitExceeded(ValueError):
    """A request over a configured limit; ``status`` 422 (too big) or 429 (too many)."""

    def __init__(self, message: str, status: int = 422, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.field = status, field


def resolve(cfg: RunConfig, dataset: Dataset) -> RunConfig:
    """Fill the automatic output activation and cost from the data."""
    out = cfg.output_activation
    if out is None:
        out = "linear" if dataset.task == "regression" else "tanh" if dataset.n_classes == 2 else "softmax"
    cost: str | None = cfg.cost
    if cost is None:
        cost = {"softmax": "cross_entropy", "sigmoid": "binary_cross_entropy"}.get(out, "quadratic")
    return cfg.model_copy(update={"output_activation": out, "cost": cost})


def _check_float32(dataset: Dataset) -> None:
    """An uploaded value can be a finite float64 but not a finite float32 (1e39): refuse it here rather than
    train on ±inf."""
    limit = float(np.finfo(np.float32).max)
    arrays = [dataset.X_train, dataset.X_test]
    if dataset.task == "regression":
        arrays += [dataset.y_train, dataset.y_test]
    peak = max((float(np.abs(a).max()) for a in arrays if a.size), default=0.0)
    if peak > limit:
        raise LimitExceeded(f"dtype: the dataset holds values up to {peak:.3g}, beyond float32's range "
                            f"(±{limit:.3g}); choose dtype float64", field="dtype")


class RunManager:
    def __init__(self, settings: Settings, storage: Storage, data: DataService,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.settings, self.storage, self.data, self.loop = settings, storage, data, loop
        self.runs: OrderedDict[str, Run] = OrderedDict()
        self._lock = threading.RLock()  # scheduling: states, slots, the queue
        self._queue: deque[Run] = deque()
        self._running: set[Run] = set()

    # -- creation -----------------------------------------------------------------------------------------
    def create(self, body: RunCreate) -> Run:
        s = self.settings
        cfg = RunConfig.model_validate(body.model_dump(exclude={"name", "start"}))
        if len(cfg.hidden_layers) > s.max_layers:
            raise LimitExceeded(f"hidden_layers: {len(cfg.hidden_layers)} layers; the limit is {s.max_layers}",
                                field="hidden_layers")
        if any(w > s.max_width for w in cfg.hidden_layers):
            raise LimitExceeded(f"hidden_layers: widths must be at most {s.max_width}", field="hidden_layers")
        if cfg.epochs > s.max_epochs:
            raise LimitExceeded(f"epochs: {cfg.epochs} is over the limit of {s.max_epochs}", field="epochs")
        if isinstance(cfg.activation, list) and len(cfg.activation) != len(cfg.hidden_layers):
            raise LimitExceeded(f"activation: {len(cfg.activation)} names for {len(cfg.hidden_layers)} hidden "
                                "layers", field="activation")
        if cfg.n_samples is not None and cfg.n_samples > s.max_samples:
            raise LimitExceeded(f"n_samples: the limit is {s.max_samples}", field="n_samples")
        dataset = self.data.load(cfg)
        if cfg.dtype == "float32":
            _check_float32(dataset)
        cfg = resolve(cfg, dataset)
        assert cfg.output_activation is not None and cfg.cost is not None  # set by resolve()
        sizes = [dataset.input_dim, *cfg.hidden_layers, output_layer_size(dataset, cfg.output_activation)]
        n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
        if n_params > s.max_params:
            raise LimitExceeded(f"hidden_layers: the network {sizes} would have {n_params:,} parameters; the "
                                f"limit is {s.max_params:,}", field="hidden_layers")
        n_examples, n_neurons = dataset.n_train + dataset.n_test, sum(sizes[1:])
        if n_examples * n_neurons > s.max_activations:
            raise LimitExceeded(f"hidden_layers: {n_examples:,} examples × {n_neurons:,} neurons = "
                                f"{n_examples * n_neurons:,} activations in every pass over the data; the limit "
                                f"is {s.max_activations:,}: use fewer examples (n_samples) or narrower layers",
                                field="hidden_layers")
        if cfg.batch_size > dataset.n_train:
            raise LimitExceeded(f"batch_size: {cfg.batch_size} is more than the {dataset.n_train} training "
                                "examples", field="batch_size")
        if cfg.probe_index >= dataset.n_train:
            raise LimitExceeded(f"probe_index: must be below the {dataset.n_train} training examples",
                                field="probe_index")
        with self._lock:
            live = sum(1 for r in self.runs.values() if not r.state.terminal)
            if live >= s.max_running + s.max_queued:
                raise LimitExceeded(f"too many live runs ({live}): stop or delete one, or wait for one to "
                                    "finish", status=429)
        try:
            net = MLP(sizes, cfg.activation, cfg.output_activation, cfg.cost, init=cfg.init, seed=cfg.seed,
                      dtype=np.dtype(cfg.dtype), regularization=cfg.regularization,
                      regularization_rate=cfg.regularization_rate)
            trainer = Trainer(net, dataset, learning_rate=cfg.learning_rate, batch_size=cfg.batch_size,
                              optimizer=cfg.optimizer, momentum=cfg.momentum, seed=cfg.seed,
                              max_epochs=cfg.epochs, target_cost=cfg.target_cost, probe_index=cfg.probe_index)
        except ValueError as e:  # combinations the core refuses (softmax with quadratic …)
            field = "cost" if "cost" in str(e) else None
            raise LimitExceeded(str(e), field=field) from e
        run_id = secrets.token_hex(6)
        meta = {
            "layer_sizes": sizes,
            "activations": [a.name for a in net.layer_activations],
            "task": dataset.task,
            "n_classes": dataset.n_classes,
            "grid": {"size": trainer.grid_size, "extent": list(trainer.grid_extent)}
            if trainer.grid_extent else None,
        }
        hub = Hub(self.loop)
        run = Run(run_id, body.name, cfg, meta, trainer, dataset, hub, self._ended,
                  lambda: self.storage.stride(run_id))
        self.storage.create_run({
            "id": run_id, "name": body.name, "config": cfg.model_dump_json(), "meta": json.dumps(meta),
            "state": run.state.value, "reason": "", "epoch": 0, "created_at": run.created_at,
            "updated_at": run.updated_at})
        with self._lock:
            self.runs[run_id] = run
            if body.start:
                self._ask_slot(run)
        run.thread.start()
        self._evict()
        return run

    # -- scheduling (under _lock) ---------------------------------------------------------------------------
    def _set(self, run: Run, state: RunState, reason: str = "") -> None:
        with run.cond:
            if run.state == state:
                return
            check_transition(run.state, state)
            run.state, run.reason = state, reason
            run.touch()
            run.cond.notify_all()
        run.hub.state(run.state_message())

    def _ask_slot(self, run: Run) -> None:
        if len(self._running) < self.settings.max_running:
            self._running.add(run)
            self._set(run, RunState.RUNNING)
        else:
            self._queue.append(run)
            self._set(run, RunState.QUEUED)

    def _release(self, run: Run) -> None:
        self._running.discard(run)
        if run in self._queue:
            self._queue.remove(run)
        while self._queue and len(self._running) < self.settings.max_running:
            nxt = self._queue.popleft()
            self._running.add(nxt)
            self._set(nxt, RunState.RUNNING)

    def _ended(self, run: Run, state: RunState, reason: str) -> None:
        """Called by a worker thread when its run finishes (done, diverged, failed)."""
        with self._lock:
            if run.state.terminal:
                return
            self._set(run, state, reason)
            self._release(run)

    # -- actions ------------------------------------------------------------------------------------------
    def get(self, run_id: str) -> Run:
        run = self.runs.get(run_id)
        if run is None:
            raise NotFound(f"no run {run_id!r}")
        return run

    def action(self, run_id: str, action: str, unit: str = "epoch") -> Run:
        run = self._live(run_id, action)
        with self._lock:
            check_action(action, run.state)
            if action == "pause":
                self._release(run)
                self._set(run, RunState.PAUSED)
            elif action == "resume":
                self._ask_slot(run)
            elif action == "stop":
                self._set(run, RunState.STOPPED, "stopped by the user")
                self._release(run)
            elif action == "step":
                with run.cond:
                    if len(run.steps) >= 100:
                        raise LimitExceeded("too many steps waiting; wait for them to finish", status=429)
                    run.steps.append(unit)
                    run.cond.notify_all()
        return run

    def _live(self, run_id: str, action: str) -> Run:
        run = self.runs.get(run_id)
        if run is not None:
            return run
        row = self.storage.get_run(run_id)
        if row is None:
            raise NotFound(f"no run {run_id!r}")
        check_action(action, RunState(row["state"]))  # a stored run is always finished: this raises
        raise IllegalTransition(f"run {run_id} is {row['state']}")  # pragma: no cover

    def patch(self, run_id: str, learning_rate: float | None, speed: float | None, speed_given: bool,
              probe_index: int | None, parameter: ParameterEdit | None, name: str | None) -> Run:
        run = self._live(run_id, "edit" if parameter is not None else "stop")
        t = run.trainer
        if probe_index is not None and probe_index >= run.dataset.n_train:
            raise LimitExceeded(f"probe_index: must be below the {run.dataset.n_train} training examples",
                                field="probe_index")
        if parameter is not None:
            with self._lock:
                check_action("edit", run.state)
            try:
                with run.train_lock:
                    t.set_parameter(parameter.kind, parameter.layer, parameter.row, parameter.col,
                                    parameter.value)
            except ValueError as e:
                raise LimitExceeded(f"parameter: {e}", field="parameter") from e
        with run.cond:
            if learning_rate is not None:
                t.set_learning_rate(learning_rate)
                run.config = run.config.model_copy(update={"learning_rate": learning_rate})
            if speed_given:
                run.speed = speed
                run.config = run.config.model_copy(update={"speed": speed})
            if probe_index is not None:
                t.set_probe(probe_index)
                run.config = run.config.model_copy(update={"probe_index": probe_index})
            if name is not None:
                run.name = name
            run.touch()
            run.cond.notify_all()
        if (parameter is not None or probe_index is not None) and run.state is not RunState.RUNNING:
            self._refresh(run)
        return run

    def _refresh(self, run: Run) -> None:
        """A paused run whose probe or weights changed: publish a fresh snapshot of the same epoch."""
        with run.train_lock:
            snap = run.trainer.snapshot()
        run.show(snap)

    def delete(self, run_id: str) -> None:
        run = self.runs.get(run_id)
        if run is None and self.storage.get_run(run_id) is None:
            raise NotFound(f"no run {run_id!r}")
        if run is not None:
            with self._lock:
                if not run.state.terminal:
                    self._set(run, RunState.STOPPED, "deleted")
                    self._release(run)
                self.runs.pop(run_id, None)
        self.storage.delete_run(run_id)

    def _evict(self) -> None:
        """Keep only the newest finished runs in memory (after their last write reached SQLite)."""
        with self._lock:
            finished = [r for r in self.runs.values() if r.state.terminal and not r._dirty]
            for r in finished[:-KEEP_FINISHED]:
                self.runs.pop(r.id, None)

    # -- storage and shutdown ---------------------------------------------------------------------------
    def pending(self) -> list[Pending]:
        out = []
        for run in list(self.runs.values()):
            p = run.drain()
            if p is not None:
                out.append(p)
        return out

    def shutdown(self) -> None:
        """Server stopping: live runs end ``interrupted``; their threads leave at the next epoch."""
        with self._lock:
            for run in self.runs.values():
                if not run.state.terminal:
                    self._set(run, RunState.INTERRUPTED, "the server stopped while this run was live")
                    self._release(run)
        for run in list(self.runs.values()):
            run.thread.join(timeout=5)

    def active(self) -> int:
        return len(self._running)


def edit_allowed(run: Run) -> bool:
    try:
        check_action("edit", run.state)
    except IllegalTransition:
        return False
    return True


__all__ = ["DataError", "IllegalTransition", "LimitExceeded", "NotFound", "RunManager", "resolve"]
