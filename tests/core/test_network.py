"""MLP's public surface: shapes, dtypes, initialisation, validation of names and combinations,
activation and cost pairs (value, derivative)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from backprop_core import MLP, Gradients, Trace, costs
from backprop_core import activations as acts


def test_shapes_of_parameters_trace_and_gradients() -> None:
    net = MLP([3, 5, 4, 2], "tanh", "sigmoid", "quadratic", seed=0)
    assert [w.shape for w in net.weights] == [(3, 5), (5, 4), (4, 2)]
    assert [b.shape for b in net.biases] == [(5,), (4,), (2,)]
    assert net.n_params == 3 * 5 + 5 + 5 * 4 + 4 + 4 * 2 + 2
    X = np.zeros((7, 3))
    trace = net.forward(X)
    assert isinstance(trace, Trace)
    assert [z.shape for z in trace.zs] == [(7, 5), (7, 4), (7, 2)]
    assert [a.shape for a in trace.activations] == [(7, 3), (7, 5), (7, 4), (7, 2)]
    grads = net.backward(trace, np.zeros((7, 2)))
    assert isinstance(grads, Gradients)
    assert [g.shape for g in grads.weights] == [w.shape for w in net.weights]
    assert [g.shape for g in grads.biases] == [b.shape for b in net.biases]
    assert [d.shape for d in grads.deltas] == [(7, 5), (7, 4), (7, 2)]
    assert isinstance(net.cost(trace, np.zeros((7, 2))), float)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_everywhere(dtype: type) -> None:
    net = MLP([2, 3, 1], seed=0, dtype=dtype)
    trace = net.forward(np.ones((4, 2)))  # float64 input is cast
    grads = net.backward(trace, np.ones((4, 1)))
    for arr in [*net.weights, *net.biases, *trace.zs, *trace.activations, *grads.weights, *grads.biases,
                *grads.deltas, net.predict(np.ones((4, 2)))]:
        assert arr.dtype == dtype


def test_float32_is_the_default() -> None:
    assert MLP([2, 1]).dtype == np.float32
    with pytest.raises(ValueError, match="float32 or float64"):
        MLP([2, 1], dtype=np.float16)


def test_predict_equals_the_forward_output() -> None:
    net = MLP([2, 4, 3], "relu", "softmax", "cross_entropy", seed=2, dtype=np.float64)
    X = np.random.default_rng(0).normal(size=(6, 2))
    np.testing.assert_array_equal(net.predict(X), net.forward(X).output)


def test_same_seed_same_parameters_different_seed_different() -> None:
    a, b, c = (MLP([2, 4, 1], seed=s) for s in (7, 7, 8))
    for p, q in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
        assert np.array_equal(p, q)
    assert not np.array_equal(a.weights[0], c.weights[0])


def test_initialisations() -> None:
    # Xavier/Glorot uniform for tanh/sigmoid: |w| ≤ √(6 / (n_in + n_out)), biases 0
    net = MLP([200, 100, 1], "tanh", seed=0, dtype=np.float64)
    limit = np.sqrt(6 / 300)
    assert np.abs(net.weights[0]).max() <= limit and np.abs(net.weights[0]).max() > 0.95 * limit
    assert net.weights[0].std() == pytest.approx(limit / np.sqrt(3), rel=0.05)
    assert not net.biases[0].any()
    # He for ReLU: N(0, 2 / n_in)
    net = MLP([400, 200, 1], "relu", seed=0, dtype=np.float64)
    assert net.weights[0].std() == pytest.approx(np.sqrt(2 / 400), rel=0.05)
    assert abs(net.weights[0].mean()) < 0.01
    assert net.init == "auto"
    # Playground's uniform: weights in [−0.5, 0.5], biases 0.1
    net = MLP([50, 40, 1], seed=0, init="uniform")
    assert -0.5 <= net.weights[0].min() < -0.45 and 0.45 < net.weights[0].max() <= 0.5
    assert np.all(net.biases[0] == np.float32(0.1))
    # explicit choices override auto
    he_tanh = MLP([400, 200, 1], "tanh", seed=0, init="he", dtype=np.float64)
    assert he_tanh.weights[0].std() == pytest.approx(np.sqrt(2 / 400), rel=0.05)


def test_activation_may_be_a_list_per_hidden_layer() -> None:
    net = MLP([2, 3, 3, 1], ["relu", "sigmoid"], "linear", seed=0)
    assert [a.name for a in net.layer_activations] == ["relu", "sigmoid", "linear"]
    with pytest.raises(ValueError, match="2 hidden layers"):
        MLP([2, 3, 3, 1], ["relu"], "linear")


def _valid_list(message: str) -> set[str]:
    return {v.strip() for v in message.rsplit(":", 1)[1].split(",")}


@pytest.mark.parametrize(
    ("kwargs", "words", "valid"),
    [
        (dict(output_activation="softmax", cost="quadratic"), ["quadratic", "softmax"],
         {"sigmoid", "tanh", "relu", "leaky_relu", "linear"}),
        (dict(output_activation="tanh", cost="cross_entropy"), ["cross_entropy", "tanh"], {"softmax"}),
        (dict(output_activation="softmax", cost="binary_cross_entropy"), ["binary_cross_entropy"], {"sigmoid"}),
        (dict(output_activation="relu", cost="binary_cross_entropy"), ["relu"], {"sigmoid"}),
        (dict(activation="softmax"), ["activation", "softmax"],
         {"sigmoid", "tanh", "relu", "leaky_relu", "linear"}),
        (dict(activation="swish"), ["swish"], {"sigmoid", "tanh", "relu", "leaky_relu", "linear"}),
        (dict(output_activation="gelu"), ["gelu"],
         {"sigmoid", "tanh", "relu", "leaky_relu", "linear", "softmax"}),
        (dict(cost="hinge"), ["hinge"], {"quadratic", "cross_entropy", "binary_cross_entropy"}),
        (dict(init="zeros"), ["zeros"], {"auto", "xavier", "he", "uniform"}),
        (dict(regularization="l3"), ["l3"], {"none", "l1", "l2"}),
    ],
)
def test_invalid_names_and_combinations_name_the_valid_ones(kwargs: dict[str, str], words: list[str],
                                                            valid: set[str]) -> None:
    with pytest.raises(ValueError) as info:
        MLP([2, 3, 2], **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    for w in words:
        assert w in message
    assert _valid_list(message) == valid


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(sizes=[2]), "at least 2 layers"),
        (dict(sizes=[2, 0, 1]), "at least 2 layers"),
        (dict(sizes=[2, 1], regularization="l2", regularization_rate=-1.0), "regularization_rate"),
        (dict(sizes=[2, 1], regularization="l2", regularization_rate=float("nan")), "regularization_rate"),
    ],
)
def test_invalid_sizes_and_rates(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MLP(**kwargs)  # type: ignore[arg-type]


def test_every_valid_combination_builds() -> None:
    for cost in costs.COSTS:
        for out in costs.valid_outputs(cost):
            for hidden in acts.HIDDEN_NAMES:
                net = MLP([2, 3, 2], hidden, out, cost, seed=0)
                assert np.isfinite(net.cost(net.forward(np.ones((2, 2))), np.full((2, 2), 0.5)))


@pytest.mark.parametrize("name", acts.HIDDEN_NAMES)
def test_each_activation_pair_matches_its_derivative(name: str) -> None:
    """σ'(z) (given z and a = σ(z)) against central differences of σ, away from the kink at 0."""
    act = acts.get(name)
    z = np.concatenate([np.linspace(-6, -0.01, 50), np.linspace(0.01, 6, 50)])
    eps = 1e-6
    numeric = (act.fn(z + eps) - act.fn(z - eps)) / (2 * eps)
    assert act.prime is not None
    np.testing.assert_allclose(act.prime(z, act.fn(z)), numeric, rtol=1e-7, atol=1e-9)


