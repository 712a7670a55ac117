"""The core's vocabulary in one JSON-safe dictionary: what every name means, what every number is.

Everything here is read from the tables where the core itself looks things up — ``activations.ACTIVATIONS``,
``costs.COSTS``, ``network.INITS`` / ``REGULARIZATIONS`` / ``DTYPES``, ``optimizers.OPTIMIZERS``,
``inputs.FEATURES``, the Trainer's constants and the walkthrough's words (``lessons.py``) — at call time,
so a new entry in a table is published with no change here. The server adds its limits and datasets and
serves the result at ``GET /api/catalog``; the page, its URL hash and its forms derive from it.

Every equation is written in one convention, the code's (see ``network.py``): one row per example,
Wˡ of shape (n_{l−1}, n_l).
"""

from __future__ import annotations

import math
from typing import Any

from . import activations as _acts
from . import costs as _costs
from . import inputs as _inputs
from . import lessons as _lessons
from . import network as _network
from . import optimizers as _optimizers
from . import training as _training
from .datasets import DATASETS
from .gradcheck import EPSILON
from .terms import Term
from .walkthrough import MAX_CHECK_PARAMS, MAX_CHECK_WORK, MAX_WEIGHTS

CONVENTION = ("one row per example: X, zˡ, aˡ and δˡ are (n, n_l); Wˡ is (n_{l−1}, n_l) and bˡ is (n_l,); "
              "Wˡⱼₖ joins neuron j of layer l−1 to neuron k of layer l; ⊙ is the elementwise product")
SEED_CONVENTION = ("the seed writes column vectors, zˡ = wˡ aˡ⁻¹ + bˡ with wˡ = (Wˡ)ᵀ of shape (n_l, n_{l−1}), "
                   "hence δˡ = ((wˡ⁺¹)ᵀ δˡ⁺¹) ⊙ σ′(zˡ): the same numbers as the row form here")
EQUATIONS = {
    "forward": "zˡ = aˡ⁻¹ Wˡ + bˡ,  aˡ = σ(zˡ)",
    "output_delta": "δᴸ = ∇ₐC ⊙ σ′(zᴸ)",
    "hidden_delta": "δˡ = (δˡ⁺¹ (Wˡ⁺¹)ᵀ) ⊙ σ′(zˡ)",
    "neuron_delta": "δⱼˡ = (Σₖ Wˡ⁺¹ⱼₖ δₖˡ⁺¹) σ′(zⱼˡ)",
    "weight_gradient": "∂C/∂Wˡ = (1/n) Σₓ aˡ⁻¹(x)ᵀ δˡ(x)",
    "edge_gradient": "∂Cₓ/∂Wˡⱼₖ = aⱼˡ⁻¹ δₖˡ",
    "bias_gradient": "∂C/∂bˡ = (1/n) Σₓ δˡ(x)",
    "neuron_bias_gradient": "∂Cₓ/∂bₖˡ = δₖˡ",
    "update": "W ← W − η ∂C/∂W,  b ← b − η ∂C/∂b",
    "inputs": "a⁰ = (φ(x) − μ) / s",  # φ: the features of raw example x; μ, s: the training split's mean, std
}


def _bound(v: float) -> float | None:
    """JSON has no infinity: an unbounded end is null."""
    return v if math.isfinite(v) else None


def _term(t: Term) -> dict[str, str]:
    out = {"name": t.name, "label": t.label, "formula": t.formula}
    if t.gradient:
        out["gradient"] = t.gradient
    return out


def auto_output_activation(task: str, n_classes: int) -> str:
    """The output activation a run gets when none is chosen: linear for regression, tanh for two classes
    (Playground's), softmax for more."""
    if task == "regression":
        return "linear"
    return "tanh" if n_classes == 2 else "softmax"


def activation_entry(a: _acts.Activation) -> dict[str, Any]:
    low, high = a.range
    negative, positive = a.targets
    return {
        "name": a.name, "label": a.label, "formula": a.formula, "derivative": a.derivative,
        "range": [_bound(low), _bound(high)], "hidden": a.elementwise,
        "default_init": a.default_init, "default_cost": _costs.default_for(a.name),
        "targets": [negative, positive], "threshold": a.threshold,
    }


def catalog() -> dict[str, Any]:
    """The vocabulary, as JSON-safe data (no NaN or infinity)."""
    grad_subset = _training.MAX_GRAD_SUBSET
    return {
        "activations": [activation_entry(a) for a in _acts.ACTIVATIONS.values()],
        "costs": [
            {"name": c.name, "label": c.label, "formula": c.formula, "delta": c.delta_text,
             "outputs": list(_costs.valid_outputs(c.name))}
            for c in _costs.COSTS.values()
        ],
        "auto_output_activation": {
            "regression": auto_output_activation("regression", 0),
            "two_classes": auto_output_activation("classification", 2),
            "more_classes": auto_output_activation("classification", 3),
        },
        "inits": [_term(t) for t in _network.INITS.values()],
        "optimizers": [_term(t) for t in _optimizers.OPTIMIZERS.values()],
        "regularizations": [_term(t) for t in _network.REGULARIZATIONS.values()],
        "dtypes": list(_network.DTYPES),
        "features": [{"name": f.name, "label": f.label} for f in _inputs.FEATURES.values()],
        "default_features": list(_inputs.DEFAULT_FEATURES),
        "grid_size": _training.GRID_SIZE,
        "max_grid_neurons": _training.MAX_GRID_NEURONS,
        "grad_subset": grad_subset,
        "grad_subset_note": ("∂C/∂W, ∂C/∂b, ‖δˡ‖ and mean |δ| in snapshots average over the training set — "
                             f"over a fixed subset of {grad_subset} of its examples when it has more"),
        "max_test_outputs": _training.MAX_TEST_OUTPUTS,
        "datasets": [vars(d).copy() for d in DATASETS.values()],
        "notation": {"convention": CONVENTION, "seed": SEED_CONVENTION, "equations": dict(EQUATIONS)},
        "walkthrough": walkthrough_info(),
    }


def walkthrough_info() -> dict[str, Any]:
    """The walkthrough's words (``lessons.py``) and limits (``walkthrough.py``)."""
    return {**_lessons.catalog(), "max_weights": MAX_WEIGHTS, "max_check_params": MAX_CHECK_PARAMS,
            "max_check_work": MAX_CHECK_WORK, "epsilon": EPSILON}
