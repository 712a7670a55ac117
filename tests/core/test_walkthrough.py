"""One step taken apart (``backprop_core.walkthrough``): its numbers against an independent float64
recomputation, its batch against the one the trainer really trains next, its gradient check against
``backprop_core.gradcheck``, its what-if against the Taylor series — and it changes nothing unless applied.

The recomputation here is the tests' own: the seed's equations written out again in float64 from the
weights and the examples the walkthrough names, sharing no code with ``network.py``. The walkthrough computes
in float32 as the run trains, so the two agree to float32's precision (RTOL, ATOL), not bit for bit; against
the trainer itself (a twin that takes the step) it agrees bit for bit.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from backprop_core import (
    MLP,
    Trainer,
    TrainerState,
    check_gradient,
    datasets,
    lessons,
    output_layer_size,
    prepare,
    walk,
    what_if,
)
from backprop_core.gradcheck import numerical_gradients, relative_error
from backprop_core.vocabulary import catalog
from backprop_core.walkthrough import MAX_CHECK_PARAMS, MAX_CHECK_WORK, MAX_WEIGHTS

RTOL, ATOL = 2e-4, 2e-6  # float32 (ε ≈ 1.2e-7) through a few layers of sums, against float64
F64 = np.float64


@pytest.fixture(autouse=True)
def no_floating_point_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


@dataclass(frozen=True)
class Case:
    dataset: str
    hidden: list[int]
    activation: str | list[str]
    output: str
    cost: str
    optimizer: str = "sgd"
    regularization: str | None = None
    rate: float = 0.0
    batch_size: int = 10
    learning_rate: float = 0.03
    n_samples: int | None = None


DEFAULT = Case("circle", [4, 2], "tanh", "tanh", "quadratic")  # the server's default run (Playground's)
THREE_HIDDEN = Case("spiral", [6, 5, 4], ["relu", "sigmoid", "tanh"], "sigmoid", "binary_cross_entropy",
                    regularization="l2", rate=0.01, batch_size=16, learning_rate=0.1)
SOFTMAX = Case("digits", [8, 6, 5], ["leaky_relu", "tanh", "sigmoid"], "softmax", "cross_entropy",
               optimizer="momentum", regularization="l1", rate=0.001, batch_size=12, n_samples=400)
CASES = {"default": DEFAULT, "three_hidden": THREE_HIDDEN, "softmax": SOFTMAX}


def make(case: Case, dtype: type = np.float32, learning_rate: float | None = None) -> Trainer:
    raw = datasets.load(case.dataset, noise=0.1, seed=0, **({"n_samples": case.n_samples} if case.n_samples else {}))
    data = prepare(raw)
    n_out = output_layer_size(raw, case.output)
    net = MLP([data.input_dim, *case.hidden, n_out], case.activation, case.output, case.cost, init="uniform",
              seed=3, dtype=dtype, regularization=case.regularization, regularization_rate=case.rate)
    return Trainer(net, data, learning_rate=learning_rate or case.learning_rate, batch_size=case.batch_size,
                   optimizer=case.optimizer, seed=5, probe_index=7)


# -- the tests' own float64 arithmetic -------------------------------------------------------------------------
def sigma(name: str, z: np.ndarray) -> np.ndarray:
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "relu":
        return np.maximum(z, 0)
    if name == "leaky_relu":
        return np.where(z > 0, z, 0.01 * z)
    if name == "linear":
        return z
    assert name == "softmax"
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def sigma_prime(name: str, z: np.ndarray) -> np.ndarray:
    if name == "tanh":
        return 1 - np.tanh(z) ** 2
    if name == "sigmoid":
        return sigma("sigmoid", z) * (1 - sigma("sigmoid", z))
    if name in ("relu", "leaky_relu"):
        return np.where(z > 0, 1.0, 0.0 if name == "relu" else 0.01)
    assert name == "linear"
    return np.ones_like(z)


def by_hand(acts: list[str], cost: str, Ws: list[np.ndarray], bs: list[np.ndarray], X: np.ndarray,
            Y: np.ndarray, reg: str | None, lam: float) -> dict[str, Any]:
    """Forward, cost, δ backward and the averaged gradients, from the seed's equations in float64."""
    zs, as_ = [], [X]
    for W, b, act in zip(Ws, bs, acts, strict=True):
        zs.append(as_[-1] @ W + b)
        as_.append(sigma(act, zs[-1]))
    a, n = as_[-1], len(X)
    if cost == "quadratic":
        C = 0.5 * ((a - Y) ** 2).sum() / n
        delta = (a - Y) * sigma_prime(acts[-1], zs[-1])  # seed eq. (4)
    elif cost == "cross_entropy":
        C = -(Y * np.log(a)).sum() / n
        delta = a - Y
    else:
        C = -(Y * np.log(a) + (1 - Y) * np.log(1 - a)).sum() / n
        delta = a - Y
    penalty = 0.0 if reg is None else lam * (np.abs(np.concatenate([w.ravel() for w in Ws])).sum() if reg == "l1"
                                             else 0.5 * sum((w ** 2).sum() for w in Ws))
    deltas = [delta]
    for l in range(len(Ws) - 1, 0, -1):  # seed eq. (5), with σ′ of the layer's own z
        deltas.insert(0, (deltas[0] @ Ws[l].T) * sigma_prime(acts[l - 1], zs[l - 1]))
    dW_data = [as_[l].T @ deltas[l] / n for l in range(len(Ws))]  # seed eq. (1)
    extra = [np.zeros_like(W) if reg is None else lam * (np.sign(W) if reg == "l1" else W) for W in Ws]
    return {"z": zs, "a": as_[1:], "delta": deltas, "C": C + penalty, "penalty": penalty, "dW_data": dW_data,
            "dW": [d + e for d, e in zip(dW_data, extra, strict=True)], "dW_penalty": extra,
            "db": [d.mean(axis=0) for d in deltas]}