def test_activation_values() -> None:
    z = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(acts.get("sigmoid").fn(z), 1 / (1 + np.exp(-z)), rtol=1e-15)
    np.testing.assert_array_equal(acts.get("relu").fn(z), [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(acts.get("leaky_relu").fn(z), [-0.02, 0.0, 3.0])
    np.testing.assert_array_equal(acts.get("linear").fn(z), z)
    # the sigmoid never overflows
    with np.errstate(all="raise"):
        assert acts.get("sigmoid").fn(np.array([-1000.0, 1000.0])).tolist() == [0.0, 1.0]
    soft = acts.get("softmax", output=True)
    out = soft.fn(np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, 0.0]]))
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    np.testing.assert_allclose(out[1], [0.5, 0.5, 0.0])
    assert soft.prime is None
    with pytest.raises(ValueError, match=r"unknown activation 'softmax' \(an output activation only\)"):
        acts.get("softmax")


def test_cost_values() -> None:
    """Each C against its textbook formula in aᴸ; the cross-entropies are given the logits zᴸ whose output
    is aᴸ (softmax: z = ln a; sigmoid: z = ln(a / (1 − a)))."""
    a = np.array([[0.2, 0.8], [0.6, 0.4]])
    y = np.array([[0.0, 1.0], [1.0, 0.0]])
    z_unused = np.full_like(a, np.nan)  # the quadratic cost reads aᴸ only
    assert costs.get("quadratic").fn(z_unused, a, y) == pytest.approx(
        (0.5 * (0.04 + 0.04) + 0.5 * (0.16 + 0.16)) / 2)
    assert costs.get("cross_entropy").fn(np.log(a), a, y) == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)
    assert costs.get("binary_cross_entropy").fn(np.log(a / (1 - a)), a, y) == pytest.approx(
        -(np.log(0.8) + np.log(0.8) + np.log(0.6) + np.log(0.6)) / 2)


