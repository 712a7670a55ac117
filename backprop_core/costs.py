"""Cost functions C and the output error δᴸ they give, side by side (as Nielsen's ``network2.py``).

Every cost is averaged over the n examples of a batch, C = (1/n) Σₓ Cₓ, and ``delta`` returns the
per-example output error δᴸ(x) = ∂Cₓ/∂zᴸ, one row per example: the 1/n is applied once, when the
gradients are averaged (``network.py``).

- quadratic: Cₓ = ½‖aᴸ − y‖². The seed writes the cost without the ½ and notes the ½ convention; with it,
  ∇ₐCₓ = aᴸ − y and δᴸ = (aᴸ − y) ⊙ σ'(zᴸ), exactly the seed's equation.
- cross_entropy (softmax output only): Cₓ = −Σⱼ yⱼ ln aⱼᴸ, and δᴸ = aᴸ − y.
- binary_cross_entropy (sigmoid output only): Cₓ = −Σⱼ [yⱼ ln aⱼ + (1 − yⱼ) ln(1 − aⱼ)], and δᴸ = aᴸ − y.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .activations import Activation

Array = np.ndarray
_EPS = 1e-12


@dataclass(frozen=True)
class Cost:
    """C and δᴸ. ``outputs`` names the output activations this cost is defined for (None = any elementwise)."""

    name: str
    fn: Callable[[Array, Array], float]
    delta: Callable[[Array, Array, Array, Activation], Array]
    outputs: tuple[str, ...] | None


def _quadratic(a: Array, y: Array) -> float:
    """C = (1/n) Σₓ ½‖aᴸ(x) − y(x)‖². a, y: (n, k)."""
    d = a - y
    return float(0.5 * np.einsum("ij,ij->", d, d) / a.shape[0])


def _quadratic_delta(z: Array, a: Array, y: Array, act: Activation) -> Array:
    """δᴸ = (aᴸ − y) ⊙ σ'(zᴸ) — the seed's equation."""
    if act.prime is None:  # guarded by validate(); kept for type narrowing
        raise ValueError("quadratic cost needs an elementwise output activation")
    out: Array = (a - y) * act.prime(z, a)
    return out


def _cross_entropy(a: Array, y: Array) -> float:
    """C = −(1/n) Σₓ Σⱼ yⱼ ln aⱼ."""
    return float(-np.sum(y * np.log(np.clip(a, _EPS, None))) / a.shape[0])


def _binary_cross_entropy(a: Array, y: Array) -> float:
    """C = −(1/n) Σₓ Σⱼ [yⱼ ln aⱼ + (1 − yⱼ) ln(1 − aⱼ)]."""
    a = np.clip(a, _EPS, 1 - _EPS)
    return float(-np.sum(y * np.log(a) + (1 - y) * np.log(1 - a)) / a.shape[0])


def _a_minus_y(z: Array, a: Array, y: Array, act: Activation) -> Array:
    """δᴸ = aᴸ − y: σ'(zᴸ) cancels against the cost's derivative."""
    out: Array = a - y
    return out


COSTS: dict[str, Cost] = {
    c.name: c
    for c in (
        Cost("quadratic", _quadratic, _quadratic_delta, None),
        Cost("cross_entropy", _cross_entropy, _a_minus_y, ("softmax",)),
        Cost("binary_cross_entropy", _binary_cross_entropy, _a_minus_y, ("sigmoid",)),
    )
}


def get(name: str) -> Cost:
    """The cost called ``name``; a ValueError naming the valid ones otherwise."""
    if name not in COSTS:
        raise ValueError(f"unknown cost {name!r}; valid: {', '.join(COSTS)}")
    return COSTS[name]


def valid_outputs(cost: str) -> tuple[str, ...]:
    """Output activations that make sense with ``cost``."""
    c = get(cost)
    if c.outputs is not None:
        return c.outputs
    return ("sigmoid", "tanh", "relu", "leaky_relu", "linear")


def validate(cost: str, output_activation: str) -> None:
    """Refuse combinations that make no sense, naming the valid ones."""
    ok = valid_outputs(cost)
    if output_activation not in ok:
        raise ValueError(
            f"cost {cost!r} cannot be used with output activation {output_activation!r}; "
            f"valid output activations for {cost!r}: {', '.join(ok)}"
        )
