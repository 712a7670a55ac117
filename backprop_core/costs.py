"""Cost functions C and the output error δᴸ they give, side by side (as Nielsen's ``network2.py``).

Every cost is averaged over the n examples of a batch, C = (1/n) Σₓ Cₓ, and ``delta`` returns the
per-example output error δᴸ(x) = ∂Cₓ/∂zᴸ, one row per example: the 1/n is applied once, when the
gradients are averaged (``network.py``). δᴸ is a row (1, n_L) like zᴸ and aᴸ; ⊙ is the elementwise product.

- quadratic: Cₓ = ½‖aᴸ − y‖². The seed writes the cost without the ½ and notes the ½ convention; with it,
  ∇ₐCₓ = aᴸ − y and δᴸ = (aᴸ − y) ⊙ σ'(zᴸ), exactly the seed's equation.
- cross_entropy (softmax output only): Cₓ = −Σⱼ yⱼ ln aⱼᴸ, and δᴸ = aᴸ − y.
- binary_cross_entropy (sigmoid output only): Cₓ = −Σⱼ [yⱼ ln aⱼ + (1 − yⱼ) ln(1 − aⱼ)], and δᴸ = aᴸ − y.

The two cross-entropies are computed from the logits zᴸ, not from aᴸ: a saturated output rounds to
exactly 0 or 1 (in float32 already at |z| ≈ 17), where ln aⱼ or ln(1 − aⱼ) would be −inf — and 0 · (−inf)
is NaN even for a correctly classified example. From zᴸ the same values are exact and finite:
ln σ(z) = −softplus(−z) and ln softmax(z)ⱼ = zⱼ − max z − ln Σₖ e^(zₖ − max z).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import activations as _acts
from .activations import Activation

Array = np.ndarray


@dataclass(frozen=True)
class Cost:
    """C and δᴸ. ``fn(z, a, y)``: C from the output layer's zᴸ and aᴸ (n, n_L) and targets y (n, n_L).
    ``outputs`` names the output activations this cost is defined for (None = any elementwise one).
    ``formula`` and ``delta_text``: C and δᴸ as text, for the page's equations."""

    name: str
    fn: Callable[[Array, Array, Array], float]
    delta: Callable[[Array, Array, Array, Activation], Array]
    outputs: tuple[str, ...] | None
    label: str
    formula: str
    delta_text: str


def _quadratic(z: Array, a: Array, y: Array) -> float:
    """C = (1/n) Σₓ ½‖aᴸ(x) − y(x)‖². a, y: (n, k)."""
    d = a - y
    return float(0.5 * np.einsum("ij,ij->", d, d) / a.shape[0])


def _quadratic_delta(z: Array, a: Array, y: Array, act: Activation) -> Array:
    """δᴸ = (aᴸ − y) ⊙ σ'(zᴸ) — the seed's equation."""
    if act.prime is None:  # guarded by validate(); kept for type narrowing
        raise ValueError("quadratic cost needs an elementwise output activation")
    out: Array = (a - y) * act.prime(z, a)
    return out


def _cross_entropy(z: Array, a: Array, y: Array) -> float:
    """C = −(1/n) Σₓ Σⱼ yⱼ ln aⱼ with ln aⱼ = ln softmax(z)ⱼ = zⱼ − max z − ln Σₖ e^(zₖ − max z)."""
    shifted = z - z.max(axis=1, keepdims=True)
    log_a = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-np.einsum("ij,ij->", y, log_a) / z.shape[0])


def _binary_cross_entropy(z: Array, a: Array, y: Array) -> float:
    """C = −(1/n) Σₓ Σⱼ [yⱼ ln aⱼ + (1 − yⱼ) ln(1 − aⱼ)] with a = σ(z), written in z:
    each term is max(z, 0) − y z + ln(1 + e^(−|z|)) (softplus(z) − y z), finite for every finite z."""
    terms = np.maximum(z, 0) - y * z + np.log1p(np.exp(-np.abs(z)))
    return float(terms.sum() / z.shape[0])


def _a_minus_y(z: Array, a: Array, y: Array, act: Activation) -> Array:
    """δᴸ = aᴸ − y: σ'(zᴸ) cancels against the cost's derivative."""
    out: Array = a - y
    return out


COSTS: dict[str, Cost] = {
    c.name: c
    for c in (
        Cost("quadratic", _quadratic, _quadratic_delta, None, "Quadratic",
             "C = (1/n) Σₓ ½‖aᴸ(x) − y(x)‖²", "δᴸ = (aᴸ − y) ⊙ σ′(zᴸ)"),
        Cost("cross_entropy", _cross_entropy, _a_minus_y, ("softmax",), "Cross-entropy",
             "C = −(1/n) Σₓ Σⱼ yⱼ ln aⱼᴸ", "δᴸ = aᴸ − y"),
        Cost("binary_cross_entropy", _binary_cross_entropy, _a_minus_y, ("sigmoid",), "Binary cross-entropy",
             "C = −(1/n) Σₓ Σⱼ [yⱼ ln aⱼᴸ + (1 − yⱼ) ln(1 − aⱼᴸ)]", "δᴸ = aᴸ − y"),
    )
}


def get(name: str) -> Cost:
    """The cost called ``name``; a ValueError naming the valid ones otherwise."""
    if not isinstance(name, str) or name not in COSTS:
        raise ValueError(f"unknown cost {name!r}; valid: {', '.join(COSTS)}")
    return COSTS[name]


def valid_outputs(cost: str) -> tuple[str, ...]:
    """Output activations that make sense with ``cost``."""
    c = get(cost)
    if c.outputs is not None:
        return c.outputs
    return _acts.hidden_names()


def default_for(output_activation: str) -> str:
    """The cost an output activation gets when none is chosen: the one made for it (cross_entropy for
    softmax, binary_cross_entropy for sigmoid), else quadratic."""
    return next((c.name for c in COSTS.values() if c.outputs == (output_activation,)), "quadratic")


def validate(cost: str, output_activation: str) -> None:
    """Refuse combinations that make no sense, naming the valid ones."""
    ok = valid_outputs(cost)
    if output_activation not in ok:
        raise ValueError(
            f"cost {cost!r} cannot be used with output activation {output_activation!r}; "
            f"valid output activations for {cost!r}: {', '.join(ok)}"
        )