def test_penalty_and_regularised_cost() -> None:
    net = MLP([2, 2, 1], seed=0, dtype=np.float64, regularization="l2", regularization_rate=0.5)
    ws = np.concatenate([w.ravel() for w in net.weights])
    assert net.penalty() == pytest.approx(0.5 * 0.5 * float(ws @ ws))
    net.regularization = "l1"
    assert net.penalty() == pytest.approx(0.5 * float(np.abs(ws).sum()))
    net.regularization_rate = 0.0
    assert net.penalty() == 0.0
    assert MLP([2, 1]).penalty() == 0.0


def test_copy_is_independent() -> None:
    net = MLP([2, 3, 1], seed=0)
    other = net.copy()
    other.weights[0][0, 0] += 1
    other.biases[1][0] += 1
    assert net.weights[0][0, 0] != other.weights[0][0, 0]
    assert net.biases[1][0] != other.biases[1][0]
    assert other.sizes == net.sizes and other.cost_fn is net.cost_fn


def test_messages_are_readable() -> None:
    with pytest.raises(ValueError, match=re.escape("cost 'quadratic' cannot be used with output activation "
                                                   "'softmax'")):
        MLP([2, 2], output_activation="softmax", cost="quadratic")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", acts.OUTPUT_NAMES)
def test_activation_into_is_fn_bit_for_bit(name: str, dtype: type) -> None:
    """``apply(z, out)`` — into another array or in place into z itself — equals ``fn(z)`` exactly."""
    act = acts.get(name, output=True)
    z = np.random.default_rng(0).normal(0, 5, (50, 4)).astype(dtype)
    z[0] = [0.0, -0.0, np.inf, -np.inf]
    z[1, 0] = np.nan
    with np.errstate(invalid="ignore"):  # softmax of a row holding ±inf is NaN, either way
        expected = act.fn(z.copy())
        other = np.empty_like(z)
        np.testing.assert_array_equal(act.apply(z, other), expected)
        assert act.apply(z, None) is not z or name == "linear"
        same = z.copy()
        result = act.apply(same, same)
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_array_equal(np.signbit(result), np.signbit(expected))
    assert result.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_into_a_workspace_is_the_same_forward(dtype: type) -> None:
    X1, X2 = np.random.default_rng(1).normal(size=(2, 9, 3))
    for hidden in acts.HIDDEN_NAMES:
        net = MLP([3, 5, 4, 3], hidden, "softmax", "cross_entropy", seed=0, dtype=dtype)
        workspace = net.forward(X1)
        again = net.forward(X2, out=workspace)
        assert again is workspace
        fresh = net.forward(X2)
        for a, b in zip(fresh.zs + fresh.activations, again.zs + again.activations, strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)
