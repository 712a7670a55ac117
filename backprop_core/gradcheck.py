"""Gradient check: backpropagation against central finite differences.

For a parameter p, (C(p + ε) − C(p − ε)) / 2ε is compared with backprop's ∂C/∂p by the relative error
|a − b| / max(|a| + |b|, tiny). The central difference's own error is O(ε²) (its ε terms cancel) plus the
rounding of C, about u·|C|/ε: use a float64 network (``MLP.copy(np.float64)`` of a float32 one).
``gradcheck`` checks every parameter; ``central_differences`` any chosen entries of one parameter array.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .network import MLP

Array = np.ndarray
EPSILON = 1e-6  # ε: in float64 the truncation error ~ε² and the rounding error ~1e-16/ε balance near here


def central_differences(net: MLP, X: Array, Y: Array, param: Array, positions: Iterable[int] | None = None,
                        eps: float = EPSILON) -> Array:
    """(C(p + ε) − C(p − ε)) / 2ε for the entries ``positions`` (flat indices; every entry by default) of
    ``param``, one of ``net``'s own weight or bias arrays: each entry is nudged in place and restored. C is
    ``net.cost`` of the batch X (n, n_0), Y (n, n_L), penalty included. Returns float64, one per position."""
    flat = param.reshape(-1)  # a view: writing into it nudges the network's own parameter
    chosen = range(flat.size) if positions is None else list(positions)
    out = np.zeros(len(chosen), dtype=np.float64)
    for k, i in enumerate(chosen):
        old = flat[i]
        flat[i] = old + eps
        c_plus = net.cost(net.forward(X), Y)
        flat[i] = old - eps
        c_minus = net.cost(net.forward(X), Y)
        flat[i] = old
        out[k] = (c_plus - c_minus) / (2 * eps)
    return out


def numerical_gradients(net: MLP, X: Array, Y: Array, eps: float = EPSILON) -> tuple[list[Array], list[Array]]:
    """Central differences of C for every weight and bias (same shapes as the parameters)."""
    weights = [central_differences(net, X, Y, w, eps=eps).reshape(w.shape) for w in net.weights]
    biases = [central_differences(net, X, Y, b, eps=eps).reshape(b.shape) for b in net.biases]
    return weights, biases


def relative_errors(a: Array, b: Array, floor: float = 1e-10) -> Array:
    """|a − b| / max(|a| + |b|, floor), elementwise, in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    out: Array = np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)
    return out


def relative_error(a: Array, b: Array, floor: float = 1e-10) -> float:
    """max |a − b| / max(|a| + |b|, floor), elementwise."""
    return float(np.max(relative_errors(a, b, floor), initial=0.0))


def gradcheck(net: MLP, X: Array, Y: Array, eps: float = EPSILON) -> float:
    """Largest relative error between backprop's and the finite-difference gradient over all parameters."""
    if net.dtype != np.float64:
        raise ValueError("gradcheck needs a float64 network (MLP(..., dtype=np.float64))")
    grads = net.backward(net.forward(X), Y)
    num_w, num_b = numerical_gradients(net, X, Y, eps)
    errs = [relative_error(a, b) for a, b in zip(grads.weights + grads.biases, num_w + num_b, strict=True)]
    return max(errs)
