"""EpochSnapshot: the frozen state of a run at the end of an epoch (or after a single mini-batch step).

All arrays are read-only copies in the network's dtype, except the input-plane grids (always float32).
Layer indices are the seed's:
``weights[l - 1]`` is Wˡ (n_{l−1}, n_l); ``probe_activations[l]`` is aˡ (n_l,) for the probe example with
``probe_activations[0]`` its input; ``probe_zs[l - 1]`` is zˡ and ``probe_deltas[l - 1]`` is δˡ.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

Array = np.ndarray


@dataclass(frozen=True)
class EpochSnapshot:
    """One epoch's scalars and tensors.

    epoch: epochs completed (0 = the initial network). batch: mini-batches done inside the next epoch
    (0 at an epoch boundary; > 0 only for a snapshot taken after ``Trainer.step_batch``).
    """

    epoch: int
    batch: int
    train_cost: float
    test_cost: float | None
    accuracy: float | None  # test accuracy (classification only)
    train_accuracy: float | None
    learning_rate: float
    # per layer l = 1 … L
    grad_norms: tuple[float, ...] = ()  # ‖∂C/∂Wˡ‖ (Frobenius)
    delta_norms: tuple[float, ...] = ()  # √((1/n) Σₓ ‖δˡ(x)‖²) over the gradient subset
    # tensors (empty when the trainer runs with snapshots off)
    weights: tuple[Array, ...] = ()  # Wˡ (n_{l−1}, n_l)
    biases: tuple[Array, ...] = ()  # bˡ (n_l,)
    grad_weights: tuple[Array, ...] = ()  # ∂C/∂Wˡ at these weights over the training set (or a fixed subset)
    grad_biases: tuple[Array, ...] = ()  # ∂C/∂bˡ
    mean_abs_delta: tuple[Array, ...] = ()  # (1/n) Σₓ |δˡ(x)| per neuron (n_l,)
    probe_index: int = 0
    probe_target: Array = field(default_factory=lambda: np.zeros(0, np.float32))  # y (n_L,)
    probe_zs: tuple[Array, ...] = ()  # zˡ (n_l,)
    probe_activations: tuple[Array, ...] = ()  # aˡ (n_l,), [0] = input
    probe_deltas: tuple[Array, ...] = ()  # δˡ (n_l,) of the probe's own cost Cₓ
    grid_layers: tuple[int, ...] = ()  # layers l whose neurons were evaluated on the input-plane grid
    grids: tuple[Array, ...] = ()  # aˡ over the grid, (n_l, G, G): [neuron, row (x₂), column (x₁)]
    test_outputs: Array = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # aᴸ, first ≤ 1000 test

    @property
    def has_tensors(self) -> bool:
        """Whether the tensors were recorded."""
        return bool(self.weights)

    def scalars(self) -> dict[str, object]:
        """The JSON-safe scalars (no tensors)."""
        return {
            "epoch": self.epoch,
            "batch": self.batch,
            "train_cost": self.train_cost,
            "test_cost": self.test_cost,
            "accuracy": self.accuracy,
            "train_accuracy": self.train_accuracy,
            "learning_rate": self.learning_rate,
            "grad_norms": list(self.grad_norms),
            "delta_norms": list(self.delta_norms),
        }

    def tensors(self) -> dict[str, Array]:
        """Every tensor by a stable name: W1, b1, dW1, db1, mean_abs_delta1, z1, a0, a1, delta1, y, grid1 …,
        test_outputs."""
        out: dict[str, Array] = {}
        for l, (w, b) in enumerate(zip(self.weights, self.biases, strict=True), start=1):
            out[f"W{l}"], out[f"b{l}"] = w, b
        for l, (w, b) in enumerate(zip(self.grad_weights, self.grad_biases, strict=True), start=1):
            out[f"dW{l}"], out[f"db{l}"] = w, b
        for l, m in enumerate(self.mean_abs_delta, start=1):
            out[f"mean_abs_delta{l}"] = m
        for l, a in enumerate(self.probe_activations):
            out[f"a{l}"] = a
        for l, (z, d) in enumerate(zip(self.probe_zs, self.probe_deltas, strict=True), start=1):
            out[f"z{l}"], out[f"delta{l}"] = z, d
        if self.probe_target.size:
            out["y"] = self.probe_target
        for l, g in zip(self.grid_layers, self.grids, strict=True):
            out[f"grid{l}"] = g
        if self.test_outputs.size:
            out["test_outputs"] = self.test_outputs
        return out

    def is_finite(self) -> bool:
        """False when any scalar or tensor holds NaN or ±inf."""
        vals = [self.train_cost, self.test_cost, *self.grad_norms, *self.delta_norms]
        if not all(np.isfinite(v) for v in vals if v is not None):
            return False
        return all(np.isfinite(a).all() for a in self.tensors().values())


SNAPSHOT_FIELDS = tuple(f.name for f in fields(EpochSnapshot))
