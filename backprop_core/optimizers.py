"""Parameter updates. Gradient descent *subtracts* the gradient: w ← w − η ∂C/∂w.

(The seed says to "add" η ∂C/∂w; that would climb the cost. Every optimiser here steps downhill.)
η is called ``learning_rate``. Updates happen in place on the network's arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .network import MLP, Gradients
from .terms import Term, table

Array = np.ndarray
OPTIMIZERS = table(
    Term("sgd", "Gradient descent", "W ← W − η ∂C/∂W,  b ← b − η ∂C/∂b"),
    Term("momentum", "Momentum", "v ← μ v − η ∂C/∂W,  W ← W + v  (μ = momentum)"),
)


@dataclass
class SGD:
    """Plain gradient descent, the seed's: w ← w − η ∂C/∂w, b ← b − η ∂C/∂b."""

    learning_rate: float

    def step(self, net: MLP, grads: Gradients) -> None:
        """Apply one update in place."""
        lr = self.learning_rate
        for params, gs in ((net.weights, grads.weights), (net.biases, grads.biases)):
            for p, g in zip(params, gs, strict=True):
                p -= lr * g


@dataclass
class Momentum:
    """Gradient descent with momentum μ: v ← μ v − η ∂C/∂w, w ← w + v."""

    learning_rate: float
    momentum: float = 0.9
    _velocity: list[Array] = field(default_factory=list, repr=False)

    def step(self, net: MLP, grads: Gradients) -> None:
        """Apply one update in place."""
        params = net.weights + net.biases
        if not self._velocity:
            self._velocity = [np.zeros_like(p) for p in params]
        lr, mu = self.learning_rate, self.momentum
        for p, g, v in zip(params, grads.weights + grads.biases, self._velocity, strict=True):
            v *= mu
            v -= lr * g
            p += v


Optimizer = SGD | Momentum


def make(name: str, learning_rate: float, momentum: float = 0.9) -> Optimizer:
    """The optimiser called ``name``; ValueError naming the valid ones otherwise."""
    if not np.isfinite(learning_rate) or learning_rate <= 0:
        raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate}")
    if name == "sgd":
        return SGD(learning_rate)
    if name == "momentum":
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        return Momentum(learning_rate, momentum)
    raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
