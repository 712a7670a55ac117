"""One training step taken apart, and two questions about the gradient, asked of a Trainer's current weights.

``walk(trainer)``: for the mini-batch the trainer trains next (``Trainer.next_batch``) and one probe
example, every number of one step of the seed's algorithm — the probe's zˡ, aˡ, σ′(zˡ), δˡ and Cₓ, its
∂Cₓ/∂Wˡ and ∂Cₓ/∂bˡ, the batch's ∂C/∂Wˡ and ∂C/∂bˡ, the weights before and after the update and the batch
cost before and after it — computed by the network's own ``forward``, ``backward`` and ``cost`` and the
trainer's own optimiser, in the network's dtype: the trainer's numbers exactly. It changes nothing (the update
is made on a copy, with a copy of the optimiser's state) unless ``apply``: then it is one ``step_batch``.

``check_gradient``: backprop's ∂C/∂w against the central difference (C(w + ε) − C(w − ε)) / 2ε, both on a
float64 copy of the weights and the same batch. ``what_if``: the batch cost's change when one parameter of a
float64 copy moves by Δ, against the first-order prediction Δ · ∂C/∂w.

Every answer is JSON-safe: nested lists of floats, NaN and ±inf as None; a float32 number is written as its
shortest decimal, which reads back as the same float32. The words for each step are in ``lessons.py``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import lessons
from .gradcheck import EPSILON, central_differences, relative_errors
from .network import MLP, REGULARIZATIONS
from .optimizers import OPTIMIZERS, Momentum
from .snapshot import EpochSnapshot
from .training import InvalidTransition, Trainer, update

Array = np.ndarray
MAX_WEIGHTS = 20_000  # a walkthrough sends each weight 4–6 times: ≈ 1.5 MB of JSON at this many
MAX_CHECK_PARAMS = 4_096  # parameters one gradient check differences (two forward passes each)
MAX_CHECK_WORK = 2 * 10**9  # multiply-adds of those passes: 2 · parameters · batch rows · weights


@dataclass(frozen=True)
class Walked:
    """A walkthrough's JSON-safe ``answer`` and, when it was applied, ``step_batch``'s snapshot (None if the
    step diverged: the trainer is then DIVERGED)."""

    answer: dict[str, Any]
    snapshot: EpochSnapshot | None = None


def walk(trainer: Trainer, probe_index: int | None = None, *, apply: bool = False) -> Walked:
    """Every number of the next mini-batch step for the probe (``probe_index``, default the trainer's)."""
    net = trainer.net
    n_weights = sum(w.size for w in net.weights)
    if n_weights > MAX_WEIGHTS:
        raise ValueError(f"the network has {n_weights:,} weights; a walkthrough sends at most {MAX_WEIGHTS:,}")
    if apply and trainer.state.terminal:
        raise InvalidTransition(f"cannot step a run that is {trainer.state.value}")
    p = trainer.probe_index if probe_index is None else _probe(trainer, probe_index)
    epoch, batch, _ = trainer.position
    idx, X, Y = trainer.next_batch()
    with np.errstate(all="ignore"):  # a diverging step shows as non-finite numbers (None), never a warning
        trace = net.forward(X)
        grads = net.backward(trace, Y)
        cost_before, penalty_before = net.cost(trace, Y), net.penalty()
        penalties = net.penalty_gradients()
        data = net.backward(trace, Y, penalty=False) if penalties is not None else None
        x, y = trainer.X[p:p + 1], trainer.Y[p:p + 1]
        probe = net.forward(x)
        probe_grads = net.backward(probe, y, penalty=False)
        probe_cost = net.cost_fn.fn(probe.zs[-1], probe.output, y)
        W, b = [w.copy() for w in net.weights], [v.copy() for v in net.biases]
        snap = None
        if apply:
            snap = trainer.step_batch(tensors=False)
            after = net
        else:
            after = net.copy()
            update(after, copy.deepcopy(trainer.optimizer), X, Y)  # the very update the step makes
        cost_after, penalty_after = after.cost(after.forward(X), Y), after.penalty()
    layers = []
    for i, act in enumerate(net.layer_activations):
        slope = None if act.prime is None else act.prime(probe.zs[i], probe.activations[i + 1])
        layers.append({
            "layer": i + 1, "activation": act.name,
            "z": _plain(probe.zs[i][0]), "a": _plain(probe.activations[i + 1][0]),
            "sigma_prime": None if slope is None else _plain(slope[0]), "delta": _plain(probe_grads.deltas[i][0]),
            "dW_probe": _plain(probe_grads.weights[i]), "db_probe": _plain(probe_grads.biases[i]),
            "dW": _plain(grads.weights[i]), "db": _plain(grads.biases[i]),
            "dW_data": None if data is None else _plain(data.weights[i]),
            "dW_penalty": None if penalties is None else _plain(penalties[i]),
            "W": _plain(W[i]), "b": _plain(b[i]),
            "W_after": _plain(after.weights[i]), "b_after": _plain(after.biases[i]),
        })
    optimizer = "momentum" if isinstance(trainer.optimizer, Momentum) else "sgd"
    answer = {
        "epoch": epoch, "batch": batch, "n_batches": math.ceil(len(trainer.X) / trainer.batch_size),
        "batch_indices": idx.tolist(), "dtype": net.dtype.name, "layer_sizes": list(net.sizes),
        "probe": {"index": p, "in_batch": bool(np.isin(p, idx)), "x": _plain(x[0]), "y": _plain(y[0]),
                  "cost": _finite(probe_cost)},
        "learning_rate": trainer.learning_rate,
        "optimizer": {"name": optimizer, "formula": OPTIMIZERS[optimizer].formula,
                      "momentum": trainer.optimizer.momentum if isinstance(trainer.optimizer, Momentum) else None},
        "regularization": _regularization(net),
        "cost": {"name": net.cost_fn.name, "formula": net.cost_fn.formula, "delta": net.cost_fn.delta_text},
        "batch_cost_before": _finite(cost_before), "batch_cost_after": _finite(cost_after),
        "penalty_before": _finite(penalty_before), "penalty_after": _finite(penalty_after),
        "layers": layers, "applied": apply,
        "finite": all(math.isfinite(c) for c in (cost_after, penalty_after))
        and all(np.isfinite(a).all() for a in (*after.weights, *after.biases)),
        "steps": lessons.steps_for(net, optimizer),
    }
    return Walked(answer, snap)


def check_gradient(trainer: Trainer, layer: int, *, index: tuple[int, int] | None = None,
                   bias: int | None = None, eps: float = EPSILON) -> dict[str, Any]:
    """Backprop's ∂C/∂w against central differences for one weight (``index`` = (j, k) of Wˡ), one bias
    (``bias`` = k of bˡ) or, with neither, every weight and bias of layer ``layer``; float64, next batch."""
    net = trainer.net
    W, b = _layer(net, layer)
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"epsilon must be a finite number > 0, got {eps}")
    if index is not None and bias is not None:
        raise ValueError("give index (one weight) or bias (one bias), not both")
    # the flat positions to difference in Wˡ and in bˡ (None: all of them)
    w_pos: list[int] | None = None
    b_pos: list[int] | None = None
    if index is not None:
        w_pos, b_pos = [_weight_position(W, layer, index)], []
    elif bias is not None:
        w_pos, b_pos = [], [_bias_position(b, layer, bias)]
    k = (W.size if w_pos is None else len(w_pos)) + (b.size if b_pos is None else len(b_pos))
    if k > MAX_CHECK_PARAMS:
        raise ValueError(f"layer {layer} has {k:,} weights and biases; a gradient check takes at most "
                         f"{MAX_CHECK_PARAMS:,} at once: check one weight (index) or one bias")
    idx, X, Y = trainer.next_batch()
    work = 2 * k * len(idx) * sum(w.size for w in net.weights)
    if work > MAX_CHECK_WORK:
        raise ValueError(f"checking {k:,} parameters on a batch of {len(idx):,} takes {work:,} multiply-adds; "
                         f"the limit is {MAX_CHECK_WORK:,}: check one weight (index) or one bias")
    net64, X64, Y64 = net.copy(np.float64), X.astype(np.float64), Y.astype(np.float64)
    with np.errstate(all="ignore"):
        trace = net64.forward(X64)
        cost = net64.cost(trace, Y64)
        grads = net64.backward(trace, Y64)
        parts = [(net64.weights[layer - 1], grads.weights[layer - 1], w_pos),
                 (net64.biases[layer - 1], grads.biases[layer - 1], b_pos)]
        found = [(g.reshape(-1)[pos if pos is not None else slice(None)],
                  central_differences(net64, X64, Y64, param, pos, eps)) for param, g, pos in parts]
    errors = [relative_errors(bp, num) for bp, num in found]
    worst = max((float(e.max()) for e in errors if e.size), default=0.0)
    out: dict[str, Any] = {"layer": layer, "index": list(index) if index is not None else None, "bias": bias,
                           "target": "weight" if index is not None else "bias" if bias is not None else "layer"}
    if index is not None or bias is not None:
        (bp, num), err = (found[0], errors[0]) if index is not None else (found[1], errors[1])
        out |= {"backprop": _finite(bp[0]), "numeric": _finite(num[0]), "rel_error": _finite(err[0]),
                "biases": None}
    else:
        (bw, nw), (bb, nb) = found
        out |= {"backprop": _plain(bw.reshape(W.shape)), "numeric": _plain(nw.reshape(W.shape)),
                "rel_error": _plain(errors[0].reshape(W.shape)),
                "biases": {"backprop": _plain(bb), "numeric": _plain(nb), "rel_error": _plain(errors[1])}}
    out |= {"max_rel_error": _finite(worst), "epsilon": eps, "batch": idx.tolist(), "cost": _finite(cost),
            "dtype": "float64", "explanation": f"{lessons.GRADCHECK} Here: the largest relative error is "
            f"{worst:.1e} over {k} parameter{'s' if k != 1 else ''}, with ε = {eps:g}, on the {len(idx)} "
            "examples of the next mini-batch."}
    return out


