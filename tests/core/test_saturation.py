"""Costs at saturated outputs: every cost × output activation × dtype gives a finite cost equal to the
float64 formula, and finite gradients. A run that is still learning never ends ``diverged``."""

from __future__ import annotations

import numpy as np
import pytest

from backprop_core import MLP, Trainer, TrainerState, activations, costs, datasets, prepare

COMBINATIONS = [(c, o) for c in costs.COSTS for o in costs.valid_outputs(c)]
Z = (20.0, 100.0, 1e4)  # float32's sigmoid is exactly 1.0 from |z| ≈ 17; e^z overflows float32 from 89


def reference_cost(cost: str, output: str, z: np.ndarray, y: np.ndarray) -> float:
    """C from z in float64, each formula written directly (logaddexp is ln(e^a + e^b) without overflow)."""
    if cost == "binary_cross_entropy":  # −[y ln σ(z) + (1 − y) ln(1 − σ(z))], ln σ(z) = −ln(1 + e^(−z))
        return float(np.sum(y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z)) / len(z))
    if cost == "cross_entropy":  # −Σ y (z − ln Σ e^z)
        lse = np.logaddexp.reduce(z, axis=1, keepdims=True)
        return float(-np.sum(y * (z - lse)) / len(z))
    a = activations.get(output, output=True).fn(z)
    return float(0.5 * np.sum((a - y) ** 2) / len(z))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("cost", "output"), COMBINATIONS)
@pytest.mark.parametrize("magnitude", Z)
def test_saturated_outputs_give_finite_costs_and_gradients(cost: str, output: str, dtype: type,
                                                           magnitude: float) -> None:
    """A one-layer net whose weighted inputs are ±magnitude: half the examples saturated on the right side
    of their target, half on the wrong side (the largest cost)."""
    k = 3 if output == "softmax" else 2
    net = MLP([2, k], [], output, cost, seed=0, dtype=dtype)
    net.weights[0][...] = 0
    net.weights[0][0, 0], net.weights[0][1, 1 % k] = magnitude, -magnitude
    net.biases[0][...] = 0
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    low, high = net.output_activation.targets
    Y = np.full((4, k), low)
    Y[[0, 1], [0, 1 % k]] = high  # examples 0, 1: the saturated neuron agrees with the target …
    Y[[2, 3], [1, 0]] = high  # … examples 2, 3: it disagrees
    if output == "softmax":
        Y = Y / Y.sum(axis=1, keepdims=True)
    trace = net.forward(X)
    C = net.cost(trace, Y)
    grads = net.backward(trace, Y)
    assert np.isfinite(C)
    z = trace.zs[-1].astype(np.float64)
    assert C == pytest.approx(reference_cost(cost, output, z, Y), rel=1e-5)
    for g in [*grads.weights, *grads.biases, *grads.deltas]:
        assert np.isfinite(g).all() and g.dtype == dtype


def test_bce_of_a_saturated_correct_output_is_near_zero_not_nan_in_float32() -> None:
    """The failure this guards against: in float32 σ(30) is exactly 1.0, and −[1·ln 1 + 0·ln 0] was
    0 · (−inf) = NaN."""
    net = MLP([1, 1], [], "sigmoid", "binary_cross_entropy", dtype=np.float32)
    net.weights[0][...] = 30.0
    net.biases[0][...] = 0.0
    trace = net.forward(np.array([[1.0]]))
    assert trace.output[0, 0] == np.float32(1.0)
    assert 0 <= net.cost(trace, np.array([[1.0]])) < 1e-12
    assert net.cost(trace, np.array([[0.0]])) == pytest.approx(30.0, rel=1e-6)


@pytest.mark.parametrize("standardize", [False, True])
def test_a_saturating_sigmoid_run_in_float32_ends_done(standardize: bool) -> None:
    """The REST run {"dataset": "gauss", "hidden_layers": [], "output_activation": "sigmoid",
    "learning_rate": 1, "epochs": 300}: it used to end diverged at epoch 30 with cost 5e-4 in float32
    (float64: done). Now float32 ends done too, at the same cost as float64."""
    raw = datasets.load("gauss", seed=0)
    ds = prepare(raw, standardize=standardize)
    ends = {}
    for dtype in (np.float32, np.float64):
        net = MLP([2, 1], [], "sigmoid", "binary_cross_entropy", init="uniform", seed=0, dtype=dtype)
        t = Trainer(net, ds, learning_rate=1, batch_size=10, max_epochs=300, snapshots=False)
        last = list(t.run())[-1]
        assert t.state is TrainerState.DONE, t.reason
        assert last.epoch == 300 and last.accuracy == 1.0
        ends[dtype] = last.train_cost
    assert ends[np.float32] == pytest.approx(ends[np.float64], rel=1e-2, abs=1e-6)
