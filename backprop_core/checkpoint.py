"""A Trainer's state as bytes, to carry on training elsewhere exactly where it stood.

``save(trainer)`` captures everything the next updates depend on: the weights and biases, the optimiser's
state (momentum's velocity), the shuffling generator's state at the start of the current epoch and how many
mini-batches of it are done, the epoch, η and the probe. ``restore(trainer, blob)`` puts them into a Trainer
built from the same config and data; from there it trains bit for bit as the original would have. The
stopping rules (epoch limit, target cost) are the new trainer's own: a finished run restored into a trainer
with a higher limit goes on. The format is an ``.npz`` archive (arrays, and the scalars as one JSON string): no pickle.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from .optimizers import Momentum
from .training import Trainer, TrainerState

FORMAT = 1


def save(trainer: Trainer) -> bytes:
    """The trainer's state (at an epoch boundary or after single mini-batch steps)."""
    net, opt = trainer.net, trainer.optimizer
    arrays: dict[str, np.ndarray] = {}
    for l, (w, b) in enumerate(zip(net.weights, net.biases, strict=True), start=1):
        arrays[f"W{l}"], arrays[f"b{l}"] = w, b
    velocity = opt._velocity if isinstance(opt, Momentum) else []
    for k, v in enumerate(velocity):
        arrays[f"v{k}"] = v
    scalars: dict[str, Any] = {
        "format": FORMAT, "epoch": trainer.epoch, "batch": trainer.position[1],
        "rng": trainer.epoch_rng_state, "learning_rate": trainer.learning_rate,
        "probe_index": trainer.probe_index, "max_epochs": trainer.max_epochs,
        "target_cost": trainer.target_cost, "state": trainer.state.value, "reason": trainer.reason,
        "velocity": len(velocity), "layers": len(net.weights),
    }
    buf = io.BytesIO()
    arrays["scalars"] = np.array(json.dumps(scalars))
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def restore(trainer: Trainer, blob: bytes) -> None:
    """Put a saved state into ``trainer`` (built from the same config and data). ValueError if it does not
    fit (another network, another format)."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        scalars = json.loads(str(z["scalars"]))
        if scalars.get("format") != FORMAT:
            raise ValueError(f"checkpoint format {scalars.get('format')!r}; this version reads {FORMAT}")
        net = trainer.net
        if scalars["layers"] != len(net.weights):
            raise ValueError("the checkpoint is of another network")
        for l in range(1, len(net.weights) + 1):
            for name, target in ((f"W{l}", net.weights[l - 1]), (f"b{l}", net.biases[l - 1])):
                if z[name].shape != target.shape:
                    raise ValueError(f"the checkpoint's {name} is {z[name].shape}, the network's {target.shape}")
                target[...] = z[name]
        velocity = [np.array(z[f"v{k}"]) for k in range(scalars["velocity"])]
    opt = trainer.optimizer
    if isinstance(opt, Momentum):
        opt._velocity = velocity
    trainer.set_learning_rate(float(scalars["learning_rate"]))
    trainer.set_probe(int(scalars["probe_index"]))
    trainer.resume_at(int(scalars["epoch"]), int(scalars["batch"]), scalars["rng"])
    trainer.state, trainer.reason = TrainerState.RUNNING, ""