def what_if(trainer: Trainer, layer: int, delta: float, *, index: tuple[int, int] | None = None,
            bias: int | None = None) -> dict[str, Any]:
    """The next batch's cost change when weight ``index`` (or bias ``bias``) of layer ``layer`` moves by
    ``delta``, next to Δ · ∂C/∂w; on a float64 copy — the run is not touched."""
    net = trainer.net
    W, b = _layer(net, layer)
    if (index is None) == (bias is None):
        raise ValueError("give index (one weight) or bias (one bias)")
    if not math.isfinite(delta):
        raise ValueError(f"delta must be a finite number, got {delta}")
    pos = _weight_position(W, layer, index) if index is not None else _bias_position(b, layer, bias)
    idx, X, Y = trainer.next_batch()
    net64, X64, Y64 = net.copy(np.float64), X.astype(np.float64), Y.astype(np.float64)
    param = (net64.weights if index is not None else net64.biases)[layer - 1].reshape(-1)
    with np.errstate(all="ignore"):
        trace = net64.forward(X64)
        before = net64.cost(trace, Y64)
        grads = net64.backward(trace, Y64)
        gradient = float((grads.weights if index is not None else grads.biases)[layer - 1].reshape(-1)[pos])
        value = float(param[pos])
        param[pos] = value + delta
        after = net64.cost(net64.forward(X64), Y64)
    change, predicted = after - before, delta * gradient
    return {"layer": layer, "index": list(index) if index is not None else None, "bias": bias, "delta": delta,
            "value_before": value, "value_after": _finite(float(param[pos])), "gradient": _finite(gradient),
            "cost_before": _finite(before), "cost_after": _finite(after), "change": _finite(change),
            "predicted": _finite(predicted), "difference": _finite(change - predicted), "batch": idx.tolist(),
            "dtype": "float64", "explanation": lessons.WHATIF}