def arr(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=F64)


def close(got: Any, want: np.ndarray, what: str) -> None:
    np.testing.assert_allclose(arr(got), want, rtol=RTOL, atol=ATOL, err_msg=what)


@pytest.mark.parametrize("name", ["default", "three_hidden"])
def test_every_number_equals_a_float64_recomputation(name: str) -> None:
    case = CASES[name]
    t = make(case)
    for _ in range(7):  # somewhere inside the first epoch, with trained weights
        t.step_batch(tensors=False)
    w = walk(t).answer
    json.dumps(w, allow_nan=False)
    acts = [L["activation"] for L in w["layers"]]
    Ws, bs = [arr(L["W"]) for L in w["layers"]], [arr(L["b"]) for L in w["layers"]]
    idx = np.array(w["batch_indices"])
    X, Y = t.X[idx].astype(F64), t.Y[idx].astype(F64)
    p = w["probe"]["index"]
    assert p == 7 and w["probe"]["in_batch"] == (p in idx)
    close(w["probe"]["x"], t.X[p].astype(F64), "a⁰ of the probe")
    batch = by_hand(acts, case.cost, Ws, bs, X, Y, case.regularization, case.rate)
    probe = by_hand(acts, case.cost, Ws, bs, t.X[p:p + 1].astype(F64), t.Y[p:p + 1].astype(F64), None, 0.0)
    assert w["batch_cost_before"] == pytest.approx(batch["C"], rel=RTOL)
    assert w["penalty_before"] == pytest.approx(batch["penalty"], rel=RTOL, abs=ATOL)
    assert w["probe"]["cost"] == pytest.approx(probe["C"], rel=RTOL)
    for l, L in enumerate(w["layers"]):
        close(L["z"], probe["z"][l][0], f"z{l + 1}")
        close(L["a"], probe["a"][l][0], f"a{l + 1}")
        close(L["sigma_prime"], sigma_prime(acts[l], probe["z"][l][0]), f"σ′(z{l + 1})")
        close(L["delta"], probe["delta"][l][0], f"δ{l + 1}")
        a_prev = t.X[p].astype(F64) if l == 0 else probe["a"][l - 1][0]
        close(L["dW_probe"], np.outer(a_prev, probe["delta"][l][0]), f"∂Cₓ/∂W{l + 1} = a·δ")
        close(L["db_probe"], probe["delta"][l][0], f"∂Cₓ/∂b{l + 1} = δ")
        close(L["dW"], batch["dW"][l], f"∂C/∂W{l + 1}")
        close(L["db"], batch["db"][l], f"∂C/∂b{l + 1}")
        if case.regularization is None:
            assert L["dW_data"] is None and L["dW_penalty"] is None
        else:
            close(L["dW_data"], batch["dW_data"][l], f"(1/n) Σ a·δ of layer {l + 1}")
            close(L["dW_penalty"], batch["dW_penalty"][l], f"penalty term of layer {l + 1}")
        close(L["W_after"], Ws[l] - case.learning_rate * batch["dW"][l], f"W{l + 1} − η ∂C/∂W{l + 1}")
        close(L["b_after"], bs[l] - case.learning_rate * batch["db"][l], f"b{l + 1} − η ∂C/∂b{l + 1}")
    after = by_hand(acts, case.cost, [arr(L["W_after"]) for L in w["layers"]],
                    [arr(L["b_after"]) for L in w["layers"]], X, Y, case.regularization, case.rate)
    assert w["batch_cost_after"] == pytest.approx(after["C"], rel=RTOL)
    assert w["batch_cost_after"] < w["batch_cost_before"]  # a small step downhill on the same batch
    assert w["learning_rate"] == case.learning_rate and w["dtype"] == "float32" and w["finite"]


