"""Backpropagation against finite differences, in float64, over random networks (hypothesis).

The finite differences here are the tests' own (independent of ``backprop_core.gradcheck``): a five-point
central stencil

    f'(p) ≈ [f(p − 2ε) − 8 f(p − ε) + 8 f(p + ε) − f(p + 2ε)] / 12ε,   truncation error O(ε⁴ f⁽⁵⁾),

with ε = 1e-4. Its rounding error is about 1.5 · u · |C| / ε ≈ 3e-12 · |C| (u = 2.2e-16), its truncation
error ε⁴/30 · |f⁽⁵⁾| ≈ 3e-18 · |f⁽⁵⁾| — together ~1e-11 absolute for the O(1) costs of these small nets.
The relative error |g_bp − g_fd| / max(|g_bp| + |g_fd|, FLOOR) must be ≤ 1e-7. With FLOOR = 1e-3 a
component smaller than 1e-3 (a saturated unit, a nearly cancelling sum) is held to an absolute error of
1e-10 instead, still ten times tighter than the noise floor allows to be wrong by chance — while any real
mistake in backprop (a wrong σ', a missing 1/n, a transposed W, a dropped regularisation term) is off by
far more than that.

ReLU and leaky ReLU have a kink at z = 0 and L1 a kink at w = 0: a difference quotient straddling a kink
measures a mixture of the two one-sided slopes. Rather than guessing a safe margin (the examples' |z| <
ε·10 rule), every perturbed evaluation is checked exactly: if any ReLU-type unit of any example changes
side of 0 (or, under L1, a perturbed weight changes sign), the stencil crossed a kink and the example is
rejected (``assume``). With ε = 1e-4 that rejects only a few percent of the draws.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from backprop_core import MLP, gradcheck
from backprop_core.gradcheck import numerical_gradients, relative_error

EPS = 1e-4
FLOOR = 1e-3
TOL = 1e-7
HIDDEN = ("sigmoid", "tanh", "relu", "leaky_relu", "linear")
KINKED = ("relu", "leaky_relu")
# (output activation, cost): quadratic with every elementwise output, softmax + cross-entropy, sigmoid + BCE
OUTPUT_COSTS = [(o, "quadratic") for o in HIDDEN] + [("softmax", "cross_entropy"),
                                                      ("sigmoid", "binary_cross_entropy")]
REGULARIZATION = (None, "l1", "l2")

SETTINGS = settings(max_examples=120, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])


@dataclass
class Case:
    net: MLP
    X: np.ndarray
    Y: np.ndarray

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        n = self.net
        return (f"Case(sizes={n.sizes}, hidden={[a.name for a in n.hidden_activations]}, "
                f"output={n.output_activation.name}, cost={n.cost_fn.name}, reg={n.regularization}, "
                f"rate={n.regularization_rate}, init={n.init}, n={len(self.X)})")


@st.composite
def cases(draw: st.DrawFn) -> Case:
    out, cost = draw(st.sampled_from(OUTPUT_COSTS))
    n_hidden = draw(st.integers(0, 3))
    sizes = [draw(st.integers(1, 4))] + [draw(st.integers(1, 5)) for _ in range(n_hidden)]
    sizes.append(draw(st.integers(2 if out == "softmax" else 1, 4)))
    hidden = [draw(st.sampled_from(HIDDEN)) for _ in range(n_hidden)]
    reg = draw(st.sampled_from(REGULARIZATION))
    rate = draw(st.sampled_from([0.001, 0.01, 0.1])) if reg else 0.0
    seed = draw(st.integers(0, 2**16))
    net = MLP(sizes, hidden, out, cost, init=draw(st.sampled_from(["auto", "uniform"])), seed=seed,
              dtype=np.float64, regularization=reg, regularization_rate=rate)
    rng = np.random.default_rng(seed + 1)
    n = draw(st.integers(1, 6))
    X = rng.normal(0.0, 1.5, (n, sizes[0]))
    k = sizes[-1]
    if cost == "cross_entropy":
        Y = np.eye(k)[rng.integers(0, k, n)]
    elif cost == "binary_cross_entropy":
        Y = rng.uniform(0.0, 1.0, (n, k))  # δᴸ = aᴸ − y holds for any target in [0, 1]
    else:
        Y = rng.normal(0.0, 1.0, (n, k))
    return Case(net, X, Y)


def _kink_signature(net: MLP, X: np.ndarray) -> tuple[bytes, ...]:
    """Which side of its kink every ReLU-type unit of every example is on (and, under L1, every weight)."""
    trace = net.forward(X)
    sig = [(z > 0).tobytes() for z, act in zip(trace.zs, net.layer_activations, strict=True)
           if act.name in KINKED]
    if net.regularization == "l1":
        sig += [(w > 0).tobytes() for w in net.weights]
    return tuple(sig)


def five_point_gradients(net: MLP, X: np.ndarray, Y: np.ndarray, eps: float = EPS
                         ) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
    """∂C/∂p for every weight and bias by the five-point stencil; None if a stencil crossed a kink."""
    base = _kink_signature(net, X)
    out: list[list[np.ndarray]] = [[], []]
    for group, params in enumerate((net.weights, net.biases)):
        for p in params:
            g = np.zeros_like(p)
            flat, gflat = p.reshape(-1), g.reshape(-1)
            for i in range(flat.size):
                old = flat[i]
                values = []
                for step in (-2, -1, 1, 2):
                    flat[i] = old + step * eps
                    if _kink_signature(net, X) != base:
                        flat[i] = old
                        return None
                    values.append(net.cost(net.forward(X), Y))
                flat[i] = old
                gflat[i] = (values[0] - 8 * values[1] + 8 * values[2] - values[3]) / (12 * eps)
            out[group].append(g)
    return out[0], out[1]


def max_relative_error(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(x - y) / np.maximum(np.abs(x) + np.abs(y), FLOOR), initial=0.0))
               for x, y in zip(a, b, strict=True))


@SETTINGS
@given(cases())
def test_backprop_matches_finite_differences(case: Case) -> None:
    net, X, Y = case.net, case.X, case.Y
    grads = net.backward(net.forward(X), Y)
    numeric = five_point_gradients(net, X, Y)
    assume(numeric is not None)
    assert numeric is not None
    num_w, num_b = numeric
    err = max(max_relative_error(grads.weights, num_w), max_relative_error(grads.biases, num_b))
    assert err <= TOL, f"relative error {err:.3g} > {TOL:g} for {case!r}"


def _downstream(net: MLP, layer: int, z: np.ndarray, y: np.ndarray) -> tuple[float, tuple[bytes, ...]]:
    """Cₓ with zˡ of one example replaced by ``z`` (1, n_l) — the regularisation term is left out, as it
    does not depend on z — and the side of the kink of every ReLU-type unit from layer l on."""
    sig: list[bytes] = []
    for i in range(layer - 1, len(net.weights)):  # i = l − 1 as in the core's lists
        act = net.layer_activations[i]
        if act.name in KINKED:
            sig.append((z > 0).tobytes())
        a = act.fn(z)
        if i + 1 < len(net.weights):
            z = a @ net.weights[i + 1] + net.biases[i + 1]
    return net.cost_fn.fn(z, a, y), tuple(sig)


@SETTINGS
@given(cases(), st.data())
def test_per_example_delta_is_dC_x_dz(case: Case, data: st.DataObject) -> None:
    """δˡ(x) = ∂Cₓ/∂zˡ for every layer and one example x: finite differences on zˡ itself. The deltas
    are per example (not divided by n), and backward on a batch of one gives the same rows."""
    net, X, Y = case.net, case.X, case.Y
    trace = net.forward(X)
    grads = net.backward(trace, Y)
    x = data.draw(st.integers(0, len(X) - 1), label="example")
    y = Y[x:x + 1]
    alone = net.backward(net.forward(X[x:x + 1]), y)
    for layer in range(1, len(net.weights) + 1):
        z0 = trace.zs[layer - 1][x:x + 1]
        _, base = _downstream(net, layer, z0, y)
        numeric = np.zeros(z0.shape[1])
        for j in range(z0.shape[1]):
            values = []
            for step in (-2, -1, 1, 2):
                z = z0.copy()
                z[0, j] += step * EPS
                cost, sig = _downstream(net, layer, z, y)
                assume(sig == base)  # the stencil crossed a ReLU kink: no derivative to compare with
                values.append(cost)
            numeric[j] = (values[0] - 8 * values[1] + 8 * values[2] - values[3]) / (12 * EPS)
        delta = grads.deltas[layer - 1][x]
        err = float(np.max(np.abs(delta - numeric) / np.maximum(np.abs(delta) + np.abs(numeric), FLOOR)))
        assert err <= TOL, f"δ{layer} of example {x}: relative error {err:.3g} for {case!r}"
        np.testing.assert_allclose(alone.deltas[layer - 1][0], delta, rtol=1e-12, atol=1e-15)


def test_the_core_gradcheck_agrees_on_small_nets() -> None:
    """backprop_core.gradcheck (plain central differences, ε = 1e-6) on one net of each output/cost kind."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(5, 3))
    for out, cost, Y in [("tanh", "quadratic", rng.normal(size=(5, 2))),
                         ("softmax", "cross_entropy", np.eye(2)[rng.integers(0, 2, 5)]),
                         ("sigmoid", "binary_cross_entropy", rng.uniform(size=(5, 2)))]:
        for reg in (None, "l2"):
            net = MLP([3, 4, 2], "tanh", out, cost, seed=1, dtype=np.float64, regularization=reg,
                      regularization_rate=0.05)
            # central differences with ε = 1e-6 are good to ~1e-9 relative on these O(0.1) gradients
            assert gradcheck(net, X, Y) < 1e-6


