"""Runs of kind ``external``: a model trained by its own program streams its epochs in, and the page draws
it like any run (diagram, curves, time travel).

The run has no worker here: each ``EpochIn`` is checked (shapes against the layer sizes, finite numbers —
the schema refuses NaN and ±inf — epochs in order) and turned into what a worker would have sent: the
epoch's metrics point and its snapshot frame (the same binary frame, built by the same code from an
``EpochSnapshot``). Storage, the stream and the reader see an ordinary run.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from backprop_core import EpochSnapshot, activations

from ..config import Settings
from ..schemas import EpochIn, ExternalRunCreate, RunConfig
from ..worker import frames
from .run import Run, RunError

Array = np.ndarray


def check_create(body: ExternalRunCreate, settings: Settings) -> tuple[RunConfig, dict[str, Any]]:
    """The config and meta of a new external run (RunError naming the field)."""
    sizes = body.layer_sizes
    if any(n < 1 for n in sizes) or any(n > settings.max_width for n in sizes[1:-1]):
        raise RunError(f"layer_sizes: every layer needs at least 1 neuron, a hidden one at most {settings.max_width}",
                       field="layer_sizes")
    if len(sizes) - 2 > settings.max_layers:
        raise RunError(f"layer_sizes: {len(sizes) - 2} hidden layers; the limit is {settings.max_layers}",
                       field="layer_sizes")
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    if n_params > settings.max_params:
        raise RunError(f"layer_sizes: {n_params:,} parameters; the limit is {settings.max_params:,}",
                       field="layer_sizes")
    if len(body.activations) != len(sizes) - 1:
        raise RunError(f"activations: {len(body.activations)} names for {len(sizes) - 1} layers", field="activations")
    for i, name in enumerate(body.activations):
        try:
            activations.get(name, output=i == len(body.activations) - 1)
        except ValueError as e:
            raise RunError(f"activations: {e}", field="activations") from e
    if body.epochs is not None and body.epochs > settings.max_epochs:
        raise RunError(f"epochs: {body.epochs} is over the limit of {settings.max_epochs}", field="epochs")
    hidden = body.activations[:-1]
    config = RunConfig.model_validate({
        "dataset": "external", "hidden_layers": sizes[1:-1], "activation": hidden or "linear",
        "output_activation": body.activations[-1], "epochs": body.epochs or settings.max_epochs})
    meta = {"kind": "external", "layer_sizes": sizes, "activations": list(body.activations), "task": body.task,
            "n_classes": body.n_classes, "grid": None}
    return config, meta


def _matrix(values: Any, shape: tuple[int, ...], what: str) -> Array:
    a = np.asarray(values, dtype=np.float32)
    if a.shape != shape:
        raise RunError(f"{what}: shape {list(a.shape)}; the run's layers need {list(shape)}", field=what.split("[")[0])
    if not np.isfinite(a).all():  # finite as float64 but not as float32 (1e39)
        raise RunError(f"{what}: values beyond float32's range", field=what.split("[")[0])
    a.flags.writeable = False
    return a


def ingest(run: Run, epoch: EpochIn) -> None:
    """One epoch into an external run: its point and its frame, as a worker would have sent them."""
    sizes: list[int] = run.meta["layer_sizes"]
    L = len(sizes) - 1
    expected = len(run.points)
    if epoch.epoch != expected:
        raise RunError(f"epoch: {epoch.epoch} came when epoch {expected} was expected (epochs go 0, 1, 2 … in "
                       "order, each once)", status=409, field="epoch")
    for name, values in (("weights", epoch.weights), ("biases", epoch.biases), ("grad_weights", epoch.grad_weights),
                         ("grad_biases", epoch.grad_biases)):
        if len(values) != L:
            raise RunError(f"{name}: {len(values)} layers; the run has {L}", field=name)
    W = tuple(_matrix(w, (sizes[l], sizes[l + 1]), f"weights[{l}]") for l, w in enumerate(epoch.weights))
    b = tuple(_matrix(v, (sizes[l + 1],), f"biases[{l}]") for l, v in enumerate(epoch.biases))
    dW = tuple(_matrix(w, (sizes[l], sizes[l + 1]), f"grad_weights[{l}]") for l, w in enumerate(epoch.grad_weights))
    db = tuple(_matrix(v, (sizes[l + 1],), f"grad_biases[{l}]") for l, v in enumerate(epoch.grad_biases))
    probe: dict[str, Any] = {}
    delta_norms: tuple[float, ...] = ()
    if epoch.probe is not None:
        p = epoch.probe
        if len(p.activations) != L + 1 or len(p.zs) != L or len(p.deltas) != L:
            raise RunError(f"probe: {L + 1} activations (a⁰ … aᴸ), {L} zs and {L} deltas are needed", field="probe")
        deltas = tuple(_matrix(d, (sizes[l + 1],), f"probe.deltas[{l}]") for l, d in enumerate(p.deltas))
        probe = {
            "probe_activations": tuple(_matrix(a, (sizes[l],), f"probe.activations[{l}]")
                                       for l, a in enumerate(p.activations)),
            "probe_zs": tuple(_matrix(z, (sizes[l + 1],), f"probe.zs[{l}]") for l, z in enumerate(p.zs)),
            "probe_deltas": deltas,
        }
        if p.target:
            probe["probe_target"] = _matrix(p.target, (sizes[-1],), "probe.target")
        delta_norms = tuple(float(np.linalg.norm(d)) for d in deltas)
    snap = EpochSnapshot(
        epoch=epoch.epoch, batch=0, train_cost=epoch.train_cost, test_cost=epoch.test_cost,
        accuracy=epoch.accuracy, train_accuracy=epoch.train_accuracy, learning_rate=epoch.learning_rate,
        grad_norms=tuple(float(np.linalg.norm(g)) for g in dW), delta_norms=delta_norms,
        weights=W, biases=b, grad_weights=dW, grad_biases=db, **probe)
    point = frames.point(snap)
    run.on_points([json.dumps(point, separators=(",", ":"), allow_nan=False)], [_now()], 0)
    run.on_frame(epoch.epoch, 0, frames.encode(snap))


def _now() -> float:
    import time

    return time.time()
