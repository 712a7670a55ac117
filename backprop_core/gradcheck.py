"""Gradient check: backpropagation against central finite differences, for every parameter.

For each parameter p, (C(p + ε) − C(p − ε)) / 2ε is compared with backprop's ∂C/∂p, and the largest
relative error |a − b| / max(|a| + |b|, tiny) is returned. Use a float64 network.
"""

from __future__ import annotations

import numpy as np

from .network import MLP

Array = np.ndarray


def numerical_gradients(net: MLP, X: Array, Y: Array, eps: float = 1e-6) -> tuple[list[Array], list[Array]]:
    """Central differences of C for every weight and bias (same shapes as the parameters)."""
    out: list[list[Array]] = [[], []]
    for group, params in enumerate((net.weights, net.biases)):
        for p in params:
            g = np.zeros_like(p, dtype=np.float64)
            flat, gflat = p.reshape(-1), g.reshape(-1)
            for i in range(flat.size):
                old = flat[i]
                flat[i] = old + eps
                c_plus = net.cost(net.forward(X), Y)
                flat[i] = old - eps
                c_minus = net.cost(net.forward(X), Y)
                flat[i] = old
                gflat[i] = (c_plus - c_minus) / (2 * eps)
            out[group].append(g)
    return out[0], out[1]


def relative_error(a: Array, b: Array, floor: float = 1e-10) -> float:
    """max |a − b| / max(|a| + |b|, floor), elementwise."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor), initial=0.0))


def gradcheck(net: MLP, X: Array, Y: Array, eps: float = 1e-6) -> float:
    """Largest relative error between backprop's and the finite-difference gradient over all parameters."""
    if net.dtype != np.float64:
        raise ValueError("gradcheck needs a float64 network (MLP(..., dtype=np.float64))")
    grads = net.backward(net.forward(X), Y)
    num_w, num_b = numerical_gradients(net, X, Y, eps)
    errs = [relative_error(a, b) for a, b in zip(grads.weights + grads.biases, num_w + num_b, strict=True)]
    return max(errs)
