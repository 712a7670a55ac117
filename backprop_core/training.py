"""Mini-batch gradient descent over a shuffled training set, one frozen EpochSnapshot per epoch.

The Trainer is a small state machine (``TrainerState``): RUNNING ⇄ PAUSED → DONE | STOPPED | DIVERGED.
It never prints and never sleeps; whoever drives it (the CLI, the server's worker thread) calls ``run`` or
the single steps ``step_epoch`` / ``step_batch``. Same network seed, data and ``seed`` → the same
snapshots bit for bit.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import optimizers
from .datasets import Dataset
from .network import MLP, Gradients, Trace
from .snapshot import EpochSnapshot

Array = np.ndarray
GRID_SIZE = 40  # G: the input-plane grid of a 2-D set is G × G points
MAX_GRAD_SUBSET = 1024  # snapshots' ∂C/∂W averages over the training set, or this many fixed examples of it
MAX_GRID_NEURONS = 32  # layers wider than this get no per-neuron grid (the page shows them as a matrix)
MAX_WORKSPACE_BYTES = 64 * 2**20  # arrays a Trainer keeps between epochs for its evaluation passes


class TrainerState(enum.Enum):
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    STOPPED = "stopped"
    DIVERGED = "diverged"

    @property
    def terminal(self) -> bool:
        return self in (TrainerState.DONE, TrainerState.STOPPED, TrainerState.DIVERGED)


class InvalidTransition(RuntimeError):
    """An action that the current state does not allow; the message names both."""


def encode_targets(dataset: Dataset, y: Array, net: MLP) -> Array:
    """Targets Y (n, n_L) for labels y (n,), in the output activation's range.

    Regression: y itself. Binary classification on one output neuron: class 1 → +1 and class 0 → −1
    (Playground's labels; 0 for a sigmoid output). k classes on k output neurons: one-hot (−1 for the
    other classes with a tanh output). The two targets are the output activation's ``targets``.
    """
    n_out = net.sizes[-1]
    if dataset.task == "regression":
        if n_out != 1:
            raise ValueError(f"regression needs 1 output neuron, the network has {n_out}")
        return y.reshape(-1, 1).astype(net.dtype)
    low, high = net.output_activation.targets
    if n_out == 1 and dataset.n_classes == 2:
        return np.where(y == 1, high, low).reshape(-1, 1).astype(net.dtype)
    if n_out == dataset.n_classes:
        Y = np.full((y.size, n_out), low, dtype=net.dtype)
        Y[np.arange(y.size), y] = high
        return Y
    raise ValueError(f"{dataset.n_classes} classes need {dataset.n_classes} output neurons (or 1 for two "
                     f"classes), the network has {n_out}")


def output_layer_size(dataset: Dataset, output_activation: str) -> int:
    """How many output neurons a dataset needs: 1 for regression and for two classes (but softmax), else k."""
    if dataset.task == "regression":
        return 1
    if dataset.n_classes == 2 and output_activation != "softmax":
        return 1
    return dataset.n_classes


MAX_TEST_OUTPUTS = 1000  # snapshots keep aᴸ for at most this many test examples


@dataclass(frozen=True)
class _Eval:
    cost: float
    accuracy: float | None
    output: Array
    trace: Trace | None


@dataclass(frozen=True)
class _Measured:
    """One state's evaluation, shared by its metrics and its tensors: the costs and accuracies, and the
    gradient over the training set (or its fixed subset) with its δˡ — None when snapshots are off.
    ``key`` = (epoch, batch, parameter version) of the state it describes."""

    key: tuple[int, int, int]
    train: _Eval
    test: _Eval
    grads: Gradients | None


class Trainer:
    """Runs epochs of mini-batch gradient descent on ``net`` (updated in place) over ``dataset``.

    Args:
        learning_rate: η, may be changed mid-run with ``set_learning_rate`` (no reset).
        batch_size: examples per mini-batch (the last batch of an epoch may be smaller).
        optimizer: ``sgd`` (the seed's gradient descent) or ``momentum``.
        seed: drives the shuffling and the fixed gradient subset.
        max_epochs: DONE after this many epochs (None: no limit).
        target_cost: DONE once the training cost is ≤ this (None: no target).
        probe_index: the training example whose zˡ, aˡ, δˡ every snapshot records.
        snapshots: True: each epoch's snapshot carries the per-layer norms and (unless a step is asked for
            ``tensors=False``) every tensor; False: scalars only, for speed.
        grid_size: G, the side of the input-plane grid for 2-D data (0 = none); its points are in the raw
            data's coordinates and reach the network through the dataset's input map (``to_inputs``).
    """

    def __init__(
        self,
        net: MLP,
        dataset: Dataset,
        *,
        learning_rate: float = 0.03,
        batch_size: int = 10,
        optimizer: str = "sgd",
        momentum: float = 0.9,
        seed: int = 0,
        max_epochs: int | None = None,
        target_cost: float | None = None,
        probe_index: int = 0,
        snapshots: bool = True,
        grid_size: int = GRID_SIZE,
    ) -> None:
        if dataset.input_dim != net.sizes[0]:
            raise ValueError(f"the data has {dataset.input_dim} inputs, the network {net.sizes[0]}")
        if not 1 <= batch_size <= dataset.n_train:
            raise ValueError(f"batch_size must be between 1 and the {dataset.n_train} training examples, "
                             f"got {batch_size}")
        if max_epochs is not None and max_epochs < 1:  # the first step_epoch always trains one epoch
            raise ValueError(f"max_epochs must be ≥ 1 (or None), got {max_epochs}")
        self.net, self.dataset = net, dataset
        self.optimizer = optimizers.make(optimizer, learning_rate, momentum)
        self.batch_size = batch_size
        self.max_epochs, self.target_cost = max_epochs, target_cost
        self.snapshots = snapshots
        self.X = dataset.X_train.astype(net.dtype)
        self.Y = encode_targets(dataset, dataset.y_train, net)
        self.X_test = dataset.X_test.astype(net.dtype)
        self.Y_test = encode_targets(dataset, dataset.y_test, net) if dataset.n_test else self.Y[:0]
        self._rng = np.random.default_rng([seed, 1])
        n = dataset.n_train
        # The snapshot's "full-set" gradient: all training examples, or a fixed subset of big sets.
        self._sub: Array | None = None
        if n > MAX_GRAD_SUBSET:
            self._sub = np.sort(np.random.default_rng([seed, 2]).choice(n, MAX_GRAD_SUBSET, replace=False))
        self._sub_Y = self.Y if self._sub is None else self.Y[self._sub]
        self.set_probe(probe_index)
        raw = dataset.raw  # the grid lies in the raw data's plane; the network sees its points' inputs
        two_d = grid_size > 0 and raw.input_dim == 2
        self._grid = dataset.to_inputs(_grid_points(raw, grid_size)).astype(np.float32) if two_d else None
        self.grid_size = grid_size if self._grid is not None else 0
        self.grid_extent = _extent(raw) if self._grid is not None else None
        self.epoch = 0
        self._order: tuple[Array, Array, Array] | None = None  # this epoch's order and shuffled X, Y
        self._batch = 0  # batches done in the current epoch
        self._epoch_rng: dict[str, Any] = dict(self._rng.bit_generator.state)  # the shuffler before the epoch
        self.state = TrainerState.RUNNING
        self.reason = ""  # why the run ended (DONE, DIVERGED)
        # Forward passes over the same big arrays every epoch (training set, test set, gradient subset,
        # grid) write into the arrays of the previous epoch's pass instead of fresh ones: allocating
        # megabytes per epoch costs page faults that can double a snapshot's time (same numbers either way).
        # At most MAX_WORKSPACE_BYTES are kept; passes beyond that allocate afresh each epoch.
        self._workspace: dict[str, Trace] = {}
        self._workspace_bytes = 0
        self._version = 0  # bumped by every parameter edit: a state is (epoch, batch, version)
        self._measured: _Measured | None = None  # the newest state's evaluation, reused by its tensors

    # -- controls -----------------------------------------------------------------------------------------
    @property
    def position(self) -> tuple[int, int, int]:
        """(epoch, batch, parameter version): changes whenever the state a snapshot would show changes."""
        return (self.epoch, self._batch, self._version)

    @property
    def epoch_rng_state(self) -> dict[str, Any]:
        """The shuffling generator's state before the current epoch's permutation was drawn (checkpoint.py)."""
        return self._epoch_rng if self._order is not None else dict(self._rng.bit_generator.state)

    def resume_at(self, epoch: int, batch: int, rng_state: dict[str, Any]) -> None:
        """Continue from a saved position: ``epoch`` epochs done and ``batch`` mini-batches of the next, the
        shuffler as it was before that epoch's permutation (``epoch_rng_state``)."""
        self._rng.bit_generator.state = rng_state
        self.epoch, self._batch, self._order = epoch, 0, None
        self._measured = None
        self._version += 1
        if batch:
            self._epoch_rng = dict(self._rng.bit_generator.state)
            self._order = self._shuffle(self._rng)
            self._batch = batch

    @property
    def learning_rate(self) -> float:
        return self.optimizer.learning_rate

    def set_learning_rate(self, learning_rate: float) -> None:
        """Change η without touching the weights."""
        if not np.isfinite(learning_rate) or learning_rate <= 0:
            raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate}")
        self.optimizer.learning_rate = float(learning_rate)

    def set_probe(self, index: int) -> None:
        """Make training example ``index`` the probe."""
        if not 0 <= index < self.dataset.n_train:
            raise ValueError(f"probe index must be in [0, {self.dataset.n_train - 1}], got {index}")
        self.probe_index = int(index)

    def set_parameter(self, kind: str, layer: int, row: int, col: int | None, value: float) -> None:
        """Edit one weight (kind ``weight``: W^layer[row, col]) or bias (``bias``: b^layer[row])."""
        if kind not in ("weight", "bias"):
            raise ValueError(f"kind must be 'weight' or 'bias', got {kind!r}")
        if not 1 <= layer <= len(self.net.weights):
            raise ValueError(f"layer must be in [1, {len(self.net.weights)}], got {layer}")
        if not np.isfinite(value):
            raise ValueError("value must be a finite number")
        arr = self.net.weights[layer - 1] if kind == "weight" else self.net.biases[layer - 1]
        index = (row, col) if kind == "weight" else (row,)
        if kind == "weight" and col is None:
            raise ValueError("a weight needs both row and col")
        if any(not 0 <= i < s for i, s in zip(index, arr.shape, strict=True)):  # type: ignore[operator]
            raise ValueError(f"index {index} is outside {kind} {layer}'s shape {arr.shape}")
        arr[index] = value
        self._version += 1

    def _transition(self, allowed: tuple[TrainerState, ...], to: TrainerState, action: str) -> None:
        if self.state not in allowed:
            raise InvalidTransition(f"cannot {action} a run that is {self.state.value}")
        self.state = to

    def pause(self) -> None:
        self._transition((TrainerState.RUNNING,), TrainerState.PAUSED, "pause")

    def resume(self) -> None:
        self._transition((TrainerState.PAUSED,), TrainerState.RUNNING, "resume")

    def stop(self) -> None:
        self._transition((TrainerState.RUNNING, TrainerState.PAUSED), TrainerState.STOPPED, "stop")

    # -- training -----------------------------------------------------------------------------------------
    def run(self) -> Iterator[EpochSnapshot]:
        """Yield one snapshot per epoch while RUNNING; returns when paused, stopped, done or diverged."""
        while self.state is TrainerState.RUNNING:
            snap = self.step_epoch()
            if snap is not None:
                yield snap

    def step_epoch(self, tensors: bool | None = None) -> EpochSnapshot | None:
        """Finish the current epoch (all of it, or what is left after single batch steps).

        ``tensors``: whether the snapshot carries the tensors (default: whenever snapshots are on); without
        them it still has the per-layer norms, and ``snapshot()`` can add the tensors of the same state
        later at the cost of the tensors alone. Returns None if the run diverged."""
        self._check_steppable()
        with np.errstate(all="ignore"):  # overflow is caught as a non-finite cost in _finish_epoch
            while not self._train_batch():
                pass
        return self._finish_epoch(tensors)

    def step_batch(self, tensors: bool | None = None) -> EpochSnapshot | None:
        """One mini-batch update. Returns the epoch's snapshot when this batch ends an epoch, otherwise a
        snapshot of the current weights with ``batch`` > 0; None (and DIVERGED) if the cost is no longer
        finite. ``tensors`` as for ``step_epoch``."""
        self._check_steppable()
        with np.errstate(all="ignore"):
            ends_epoch = self._train_batch()
        return self._finish_epoch(tensors) if ends_epoch else self._checked(self.snapshot(tensors))

    def next_batch(self) -> tuple[Array, Array, Array]:
        """(indices, X, Y) of the mini-batch the next ``step_batch`` trains on, changing nothing: rows
        ``indices`` (training-set indices, as ``probe_index`` counts) of the current epoch's shuffled order.
        At an epoch's start that order is drawn from a copy of the shuffling generator — the very order the
        step will draw. X and Y are the arrays the step reads (slices of the shuffled copy of the training set)."""
        perm, Xs, Ys = self._order if self._order is not None else self._shuffle(copy.deepcopy(self._rng))
        start = self._batch * self.batch_size
        end = start + self.batch_size
        return perm[start:end], Xs[start:end], Ys[start:end]

    def _shuffle(self, rng: np.random.Generator) -> tuple[Array, Array, Array]:
        """A new epoch's order: a permutation of the training set and X, Y in that order."""
        perm = rng.permutation(len(self.X))
        return perm, self.X[perm], self.Y[perm]

    def _train_batch(self) -> bool:
        """One update on the next mini-batch of this epoch's shuffled order; True when it ends the epoch.
        Callers silence floating-point warnings (np.errstate) around it."""
        if self._order is None:
            self._epoch_rng = dict(self._rng.bit_generator.state)
            self._order = self._shuffle(self._rng)
        _, X, Y = self.next_batch()
        update(self.net, self.optimizer, X, Y)
        self._batch += 1
        if self._batch * self.batch_size < len(self.X):
            return False
        self.epoch += 1
        self._batch, self._order = 0, None
        return True

    def _check_steppable(self) -> None:
        if self.state.terminal:
            raise InvalidTransition(f"cannot step a run that is {self.state.value}")

    def _finish_epoch(self, tensors: bool | None) -> EpochSnapshot | None:
        snap = self._checked(self.snapshot(tensors))
        if snap is None:
            return None
        if self.target_cost is not None and snap.train_cost <= self.target_cost:
            self.state, self.reason = TrainerState.DONE, f"reached the target cost {self.target_cost:g}"
        elif self.max_epochs is not None and self.epoch >= self.max_epochs:
            self.state, self.reason = TrainerState.DONE, f"reached the epoch limit {self.max_epochs}"
        return snap

    def _checked(self, snap: EpochSnapshot) -> EpochSnapshot | None:
        """``snap``, or None and DIVERGED when it (or, for a snapshot without tensors, a parameter) holds NaN
        or ±inf (never handed out)."""
        if snap.is_finite() and (snap.has_tensors or self._weights_finite()):
            return snap
        self.state = TrainerState.DIVERGED
        where = f"epoch {self.epoch}" + (f", batch {snap.batch}" if snap.batch else "")
        if not np.isfinite(snap.train_cost):
            what = f"the cost became {snap.train_cost}"
        elif snap.test_cost is not None and not np.isfinite(snap.test_cost):
            what = f"the test cost became {snap.test_cost}"
        else:
            what = "the network's values overflowed to NaN or ±inf"
        self.reason = f"{what} at {where}: the learning rate {self.learning_rate:g} is too high for this network"
        return None

    def _forward(self, X: Array, key: str) -> Trace:
        """net.forward(X) into the workspace ``key`` (X must be the same array, or as many rows, each time)."""
        ws = self._workspace.get(key)
        trace = self.net.forward(X, out=ws)
        if ws is None:
            self._keep(key, trace)
        return trace

    def _keep(self, key: str, trace: Trace) -> None:
        """Keep ``trace``'s arrays as the workspace ``key`` if they fit in what is left of the budget."""
        arrays = {id(a): a.nbytes for a in trace.zs + trace.activations[1:]}  # linear layers alias z and a
        size = sum(arrays.values())
        if self._workspace_bytes + size <= MAX_WORKSPACE_BYTES:
            self._workspace[key] = trace
            self._workspace_bytes += size

    def _evaluate(self, X: Array, Y: Array, key: str) -> _Eval:
        if len(X) == 0:
            return _Eval(float("nan"), None, Y, None)
        trace = self._forward(X, key)
        cost = self.net.cost(trace, Y)
        return _Eval(cost, self._accuracy(trace.output, Y), trace.output, trace)

    def _accuracy(self, out: Array, Y: Array) -> float | None:
        if self.dataset.task != "classification":
            return None
        if out.shape[1] == 1:
            # halfway between the two targets: 0 for ±1 targets, ½ for 0/1 targets (sigmoid, ReLU)
            threshold = self.net.output_activation.threshold
            hit = (out[:, 0] > threshold) == (Y[:, 0] > threshold)
        else:
            hit = out.argmax(axis=1) == Y.argmax(axis=1)
        return float(hit.mean())

    def snapshot(self, tensors: bool | None = None) -> EpochSnapshot:
        """The current state as a frozen snapshot: scalars, and with snapshots on the per-layer norms and
        (``tensors``, default True) every tensor. The evaluation of a state is done once: asking for the
        tensors of the state whose metrics were just taken costs only the tensors."""
        with np.errstate(all="ignore"):  # a diverging run's overflow is caught by is_finite, not warned about
            return self._snapshot(tensors)

    def _snapshot(self, tensors: bool | None) -> EpochSnapshot:
        m = self._measure()
        base: dict[str, Any] = dict(
            epoch=self.epoch, batch=self._batch, train_cost=m.train.cost,
            test_cost=m.test.cost if len(self.X_test) else None, accuracy=m.test.accuracy,
            train_accuracy=m.train.accuracy, learning_rate=self.learning_rate)
        if m.grads is None:
            return EpochSnapshot(**base)
        n_sub = len(self._sub_Y)
        base["grad_norms"] = tuple(float(np.linalg.norm(g)) for g in m.grads.weights)
        base["delta_norms"] = tuple(float(np.sqrt(np.einsum("ij,ij->", d, d) / n_sub)) for d in m.grads.deltas)
        if tensors is False:
            return EpochSnapshot(**base)
        return self._full_snapshot(base, m.grads, m.test.output[:MAX_TEST_OUTPUTS])

    def _measure(self) -> _Measured:
        """The evaluation of the current state (cached until the next update or parameter edit)."""
        key = self.position
        if self._measured is not None and self._measured.key == key:
            return self._measured
        train = self._evaluate(self.X, self.Y, "train")
        test = self._evaluate(self.X_test, self.Y_test, "test")
        grads = None
        if self.snapshots and train.trace is not None:
            # The gradient reuses the training-set forward pass just done for the cost: all of it, or the
            # subset's rows of it (no second forward pass over the subset).
            sub = self._sub
            trace = train.trace if sub is None else self._subset_rows(train.trace, sub)
            grads = self.net.backward(trace, self._sub_Y)
        self._measured = _Measured(key, train, test, grads)
        return self._measured

    def _weights_finite(self) -> bool:
        return all(np.isfinite(a).all() for a in (*self.net.weights, *self.net.biases))

    def _grid_activations(self, grid: Array) -> list[Array]:
        """aˡ (G², n_l) over the grid points (G², 2) for l = 1 … L: the forward pass in float32 with σ applied
        in place (no zˡ kept), into the arrays of the previous epoch."""
        ws = self._workspace.get("grid")
        a = grid
        out: list[Array] = []
        for i, (W, b, act) in enumerate(zip(self.net.weights, self.net.biases, self.net.layer_activations,
                                            strict=True)):
            # float32 whatever the network's dtype: the grid is for pictures, and half the cost in float64
            z = np.matmul(a, W.astype(np.float32, copy=False), out=ws.activations[i + 1] if ws else None)
            z += b.astype(np.float32, copy=False)
            a = act.apply(z, z)
            out.append(a)
        if ws is None:
            self._keep("grid", Trace([], [grid, *out]))
        return out

    def _subset_rows(self, train: Trace, sub: Array) -> Trace:
        """The gradient subset's rows of the training-set trace, copied into the "subset" workspace."""
        ws = self._workspace.get("subset")
        zs = [_take_rows(z, sub, ws.zs[i] if ws else None) for i, z in enumerate(train.zs)]
        acts = [_take_rows(a, sub, ws.activations[i] if ws else None) for i, a in enumerate(train.activations)]
        trace = Trace(zs, acts)
        if ws is None:
            self._keep("subset", trace)
        return trace

    def _full_snapshot(self, base: dict[str, Any], grads: Gradients, test_outputs: Array) -> EpochSnapshot:
        net = self.net
        p = self.probe_index
        probe_trace = net.forward(self.X[p:p + 1])
        probe_grads = net.backward(probe_trace, self.Y[p:p + 1])
        grid_layers: list[int] = []
        grids: list[Array] = []
        if self._grid is not None:
            G = self.grid_size
            for l, a in enumerate(self._grid_activations(self._grid), start=1):
                if a.shape[1] <= MAX_GRID_NEURONS or l == len(net.weights):
                    grid_layers.append(l)
                    grids.append(_frozen(a.T.reshape(-1, G, G)))
        return EpochSnapshot(
            **base,
            weights=_frozen_all(net.weights), biases=_frozen_all(net.biases),
            grad_weights=_frozen_all(grads.weights), grad_biases=_frozen_all(grads.biases),
            mean_abs_delta=tuple(_frozen(np.abs(d).mean(axis=0)) for d in grads.deltas),
            probe_index=p, probe_target=_frozen(self.Y[p]),
            probe_zs=tuple(_frozen(z[0]) for z in probe_trace.zs),
            probe_activations=tuple(_frozen(a[0]) for a in probe_trace.activations),
            probe_deltas=tuple(_frozen(d[0]) for d in probe_grads.deltas),
            grid_layers=tuple(grid_layers), grids=tuple(grids), test_outputs=_frozen(test_outputs),
        )