def test_softmax_and_momentum_recomputed_across_two_applied_steps() -> None:
    """Momentum's update needs the previous step: v = W − W_previous, then W_after = W + μ v − η ∂C/∂W."""
    case = SOFTMAX
    t = make(case)
    first = walk(t, apply=True).answer
    w = walk(t).answer
    assert w["optimizer"] == {"name": "momentum", "formula": w["optimizer"]["formula"], "momentum": 0.9}
    acts = [L["activation"] for L in w["layers"]]
    Ws, bs = [arr(L["W"]) for L in w["layers"]], [arr(L["b"]) for L in w["layers"]]
    idx = np.array(w["batch_indices"])
    batch = by_hand(acts, case.cost, Ws, bs, t.X[idx].astype(F64), t.Y[idx].astype(F64), "l1", case.rate)
    assert w["layers"][-1]["sigma_prime"] is None  # a softmax has no σ′ of one neuron
    assert w["batch_cost_before"] == pytest.approx(batch["C"], rel=RTOL)
    for l, L in enumerate(w["layers"]):
        close(L["W"], arr(first["layers"][l]["W_after"]), "the applied step's W_after is the next W")
        v = Ws[l] - arr(first["layers"][l]["W"])
        close(L["dW"], batch["dW"][l], f"∂C/∂W{l + 1}")
        close(L["W_after"], Ws[l] + 0.9 * v - case.learning_rate * batch["dW"][l], f"momentum W{l + 1}")


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("batch_size", [10, 12])
def test_the_batch_is_the_one_the_trainer_trains_next(name: str, batch_size: int) -> None:
    """Across two epoch boundaries (12 does not divide the training set: a short last batch): a walk changes
    nothing — position, shuffling generator, optimiser state; its W_after is a twin's step bit for bit; an
    applied walk is that step; each epoch's batches cover the training set once."""
    case = CASES[name]
    t, twin = make(case), make(case)
    t.batch_size = twin.batch_size = batch_size
    n = len(t.X)
    seen: dict[int, list[int]] = {}
    for k in range(2 * -(-n // batch_size) + 3):
        position, rng = t.position, copy.deepcopy(t._rng.bit_generator.state)
        optimizer = copy.deepcopy(t.optimizer)
        w = walk(t).answer
        assert (t.position, t._rng.bit_generator.state) == (position, rng)
        assert repr(t.optimizer) == repr(optimizer) and all(
            np.array_equal(a, b) for a, b in zip(getattr(t.optimizer, "_velocity", []),
                                                 getattr(optimizer, "_velocity", []), strict=True))
        assert (w["epoch"], w["batch"]) == position[:2]
        seen.setdefault(w["epoch"], []).extend(w["batch_indices"])
        twin.step_batch(tensors=False)
        for L, W, b in zip(w["layers"], twin.net.weights, twin.net.biases, strict=True):
            assert np.array_equal(np.asarray(L["W_after"], np.float32), W), k
            assert np.array_equal(np.asarray(L["b_after"], np.float32), b), k
        applied = walk(t, apply=True) if k % 2 else None
        if applied is None:
            t.step_batch(tensors=False)
        else:
            assert applied.answer["batch_indices"] == w["batch_indices"] and applied.answer["applied"]
            assert applied.snapshot is not None and (applied.snapshot.epoch, applied.snapshot.batch) == t.position[:2]
        assert t.position[:2] == twin.position[:2]
        for a, b in zip(t.net.weights + t.net.biases, twin.net.weights + twin.net.biases, strict=True):
            assert np.array_equal(a, b), k
    for epoch in (0, 1):
        assert sorted(seen[epoch]) == list(range(n)), f"epoch {epoch} covers the training set once"
    assert seen[0] != seen[1]  # reshuffled


def test_a_float32_number_is_sent_as_its_shortest_decimal_and_reads_back_exactly() -> None:
    t = make(DEFAULT)
    w = walk(t).answer
    text = json.dumps(w, allow_nan=False)
    again = json.loads(text)
    for L, W, b in zip(again["layers"], t.net.weights, t.net.biases, strict=True):
        assert np.array_equal(np.asarray(L["W"], np.float32), W) and np.array_equal(np.asarray(L["b"], np.float32), b)
    assert all(len(repr(v)) <= 16 for row in again["layers"][0]["W"] for v in row)  # not 0.30000001192092896


def test_float64_runs_walk_too() -> None:
    t = make(DEFAULT, dtype=np.float64)
    w = walk(t).answer
    assert w["dtype"] == "float64"
    assert np.array_equal(np.asarray(w["layers"][0]["W"]), t.net.weights[0])


def test_a_step_that_overflows_is_sent_as_nulls_and_applied_it_diverges() -> None:
    t = make(Case("plane", [4], "linear", "linear", "quadratic"), learning_rate=1e30)
    w = walk(t).answer
    json.dumps(w, allow_nan=False)
    assert not w["finite"] and w["batch_cost_after"] is None and w["batch_cost_before"] is not None
    applied = walk(t, apply=True)
    assert applied.snapshot is None and t.state is TrainerState.DIVERGED


# -- the gradient check ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
def test_the_gradient_check_is_backprop_core_gradcheck_on_the_next_batch(name: str) -> None:
    t = make(CASES[name])
    for _ in range(3):
        t.step_batch(tensors=False)
    before = [w.copy() for w in t.net.weights]
    idx, X, Y = t.next_batch()
    net64 = t.net.copy(np.float64)
    X64, Y64 = X.astype(F64), Y.astype(F64)
    grads = net64.backward(net64.forward(X64), Y64)
    num_w, num_b = numerical_gradients(net64, X64, Y64)
    for l in range(1, len(t.net.weights) + 1):
        g = check_gradient(t, l)
        json.dumps(g, allow_nan=False)
        assert g["batch"] == idx.tolist() and g["target"] == "layer" and g["epsilon"] == 1e-6
        assert np.array_equal(arr(g["numeric"]), num_w[l - 1])
        assert np.array_equal(arr(g["backprop"]), grads.weights[l - 1])
        assert np.array_equal(arr(g["biases"]["numeric"]), num_b[l - 1])
        assert np.array_equal(arr(g["biases"]["backprop"]), grads.biases[l - 1])
        assert g["max_rel_error"] == max(relative_error(grads.weights[l - 1], num_w[l - 1]),
                                         relative_error(grads.biases[l - 1], num_b[l - 1]))
        if name == "default":  # smooth (tanh, no L1): nothing but rounding and the O(ε²) rest
            assert g["max_rel_error"] < 1e-6
        one = check_gradient(t, l, index=(1, 0))
        assert one["target"] == "weight" and one["biases"] is None
        assert (one["backprop"], one["numeric"]) == (g["backprop"][1][0], g["numeric"][1][0])
        bias = check_gradient(t, l, bias=0, eps=1e-5)
        assert bias["numeric"] != g["biases"]["numeric"][0] and bias["numeric"] == pytest.approx(
            g["biases"]["numeric"][0], rel=1e-5, abs=1e-9)  # another ε, the same slope
    assert all(np.array_equal(a, b) for a, b in zip(before, t.net.weights, strict=True))


def test_the_gradient_check_refuses_what_is_too_big_or_not_there() -> None:
    t = make(DEFAULT)
    with pytest.raises(ValueError, match=r"layer must be in \[1, 3\]"):
        check_gradient(t, 4)
    with pytest.raises(ValueError, match=r"outside W2's shape \[4, 2\]"):
        check_gradient(t, 2, index=(4, 0))
    with pytest.raises(ValueError, match="b3's 1 neurons"):
        check_gradient(t, 3, bias=1)
    with pytest.raises(ValueError, match="not both"):
        check_gradient(t, 1, index=(0, 0), bias=0)
    raw = datasets.load("digits", seed=0)
    wide = Trainer(MLP([64, 64, 64, 10], "tanh", "softmax", "cross_entropy"), prepare(raw), batch_size=10)
    with pytest.raises(ValueError, match=f"at most {MAX_CHECK_PARAMS:,}"):
        check_gradient(wide, 2)
    heavy = Trainer(MLP([64, 60, 60, 10], "tanh", "softmax", "cross_entropy"), prepare(raw), batch_size=raw.n_train)
    with pytest.raises(ValueError, match=f"the limit is {MAX_CHECK_WORK:,}"):
        check_gradient(heavy, 1)
    assert check_gradient(heavy, 1, index=(0, 0))["target"] == "weight"
    huge = Trainer(MLP([64, 200, 100, 10], "tanh", "softmax", "cross_entropy"), prepare(raw))
    with pytest.raises(ValueError, match=f"at most {MAX_WEIGHTS:,}"):
        walk(huge)


# -- what if ----------------------------------------------------------------------------------------------
def test_what_if_the_first_order_prediction_and_its_error() -> None:
    """change − Δ·∂C/∂w is the Taylor series' rest, ~Δ²: a tenth of Δ leaves about a hundredth of it."""
    t = make(THREE_HIDDEN)
    for _ in range(5):
        t.step_batch(tensors=False)
    weights = [w.copy() for w in t.net.weights]
    position = t.position
    big = what_if(t, 2, 1e-2, index=(1, 2))
    small = what_if(t, 2, 1e-3, index=(1, 2))
    json.dumps(big, allow_nan=False)
    assert big["gradient"] == small["gradient"] != 0
    assert big["predicted"] == pytest.approx(1e-2 * big["gradient"])
    assert big["change"] == pytest.approx(big["cost_after"] - big["cost_before"])
    assert abs(small["difference"]) < abs(small["change"]) / 100
    assert 30 < big["difference"] / small["difference"] < 300
    assert big["value_after"] == pytest.approx(big["value_before"] + 1e-2)
    assert big["cost_before"] == check_gradient(t, 2, index=(1, 2))["cost"]
    bias = what_if(t, 3, -0.5, bias=1)
    assert bias["index"] is None and bias["bias"] == 1
    assert t.position == position and all(np.array_equal(a, b) for a, b in zip(weights, t.net.weights, strict=True))
    with pytest.raises(ValueError, match="give index"):
        what_if(t, 1, 0.1)
    with pytest.raises(ValueError, match="finite"):
        what_if(t, 1, float("inf"), index=(0, 0))


# -- the words ------------------------------------------------------------------------------------------------
def test_each_step_says_what_it_computes_citing_the_seed() -> None:
    names = [s.name for s in lessons.STEPS.values()]
    assert names == ["forward", "cost", "output_delta", "hidden_delta", "gradient", "update"]
    assert [s["name"] for s in catalog()["walkthrough"]["steps"]] == names
    for s in lessons.STEPS.values():
        assert s.text.count(". ") <= 2 and s.equation and s.seed and not s.note
    assert "(5)" in lessons.STEPS["hidden_delta"].seed and "σ′(zᴸ)" in lessons.STEPS["hidden_delta"].seed
    assert "add" in lessons.STEPS["update"].seed and "−" in lessons.STEPS["update"].equation
    plain = {s["name"]: s for s in walk(make(DEFAULT)).answer["steps"]}
    assert plain["output_delta"]["equation"] == "δᴸ = (aᴸ − y) ⊙ σ′(zᴸ)" and not plain["gradient"]["note"]
    special = {s["name"]: s for s in walk(make(SOFTMAX)).answer["steps"]}
    assert special["output_delta"]["equation"] == "δᴸ = aᴸ − y" and "cancel" in special["output_delta"]["note"]
    assert "λ sign(Wˡ)" in special["gradient"]["equation"] and "λ = 0.001" in special["gradient"]["note"]
    assert special["update"]["equation"].startswith("v ← μ v") and special["update"]["note"]
