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
        self.apply(net, [lr * g for g in grads.weights], [lr * g for g in grads.biases])

    def apply(self, net: MLP, weight_steps: list[Array], bias_steps: list[Array]) -> None:
        """The update from steps already multiplied by η (``MLP.backward(..., scale=η)``): w ← w − η ∂C/∂w."""
        for params, steps in ((net.weights, weight_steps), (net.biases, bias_steps)):
            for p, s in zip(params, steps, strict=True):
                p -= s


@dataclass
class Momentum:
    """Gradient descent with momentum μ: v ← μ v − η ∂C/∂w, w ← w + v."""

    learning_rate: float
    momentum: float = 0.9
    _velocity: list[Array] = field(default_factory=list, repr=False)

    def step(self, net: MLP, grads: Gradients) -> None:
        """Apply one update in place."""
        lr = self.learning_rate
        self.apply(net, [lr * g for g in grads.weights], [lr * g for g in grads.biases])

    def apply(self, net: MLP, weight_steps: list[Array], bias_steps: list[Array]) -> None:
        """The update from steps already multiplied by η: v ← μ v − η ∂C/∂w, w ← w + v."""
        params = net.weights + net.biases
        if not self._velocity:
            self._velocity = [np.zeros_like(p) for p in params]
        mu = self.momentum
        for p, s, v in zip(params, weight_steps + bias_steps, self._velocity, strict=True):
            v *= mu
            v -= s
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