def test_gradcheck_catches_a_wrong_gradient(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks can fail: break backprop (the seed's misprint σ'(zᴸ) in place of σ'(zˡ), here by
    dropping σ' of the hidden layer) and both finite-difference checks see it."""
    net = MLP([3, 4, 4], "tanh", "sigmoid", "quadratic", seed=0, dtype=np.float64)
    X = np.random.default_rng(0).normal(size=(4, 3))
    Y = np.random.default_rng(1).uniform(size=(4, 4))
    assert gradcheck(net, X, Y) < 1e-6
    real = net.hidden_activations[0]
    monkeypatch.setattr(net, "hidden_activations", [dataclasses.replace(real, prime=lambda z, a: np.ones_like(a))])
    assert gradcheck(net, X, Y) > 1e-3
    grads = net.backward(net.forward(X), Y)
    numeric = five_point_gradients(net, X, Y)
    assert numeric is not None
    assert max_relative_error(grads.weights, numeric[0]) > 1e-3


def test_gradcheck_refuses_float32() -> None:
    net = MLP([2, 2, 1], seed=0)
    with pytest.raises(ValueError, match="float64"):
        gradcheck(net, np.zeros((1, 2)), np.zeros((1, 1)))


def test_numerical_gradients_restore_the_parameters() -> None:
    net = MLP([2, 3, 1], seed=0, dtype=np.float64)
    before = [p.copy() for p in net.weights + net.biases]
    numerical_gradients(net, np.ones((2, 2)), np.zeros((2, 1)))
    for p, q in zip(before, net.weights + net.biases, strict=True):
        assert np.array_equal(p, q)
    assert relative_error(np.array([1.0]), np.array([1.0])) == 0.0
    assert relative_error(np.array([1.0]), np.array([-1.0])) == pytest.approx(1.0)
