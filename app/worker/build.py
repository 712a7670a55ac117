"""A run's network and trainer from its resolved config (a plain dict: the fields of ``RunConfig`` with the
output activation and cost filled in). Used by the worker to build a run and by the web process to size one
before it asks a worker for it."""

from __future__ import annotations

from typing import Any

import numpy as np

from backprop_core import MLP, Trainer, output_layer_size
from backprop_core.datasets import Dataset


def layer_sizes(cfg: dict[str, Any], dataset: Dataset) -> list[int]:
    """n₀ … n_L: the data's inputs, the hidden layers, the outputs the data needs."""
    return [dataset.input_dim, *cfg["hidden_layers"], output_layer_size(dataset, cfg["output_activation"])]


RUN_OVERHEAD = 1 << 20  # bytes a small run holds besides its arrays: Python objects, its history tail, frames


def memory_estimate(cfg: dict[str, Any], dataset: Dataset) -> int:
    """Bytes a run holds at its peak, in its worker and in the web process: its data, its parameters with
    their gradients, optimiser state and snapshot copies (× 6), z, a and δ of one pass over all its examples
    (× 3), and a fixed part."""
    sizes = layer_sizes(cfg, dataset)
    item = int(np.dtype(cfg["dtype"]).itemsize)
    params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    examples = dataset.n_train + dataset.n_test
    data = sum(int(a.nbytes) for a in (dataset.X_train, dataset.X_test, dataset.y_train, dataset.y_test))
    return 2 * data + 6 * params * item + 3 * examples * sum(sizes[1:]) * item + RUN_OVERHEAD


def build_trainer(cfg: dict[str, Any], dataset: Dataset) -> Trainer:
    """The run's Trainer at epoch 0 (ValueError for combinations the core refuses)."""
    net = MLP(layer_sizes(cfg, dataset), cfg["activation"], cfg["output_activation"], cfg["cost"],
              init=cfg["init"], seed=cfg["seed"], dtype=np.dtype(cfg["dtype"]),
              regularization=cfg["regularization"], regularization_rate=cfg["regularization_rate"])
    return Trainer(net, dataset, learning_rate=cfg["learning_rate"], batch_size=cfg["batch_size"],
                   optimizer=cfg["optimizer"], momentum=cfg["momentum"], seed=cfg["seed"],
                   max_epochs=cfg["epochs"], target_cost=cfg["target_cost"], probe_index=cfg["probe_index"])


def meta(trainer: Trainer) -> dict[str, Any]:
    """What clients need to know of a run's network besides its config (``hello``, RunOut)."""
    net, ds = trainer.net, trainer.dataset
    return {
        "layer_sizes": list(net.sizes),
        "activations": [a.name for a in net.layer_activations],
        "task": ds.task,
        "n_classes": ds.n_classes,
        "grid": {"size": trainer.grid_size, "extent": list(trainer.grid_extent)} if trainer.grid_extent else None,
    }
