"""Activation functions σ and their derivatives σ', side by side.

Each activation is a pair: ``fn(z)`` gives a = σ(z) and ``prime(z, a)`` gives σ'(z), given both the
weighted input z and the activation a = σ(z) already computed in the forward pass, so that derivatives
that are cheapest in terms of a (σ' = a(1 − a) for the sigmoid, 1 − a² for tanh) cost no extra
exponentials.

``into(z, out)`` computes the same σ(z), bit for bit, into a preallocated array ``out``, which may be z
itself (the Trainer reuses its big evaluation arrays from epoch to epoch instead of allocating fresh ones),
and returns it — or returns z itself for the identity.

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
    """σ and σ'. ``prime`` is None for softmax (not elementwise). ``into(z, out)``: σ(z) written into
    ``out`` (same shape and dtype as z); None to fall back to ``fn``."""

    name: str
    fn: Callable[[Array], Array]
    prime: Callable[[Array, Array], Array] | None
    into: Callable[[Array, Array], Array] | None = None

    def apply(self, z: Array, out: Array | None) -> Array:
        """σ(z), into ``out`` when one is given (the result is the same as ``fn(z)``, bit for bit)."""
        if out is None:
            return self.fn(z)
        if self.into is None:
            out[...] = self.fn(z)
            return out
        return self.into(z, out)


def _sigmoid(z: Array) -> Array:
    """σ(z) = 1 / (1 + e^(−z)), computed as ½(1 + tanh(z/2)), which never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _sigmoid_into(z: Array, out: Array) -> Array:
    """The same operations as ``_sigmoid``, in place in ``out``."""
    np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


def _tanh_into(z: Array, out: Array) -> Array:
    out_: Array = np.tanh(z, out=out)
    return out_


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


def _relu_into(z: Array, out: Array) -> Array:
    out_: Array = np.maximum(z, 0, out=out)
    return out_


def _relu_prime(z: Array, a: Array) -> Array:
    """1 where z > 0, else 0 (0 at z = 0)."""
    return (z > 0).astype(z.dtype)


def _leaky_relu(z: Array) -> Array:
    """z for z > 0, else 0.01 z."""
    return np.where(z > 0, z, z * LEAKY_SLOPE)


def _leaky_relu_into(z: Array, out: Array) -> Array:
    """The same values as ``_leaky_relu`` (z where z > 0, else 0.01 z); ``out`` may be z itself."""
    if out is not z:
        np.copyto(out, z)
    np.multiply(out, LEAKY_SLOPE, out=out, where=out <= 0)  # NaN stays NaN either way
    return out


def _leaky_relu_prime(z: Array, a: Array) -> Array:
    """1 for z > 0, else 0.01."""
    return np.where(z > 0, 1.0, LEAKY_SLOPE).astype(z.dtype)


def _linear(z: Array) -> Array:
    """Identity."""
    return z


def _linear_into(z: Array, out: Array) -> Array:
    """Identity: z itself (as ``_linear``), ``out`` is not needed."""
    return z


def _linear_prime(z: Array, a: Array) -> Array:
    """1."""
    return np.ones_like(z)


def _softmax(z: Array) -> Array:
    """softmax(z)ᵢ = e^(zᵢ) / Σⱼ e^(zⱼ), row by row, shifted by the row max for stability. z: (n, k)."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    out: Array = e / e.sum(axis=1, keepdims=True)
    return out


def _softmax_into(z: Array, out: Array) -> Array:
    """The same operations as ``_softmax``, in place in ``out``."""
    np.subtract(z, z.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("sigmoid", _sigmoid, _sigmoid_prime, _sigmoid_into),
        Activation("tanh", np.tanh, _tanh_prime, _tanh_into),
        Activation("relu", _relu, _relu_prime, _relu_into),
        Activation("leaky_relu", _leaky_relu, _leaky_relu_prime, _leaky_relu_into),
        Activation("linear", _linear, _linear_prime, _linear_into),
    )
}
OUTPUT_ACTIVATIONS: dict[str, Activation] = {
    **ACTIVATIONS,
    "softmax": Activation("softmax", _softmax, None, _softmax_into),
}

HIDDEN_NAMES = tuple(ACTIVATIONS)
OUTPUT_NAMES = tuple(OUTPUT_ACTIVATIONS)


def get(name: str, *, output: bool = False) -> Activation:
    """The activation called ``name``; a ValueError naming the valid ones otherwise."""
    table = OUTPUT_ACTIVATIONS if output else ACTIVATIONS
    if name not in table:
        where = "output activation" if output else "activation"
        raise ValueError(f"unknown {where} {name!r}; valid: {', '.join(table)}")
    return table[name]