def update(net: MLP, optimizer: optimizers.Optimizer, X: Array, Y: Array) -> None:
    """One gradient-descent update of ``net`` on the mini-batch X (n, n_0), Y (n, n_L), in place: the
    backward pass yields η ∂C/∂W directly (``scale=η``) and the optimiser applies it. The Trainer's step,
    and the walkthrough's "after" on a copy — the same numbers, bit for bit."""
    steps = net.backward(net.forward(X), Y, scale=optimizer.learning_rate)
    optimizer.apply(net, steps.weights, steps.biases)


def _take_rows(a: Array, rows: Array, out: Array | None) -> Array:
    """a[rows], into ``out`` when given."""
    taken: Array = a[rows] if out is None else np.take(a, rows, axis=0, out=out, mode="clip")
    return taken


def _frozen(a: Array) -> Array:
    out = np.array(a, copy=True)
    out.flags.writeable = False
    return out


def _frozen_all(arrays: list[Array]) -> tuple[Array, ...]:
    return tuple(_frozen(a) for a in arrays)


def _extent(dataset: Dataset) -> tuple[float, float, float, float]:
    """(x1_min, x1_max, x2_min, x2_max) of the grid over raw 2-D data: Playground's [−6, 6]² or the data's
    bounds + 10 %."""
    X = np.concatenate([dataset.X_train, dataset.X_test])
    lo, hi = X.min(axis=0), X.max(axis=0)
    if lo.min() >= -6.5 and hi.max() <= 6.5:
        return (-6.0, 6.0, -6.0, 6.0)
    pad = (hi - lo) * 0.1 + 1e-9
    return (float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1]))


def _grid_points(dataset: Dataset, G: int) -> Array:
    """G×G cell centres (G², 2) over the extent of raw 2-D data, row-major with x₂ descending by row (top
    row = largest x₂)."""
    x0, x1, y0, y1 = _extent(dataset)
    xs = x0 + (np.arange(G) + 0.5) * (x1 - x0) / G
    ys = y1 - (np.arange(G) + 0.5) * (y1 - y0) / G
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)
