"""The run service: creates runs, places them on training workers, schedules them, carries out actions.

Everything here runs on the event loop and only ever waits on it (dataset loading and SQLite go to
threads, training to the workers of ``pool.py``). At most ``max_running`` runs train at once; a run that
asks for a slot when none is free is ``queued`` and starts when one frees, oldest first. The workers share
the cores among the runs that train, fairly.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import secrets
from collections import OrderedDict, deque
from typing import Any

import numpy as np

from backprop_core import costs, vocabulary
from backprop_core.datasets import Dataset

from ..config import Settings
from ..schemas import EpochIn, ExternalRunCreate, RunConfig, RunCreate, RunPatch
from ..worker.build import layer_sizes
from ..worker.wire import Message
from . import external
from .data import DataError, DataService
from .lifecycle import VERBS, IllegalTransition, RunState, check_action
from .persist import Persister
from .pool import WorkerGone, WorkerLink, WorkerPool
from .run import Run, RunError
from .storage import Pending, Storage, StorageError

log = logging.getLogger("backprop_viz.runs")
KEEP_FINISHED = 16  # finished runs kept in memory (older ones are served from SQLite)
LimitExceeded = RunError  # the name the API's error handler and older callers use


class NotFound(LookupError):
    pass


def resolve(cfg: RunConfig, dataset: Dataset) -> RunConfig:
    """Fill the automatic output activation and cost from the data (the core's rules)."""
    out = cfg.output_activation or vocabulary.auto_output_activation(dataset.task, dataset.n_classes)
    cost = cfg.cost or costs.default_for(out)
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
        raise RunError(f"dtype: the dataset holds values up to {peak:.3g}, beyond float32's range "
                       f"(±{limit:.3g}); choose dtype float64", field="dtype")


class RunManager:
    def __init__(self, settings: Settings, storage: Storage, data: DataService) -> None:
        self.settings, self.storage, self.data = settings, storage, data
        self.runs: OrderedDict[str, Run] = OrderedDict()
        self._queue: deque[Run] = deque()
        self._running: set[Run] = set()
        self.pool = WorkerPool(settings.workers, self._event, self._lost)
        self.persister = Persister(storage, self.pending, self._written, settings.commit_interval,
                                   max_held=int(settings.max_unsaved_mb * 2**20), overflow=self._storage_full)

    def start(self) -> None:
        self.persister.start()

    # -- creation -----------------------------------------------------------------------------------------
    def check_config(self, body: RunCreate) -> RunConfig:
        """The limits that need no data (RunError naming the field)."""
        s = self.settings
        cfg = RunConfig.model_validate(body.model_dump(exclude={"name", "start"}))
        if len(cfg.hidden_layers) > s.max_layers:
            raise RunError(f"hidden_layers: {len(cfg.hidden_layers)} layers; the limit is {s.max_layers}",
                           field="hidden_layers")
        if any(w > s.max_width for w in cfg.hidden_layers):
            raise RunError(f"hidden_layers: widths must be at most {s.max_width}", field="hidden_layers")
        if cfg.epochs > s.max_epochs:
            raise RunError(f"epochs: {cfg.epochs} is over the limit of {s.max_epochs}", field="epochs")
        if isinstance(cfg.activation, list) and len(cfg.activation) != len(cfg.hidden_layers):
            raise RunError(f"activation: {len(cfg.activation)} names for {len(cfg.hidden_layers)} hidden "
                           "layers", field="activation")
        if cfg.n_samples is not None and cfg.n_samples > s.max_samples:
            raise RunError(f"n_samples: the limit is {s.max_samples}", field="n_samples")
        return cfg

    def check_data(self, cfg: RunConfig, dataset: Dataset) -> RunConfig:
        """The limits that depend on the data; the config with its output activation and cost resolved."""
        s = self.settings
        if cfg.dtype == "float32":
            _check_float32(dataset)
        cfg = resolve(cfg, dataset)
        assert cfg.output_activation is not None and cfg.cost is not None  # set by resolve()
        try:
            costs.validate(cfg.cost, cfg.output_activation)
        except ValueError as e:
            raise RunError(str(e), field="cost") from e
        sizes = layer_sizes(cfg.model_dump(), dataset)
        n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
        if n_params > s.max_params:
            raise RunError(f"hidden_layers: the network {sizes} would have {n_params:,} parameters; the "
                           f"limit is {s.max_params:,}", field="hidden_layers")
        n_examples, n_neurons = dataset.n_train + dataset.n_test, sum(sizes[1:])
        if n_examples * n_neurons > s.max_activations:
            raise RunError(f"hidden_layers: {n_examples:,} examples × {n_neurons:,} neurons = "
                           f"{n_examples * n_neurons:,} activations in every pass over the data; the limit "
                           f"is {s.max_activations:,}: use fewer examples (n_samples) or narrower layers",
                           field="hidden_layers")
        if cfg.batch_size > dataset.n_train:
            raise RunError(f"batch_size: {cfg.batch_size} is more than the {dataset.n_train} training examples",
                           field="batch_size")
        if cfg.probe_index >= dataset.n_train:
            raise RunError(f"probe_index: must be below the {dataset.n_train} training examples",
                           field="probe_index")
        return cfg

    async def create(self, body: RunCreate) -> Run:
        s = self.settings
        cfg = self.check_config(body)
        dataset = await asyncio.to_thread(self.data.load, cfg)
        cfg = self.check_data(cfg, dataset)
        live = sum(1 for r in self.runs.values() if not r.state.terminal)
        if live >= s.max_running + s.max_queued:
            raise RunError(f"too many live runs ({live}): stop or delete one, or wait for one to finish", status=429)
        run = Run(secrets.token_hex(6), body.name, cfg, dataset.n_train)
        body_bytes = await asyncio.to_thread(pickle.dumps, {"dataset": dataset}, pickle.HIGHEST_PROTOCOL)
        self.runs[run.id] = run  # before the worker speaks: its first events are for this run
        try:
            link = await self.pool.place(run.id)
            run.link = link
            answer = await link.request({"t": "start", "run": run.id, "config": cfg.model_dump(),
                                         "state": "paused", "stride": 1}, body_bytes)
        except WorkerGone as e:
            self.runs.pop(run.id, None)
            raise RunError(f"could not start the run: {e}", status=503) from e
        except BaseException:
            self.runs.pop(run.id, None)
            raise
        if answer.header.get("error"):
            self.runs.pop(run.id, None)
            link.runs.discard(run.id)
            raise RunError(str(answer.header["error"]))
        run.meta = answer.header["meta"]
        try:
            await asyncio.to_thread(self.storage.create_run, {
                "id": run.id, "name": run.name, "config": cfg.model_dump_json(), "meta": json.dumps(run.meta),
                "state": run.state.value, "reason": "", "epoch": 0, "created_at": run.created_at,
                "updated_at": run.updated_at})
        except StorageError:  # a run that cannot be stored is not started: the worker forgets it
            run.end(RunState.FAILED, "it could not be stored", final_frame=False)
            self.runs.pop(run.id, None)
            raise
        run.stored = True
        if body.start:
            self._ask_slot(run)
        self._evict()
        return run

    # -- scheduling ---------------------------------------------------------------------------------------
    def _ask_slot(self, run: Run) -> None:
        if len(self._running) < self.settings.max_running:
            self._running.add(run)
            run.become(RunState.RUNNING)
        else:
            self._queue.append(run)
            run.become(RunState.QUEUED)

    def _release(self, run: Run) -> None:
        self._running.discard(run)
        if run in self._queue:
            self._queue.remove(run)
        while self._queue and len(self._running) < self.settings.max_running:
            nxt = self._queue.popleft()
            self._running.add(nxt)
            nxt.become(RunState.RUNNING)

    def _end(self, run: Run, state: RunState, reason: str, **how: bool) -> None:
        if run.state.terminal:
            return
        run.end(state, reason, **how)
        self._release(run)

    # -- actions ------------------------------------------------------------------------------------------
    def get(self, run_id: str) -> Run:
        run = self.runs.get(run_id)
        if run is None:
            raise NotFound(f"no run {run_id!r}")
        return run

    async def follow(self, run_id: str) -> Run | None:
        """The live run a stream client follows (None: only in storage)."""
        run = self.runs.get(run_id)
        return run if run is not None and run.meta else None

    async def describe(self, run_id: str) -> dict[str, Any] | None:
        """A live run this node does not hold (a cluster's replica answers from the registry); here: None."""
        return None

    async def live(self, run_id: str, action: str) -> Run:
        """The run in memory, for an action; a stored (finished) run refuses it with a 409."""
        run = self.runs.get(run_id)
        if run is not None:
            return run
        row = await asyncio.to_thread(self.storage.get_run, run_id)
        if row is None:
            raise NotFound(f"no run {run_id!r}")
        raise IllegalTransition(f"cannot {VERBS.get(action, action)} a run that is {row['state']}")

    async def action(self, run_id: str, action: str, unit: str = "epoch") -> Run:
        run = await self.live(run_id, action)
        if run.meta.get("kind") == "external" and action != "stop":
            raise IllegalTransition(f"cannot {action} an external run: its own program trains it (stop ends it)")
        run.check(action)
        if action == "pause":
            self._release(run)
            run.become(RunState.PAUSED)
        elif action == "resume":
            self._ask_slot(run)
        elif action == "stop":
            self._end(run, RunState.STOPPED, "stopped by the user")
        elif action == "step":
            run.step(unit)
        return run

    async def ask(self, run_id: str, question: str, fields: dict[str, Any]) -> bytes:
        """A question about a paused run's current weights (``Run.ask``): the answer as JSON text."""
        run = await self.live(run_id, question)
        return await run.ask(question, fields)

    async def patch(self, run_id: str, body: RunPatch) -> Run | None:
        """Carry out a PATCH; None when it renamed a run that is only in storage."""
        given = body.model_fields_set
        if body.epochs is not None and body.epochs > self.settings.max_epochs:
            raise RunError(f"epochs: {body.epochs} is over the limit of {self.settings.max_epochs}", field="epochs")
        if given <= {"name"} and body.name is not None and run_id not in self.runs:
            if not await asyncio.to_thread(self.storage.rename, run_id, body.name):
                raise NotFound(f"no run {run_id!r}")
            return None
        current = self.runs.get(run_id)
        if body.epochs is not None and (current is None or current.state.terminal):
            run = await self._continue(run_id, body.epochs)
            given = given - {"epochs"}
            if not given - {"name"}:
                if body.name is not None:
                    run.name = body.name
                    run.touch()
                return run
        run = await self.live(run_id, "edit" if body.parameter is not None else "change")
        if body.parameter is not None:
            run.check("edit")
        elif run.state.terminal and given - {"name"}:
            raise IllegalTransition(f"cannot change a run that is {run.state.value}")
        if body.probe_index is not None and body.probe_index >= run.n_train:
            raise RunError(f"probe_index: must be below the {run.n_train} training examples", field="probe_index")
        changes: dict[str, Any] = {}
        if body.learning_rate is not None:
            changes["learning_rate"] = body.learning_rate
        if "speed" in given:
            changes["speed"] = body.speed
        if body.probe_index is not None:
            changes["probe_index"] = body.probe_index
        if body.parameter is not None:
            changes["parameter"] = body.parameter.model_dump()
        if "epochs" in given and body.epochs is not None:
            changes["epochs"] = body.epochs
        await run.configure(changes)
        if body.name is not None:
            run.name = body.name
            run.touch()
        return run

    # -- external runs: trained by their own program, drawn here ----------------------------------------------
    async def create_external(self, body: ExternalRunCreate) -> Run:
        config, meta = external.check_create(body, self.settings)
        live = sum(1 for r in self.runs.values() if not r.state.terminal)
        if live >= self.settings.max_running + self.settings.max_queued:
            raise RunError(f"too many live runs ({live}): stop or delete one, or wait for one to finish", status=429)
        run = Run(secrets.token_hex(6), body.name, config, 0)
        run.meta = meta
        run.state = RunState.RUNNING  # it trains elsewhere, from now on
        await asyncio.to_thread(self.storage.create_run, {
            "id": run.id, "name": run.name, "config": config.model_dump_json(), "meta": json.dumps(meta),
            "state": run.state.value, "reason": "", "epoch": 0, "created_at": run.created_at,
            "updated_at": run.updated_at})
        run.stored = True
        self.runs[run.id] = run
        self._evict()
        return run

    async def _external(self, run_id: str) -> Run:
        run = self.runs.get(run_id)
        if run is None:
            row = await asyncio.to_thread(self.storage.get_run, run_id)
            if row is None:
                raise NotFound(f"no run {run_id!r}")
            raise IllegalTransition(f"run {run_id} is {row['state']}: it takes no more epochs")
        if run.meta.get("kind") != "external":
            raise IllegalTransition(f"run {run_id} is trained here, not by a program of its own: it takes no epochs")
        if run.state.terminal:
            raise IllegalTransition(f"the external run {run_id} is {run.state.value}: it takes no more epochs")
        return run

    async def ingest(self, run_id: str, epoch: EpochIn) -> Run:
        run = await self._external(run_id)
        external.ingest(run, epoch)
        if epoch.epoch >= run.config.epochs:
            run.end(RunState.DONE, f"reached the epoch limit {run.config.epochs}")
        return run

    async def finish(self, run_id: str, state: str, reason: str) -> Run:
        run = await self._external(run_id)
        run.end(RunState(state), reason or ("finished by its program" if state == "done" else "it failed"))
        return run

    async def _continue(self, run_id: str, epochs: int) -> Run:
        """A run that is done or stopped, paused again with a new epoch limit: its trainer restored from its
        checkpoint in a worker, its history going on where it ended."""
        old = self.runs.get(run_id)
        if old is not None and old.dirty:
            await self.persister.flush()  # what it wrote last (its checkpoint, its epoch) is in storage first
        row = await asyncio.to_thread(self.storage.get_run, run_id)
        if row is None:
            raise NotFound(f"no run {run_id!r}")
        state = old.state if old is not None else RunState(row["state"])
        check_action("continue", state)
        at = max(int(row["epoch"]), old.epoch if old is not None else 0)
        if epochs <= at:
            raise RunError(f"epochs: the run is at epoch {at}; a new limit must be above it", field="epochs")
        saved = await asyncio.to_thread(self.storage.checkpoint, run_id)
        if saved is None or saved[0] != int(row["epoch"]):
            raise IllegalTransition(f"cannot continue run {run_id}: it has no checkpoint of its last epoch")
        cfg = RunConfig.model_validate_json(row["config"]).model_copy(update={"epochs": epochs})
        dataset = await asyncio.to_thread(self.data.load, cfg)
        run = Run(run_id, row["name"], cfg, dataset.n_train)
        run.meta, run.created_at = json.loads(row["meta"]), row["created_at"]
        run.state, run.reason = state, row["reason"]
        run.points = await asyncio.to_thread(self.storage.history_json, run_id)
        run.ended_at = [0.0] * len(run.points)
        run.adopt_stored(len(run.points), self.storage.stride(run_id))
        body = await asyncio.to_thread(pickle.dumps, {"dataset": dataset, "checkpoint": saved}, pickle.HIGHEST_PROTOCOL)
        if old is not None:
            old.mirror(state, row["reason"])
        self.runs[run_id] = run
        try:
            run.link = await self.pool.place(run_id)
            answer = await run.link.request({"t": "start", "run": run_id, "config": cfg.model_dump(),
                                             "state": "paused", "stride": run.stride}, body)
        except WorkerGone as e:
            self.runs.pop(run_id, None)
            raise RunError(f"could not continue the run: {e}", status=503) from e
        if answer.header.get("error"):
            self.runs.pop(run_id, None)
            raise RunError(str(answer.header["error"]))
        if old is not None:
            run.watchers = old.watchers  # its watchers follow it on
        run.become(RunState.PAUSED, f"continued to epoch {epochs}")
        return run

    async def delete(self, run_id: str) -> None:
        run = self.runs.get(run_id)
        if run is None and await asyncio.to_thread(self.storage.get_run, run_id) is None:
            raise NotFound(f"no run {run_id!r}")
        if run is not None:
            self._end(run, RunState.STOPPED, "deleted", final_frame=False)
            self.runs.pop(run_id, None)
        await asyncio.to_thread(self.storage.delete_run, run_id)

    def _evict(self) -> None:
        """Keep only the newest finished runs in memory (after their last write reached SQLite)."""
        settled = [r for r in self.runs.values() if r.settled]
        for r in settled[:-KEEP_FINISHED]:
            self.runs.pop(r.id, None)

    # -- worker events --------------------------------------------------------------------------------------
    def _event(self, link: WorkerLink, msg: Message) -> None:
        h = msg.header
        run = self.runs.get(str(h.get("run")))
        if run is None or run.link is not link:
            return  # deleted meanwhile
        kind = msg.type
        if kind == "points":
            run.on_points(msg.body.decode().split("\n"), h["ended_at"], int(h.get("steps_left", 0)))
        elif kind == "frame":
            if not run.stride_planned and h["epoch"] == 0:
                run.stride_planned = True
                run.set_stride(self.storage.plan_stride(run.id, len(msg.body), run.config.epochs))
            run.on_frame(int(h["epoch"]), int(h["batch"]), msg.body)
        elif kind == "checkpoint":
            run.on_checkpoint(int(h["epoch"]), msg.body)
        elif kind == "ended":
            state = {"done": RunState.DONE, "diverged": RunState.DIVERGED}.get(h["state"], RunState.FAILED)
            self._end(run, state, str(h.get("reason", "")), tell_worker=False)

    def _lost(self, link: WorkerLink, reason: str) -> None:
        for run in list(self.runs.values()):
            if run.link is link and not run.state.terminal:
                self._end(run, RunState.FAILED, reason, tell_worker=False)

    # -- storage and shutdown ---------------------------------------------------------------------------
    def pending(self) -> list[Pending]:
        out = []
        for run in list(self.runs.values()):
            p = run.drain() if run.stored else None
            if p is not None:
                out.append(p)
        return out

    def _storage_full(self, reason: str) -> None:
        """Storage has failed for long enough that what waits to be written passes its bound: every run that
        trains pauses, with the reason (nothing is lost; the user resumes once storage works)."""
        log.error("pausing every training run: %s", reason)
        for run in list(self.runs.values()):
            if run.state in (RunState.RUNNING, RunState.QUEUED):
                self._release(run)
                run.become(RunState.PAUSED, reason)

    async def check(self) -> tuple[str, str]:
        """``/healthz``: ("ok", "") or ("degraded", why)."""
        return self.health()

    def health(self) -> tuple[str, str]:
        """("ok", "") or ("degraded", why)."""
        failing = self.persister.failing
        if failing is None:
            return "ok", ""
        return "degraded", (f"storage is failing: {failing}; {self.persister.held_bytes / 2**20:.1f} MB of history "
                            "wait in memory and will be written when it works again")

    def _written(self, batch: list[Pending]) -> None:
        for p in batch:
            run = self.runs.get(p.run_id)
            if run is not None:
                run.set_stride(self.storage.stride(run.id))
        self._evict()

    async def shutdown(self) -> None:
        """Server stopping: live runs end ``interrupted``; the workers leave; what is pending is written."""
        for run in list(self.runs.values()):
            if not run.state.terminal:
                self._end(run, RunState.INTERRUPTED, "the server stopped while this run was live", tell_worker=False)
        await self.pool.close()
        await self.persister.close()

    def active(self) -> int:
        return len(self._running)


__all__ = ["DataError", "IllegalTransition", "LimitExceeded", "NotFound", "RunError", "RunManager", "resolve"]
