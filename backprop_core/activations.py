"""Activation functions σ and their derivatives σ', side by side — and everything else the project says
about an activation, stated once here: its range, its equations as text, its default initialisation and
the targets (hence the decision threshold) of an output neuron.

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

``ACTIVATIONS`` is the one table: the network, the Trainer, the server's validation and its published
catalog all read it, so a new activation is one entry here (and its tests).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Array = np.ndarray

LEAKY_SLOPE = 0.01
INF = math.inf


@dataclass(frozen=True)
class Activation:
    """σ and σ', and what is said about them.

    ``prime`` is None for softmax (not elementwise: an output activation only). ``into(z, out)``: σ(z)
    written into ``out`` (same shape and dtype as z); None to fall back to ``fn``. ``range``: (low, high)
    of σ, ±inf where unbounded. ``formula`` and ``derivative``: σ and σ' as text (Unicode, for the page's
    equations). ``default_init``: what ``init="auto"`` gives a layer of this activation (``xavier`` or
    ``he``).
    """

    name: str
    fn: Callable[[Array], Array]
    prime: Callable[[Array, Array], Array] | None
    into: Callable[[Array, Array], Array] | None
    label: str
    range: tuple[float, float]
    formula: str
    derivative: str
    default_init: str = "xavier"
    times_prime_into: Callable[[Array, Array, Array], None] | None = None  # δ ⊙= σ'(z) in place, faster

    def times_prime(self, delta: Array, z: Array, a: Array) -> None:
        """δ ← δ ⊙ σ'(z), in place (backpropagation's last factor): the same numbers as
        ``delta *= prime(z, a)``, in fewer operations where the derivative allows it."""
        if self.times_prime_into is not None:
            self.times_prime_into(delta, z, a)
            return
        if self.prime is None:  # never: only the output layer may be softmax (get() refuses it)
            raise ValueError(f"{self.name} is not elementwise: it has no σ'(z) to multiply by")
        delta *= self.prime(z, a)

    def apply(self, z: Array, out: Array | None) -> Array:
        """σ(z), into ``out`` when one is given (the result is the same as ``fn(z)``, bit for bit)."""
        if out is None:
            return self.fn(z)
        if self.into is None:
            out[...] = self.fn(z)
            return out
        return self.into(z, out)

    @property
    def elementwise(self) -> bool:
        """Whether σ acts on each neuron alone (then it may be a hidden activation)."""
        return self.prime is not None

    @property
    def targets(self) -> tuple[float, float]:
        """(negative, positive): the targets of "not this class" and "this class" for an output neuron —
        −1 and +1 clipped into the range: (−1, 1) for tanh, linear and leaky ReLU (Playground's labels),
        (0, 1) for sigmoid, ReLU and softmax."""
        low, high = self.range
        return max(low, -1.0), min(high, 1.0)

    @property
    def threshold(self) -> float:
        """The decision threshold of a single output neuron: halfway between its two targets (0 for ±1
        targets, ½ for 0/1). An output above it says class 1 ("positive")."""
        negative, positive = self.targets
        return (negative + positive) / 2

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


def _relu_times_prime(delta: Array, z: Array, a: Array) -> None:
    """δ ⊙ 1[z > 0]: the mask multiplies as it is (True = 1, False = 0)."""
    np.multiply(delta, z > 0, out=delta)


def _linear_times_prime(delta: Array, z: Array, a: Array) -> None:
    """δ ⊙ 1: nothing to do."""


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
        Activation("sigmoid", _sigmoid, _sigmoid_prime, _sigmoid_into, "Sigmoid", (0.0, 1.0),
                   "σ(z) = 1 / (1 + e^(−z))", "σ′(z) = σ(z)(1 − σ(z))"),
        Activation("tanh", np.tanh, _tanh_prime, _tanh_into, "Tanh", (-1.0, 1.0),
                   "σ(z) = tanh z = (e^z − e^(−z)) / (e^z + e^(−z))", "σ′(z) = 1 − tanh² z"),
        Activation("relu", _relu, _relu_prime, _relu_into, "ReLU", (0.0, INF),
                   "σ(z) = max(0, z)", "σ′(z) = 1 if z > 0, else 0", "he", _relu_times_prime),
        Activation("leaky_relu", _leaky_relu, _leaky_relu_prime, _leaky_relu_into, "Leaky ReLU", (-INF, INF),
                   f"σ(z) = z if z > 0, else {LEAKY_SLOPE} z", f"σ′(z) = 1 if z > 0, else {LEAKY_SLOPE}", "he"),
        Activation("linear", _linear, _linear_prime, _linear_into, "Linear", (-INF, INF),
                   "σ(z) = z", "σ′(z) = 1", "xavier", _linear_times_prime),
        Activation("softmax", _softmax, None, _softmax_into, "Softmax", (0.0, 1.0),
                   "aⱼ = e^(zⱼ) / Σₖ e^(zₖ)",
                   "∂aⱼ/∂zₖ = aⱼ(1[j = k] − aₖ) — a Jacobian, only with the cross-entropy cost, where "
                   "δᴸ = aᴸ − y"),
    )
}


def hidden_names() -> tuple[str, ...]:
    """The activations a hidden layer may use (the elementwise ones), in table order."""
    return tuple(name for name, a in ACTIVATIONS.items() if a.elementwise)


def output_names() -> tuple[str, ...]:
    """The activations an output layer may use: all of them."""
    return tuple(ACTIVATIONS)


HIDDEN_NAMES = hidden_names()  # as the table stands at import (argparse choices); the functions read it live
OUTPUT_NAMES = output_names()


def get(name: str, *, output: bool = False) -> Activation:
    """The activation called ``name``; a ValueError naming the valid ones otherwise."""
    act = ACTIVATIONS.get(name) if isinstance(name, str) else None
    if act is not None and (output or act.elementwise):
        return act
    where, valid = ("output activation", output_names()) if output else ("activation", hidden_names())
    hint = " (an output activation only)" if act is not None else ""
    raise ValueError(f"unknown {where} {name!r}{hint}; valid: {', '.join(valid)}")