# -- helpers ------------------------------------------------------------------------------------------------
def _probe(trainer: Trainer, index: int) -> int:
    n = len(trainer.X)
    if not 0 <= index < n:
        raise ValueError(f"probe_index must be in [0, {n - 1}], got {index}")
    return int(index)


def _layer(net: MLP, layer: int) -> tuple[Array, Array]:
    L = len(net.weights)
    if not 1 <= layer <= L:
        raise ValueError(f"layer must be in [1, {L}], got {layer}")
    return net.weights[layer - 1], net.biases[layer - 1]


def _weight_position(W: Array, layer: int, index: tuple[int, int]) -> int:
    j, k = index
    if not (0 <= j < W.shape[0] and 0 <= k < W.shape[1]):
        raise ValueError(f"index {[j, k]} is outside W{layer}'s shape {list(W.shape)}")
    return int(j * W.shape[1] + k)


def _bias_position(b: Array, layer: int, bias: int | None) -> int:
    if bias is None or not 0 <= bias < b.size:
        raise ValueError(f"bias {bias} is outside b{layer}'s {b.size} neurons")
    return int(bias)


def _regularization(net: MLP) -> dict[str, Any] | None:
    if net.regularization is None or net.regularization_rate <= 0:
        return None
    reg = REGULARIZATIONS[net.regularization]
    return {"name": reg.name, "rate": net.regularization_rate, "formula": reg.formula, "gradient": reg.gradient}


def _finite(v: float) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _plain(a: Array) -> Any:
    """A 1-D or 2-D array as (nested) lists of floats, NaN and ±inf as None; float32 as its shortest decimal,
    which reads back as the same float32."""
    flat = [float(s) for s in a.ravel().astype(str)] if a.dtype == np.float32 else a.ravel().tolist()
    if not np.isfinite(a).all():
        flat = [v if math.isfinite(v) else None for v in flat]
    if a.ndim < 2:
        return flat
    cols = a.shape[1]
    return [flat[r * cols:(r + 1) * cols] for r in range(a.shape[0])]
