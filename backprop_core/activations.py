"""Activation functions σ and their derivatives σ', side by side.

Each activation is a pair: ``fn(z)`` gives a = σ(z) and ``prime(z, a)`` gives σ'(z), given both the
weighted input z and the activation a = σ(z) already computed in the forward pass, so that derivatives
that are cheapest in terms of a (σ' = a(1 − a) for the sigmoid, 1 − a² for tanh) cost no extra
exponentials.

Softmax is not elementwise: its derivative is a Jacobian, never formed here. It is valid only as an output
activation paired with the cross-entropy cost, where δᴸ = aᴸ − y (see ``costs.py``), so its ``prime`` is
``None`` and the network refuses any other use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Array = np.ndarray

LEAKY_SLOPE = 0.01


@dataclass(frozen=True)
class Activation:
    """σ and σ'. ``prime`` is None for softmax (not elementwise)."""

    name: str
    fn: Callable[[Array], Array]
    prime: Callable[[Array, Array], Array] | None


def _sigmoid(z: Array) -> Array:
    """σ(z) = 1 / (1 + e^(−z)), computed as ½(1 + tanh(z/2)), which never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _sigmoid_prime(z: Array, a: Array) -> Array:
    """σ'(z) = σ(z)(1 − σ(z))."""
    out: Array = a * (1 - a)
    return out


def _tanh_prime(z: Array, a: Array) -> Array:
    """tanh'(z) = 1 − tanh²(z)."""
    out: Array = 1 - a * a
    return out


def _relu(z: Array) -> Array:
    """max(0, z)."""
    out: Array = np.maximum(z, 0)
    return out


def _relu_prime(z: Array, a: Array) -> Array:
    """1 where z > 0, else 0 (0 at z = 0)."""
    return (z > 0).astype(z.dtype)


def _leaky_relu(z: Array) -> Array:
    """z for z > 0, else 0.01 z."""
    return np.where(z > 0, z, z * LEAKY_SLOPE)


def _leaky_relu_prime(z: Array, a: Array) -> Array:
    """1 for z > 0, else 0.01."""
    return np.where(z > 0, 1.0, LEAKY_SLOPE).astype(z.dtype)


def _linear(z: Array) -> Array:
    """Identity."""
    return z


def _linear_prime(z: Array, a: Array) -> Array:
    """1."""
    return np.ones_like(z)


def _softmax(z: Array) -> Array:
    """softmax(z)ᵢ = e^(zᵢ) / Σⱼ e^(zⱼ), row by row, shifted by the row max for stability. z: (n, k)."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    out: Array = e / e.sum(axis=1, keepdims=True)
    return out


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("sigmoid", _sigmoid, _sigmoid_prime),
        Activation("tanh", np.tanh, _tanh_prime),
        Activation("relu", _relu, _relu_prime),
        Activation("leaky_relu", _leaky_relu, _leaky_relu_prime),
        Activation("linear", _linear, _linear_prime),
    )
}
OUTPUT_ACTIVATIONS: dict[str, Activation] = {**ACTIVATIONS, "softmax": Activation("softmax", _softmax, None)}

HIDDEN_NAMES = tuple(ACTIVATIONS)
OUTPUT_NAMES = tuple(OUTPUT_ACTIVATIONS)


def get(name: str, *, output: bool = False) -> Activation:
    """The activation called ``name``; a ValueError naming the valid ones otherwise."""
    table = OUTPUT_ACTIVATIONS if output else ACTIVATIONS
    if name not in table:
        where = "output activation" if output else "activation"
        raise ValueError(f"unknown {where} {name!r}; valid: {', '.join(table)}")
    return table[name]
