"""Each of the seed's equations, computed by hand — plain loops over examples and neurons, scalar `math`,
no matrix operations — on tiny networks, and compared with backprop_core.

Indexing as in the core: W[l-1][k][j] is the weight from neuron k of layer l−1 to neuron j of layer l, so
z[l][x][j] = Σₖ a[l−1][x][k] · W[l-1][k][j] + b[l-1][j] (the seed's w_jk with the indices swapped, because
the core's Wˡ is (n_{l−1}, n_l), one row per input neuron).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from backprop_core import MLP
from backprop_core.optimizers import SGD, Momentum

Table = list[list[float]]  # [example][neuron]

SIGMA = {
    "sigmoid": (lambda z: 1.0 / (1.0 + math.exp(-z)), lambda z: math.exp(-z) / (1.0 + math.exp(-z)) ** 2),
    "tanh": (math.tanh, lambda z: 1.0 - math.tanh(z) ** 2),
    "relu": (lambda z: max(z, 0.0), lambda z: 1.0 if z > 0 else 0.0),
    "leaky_relu": (lambda z: z if z > 0 else 0.01 * z, lambda z: 1.0 if z > 0 else 0.01),
    "linear": (lambda z: z, lambda z: 1.0),
}


def tiny_net(sizes: list[int], hidden: str = "tanh", output: str = "sigmoid", cost: str = "quadratic",
             seed: int = 0) -> MLP:
    return MLP(sizes, hidden, output, cost, seed=seed, dtype=np.float64, init="uniform")


def data(n: int, n_in: int, n_out: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_in)), rng.uniform(0.0, 1.0, (n, n_out))


def W(net: MLP, l: int, k: int, j: int) -> float:
    """Wˡ[k][j] as a Python float."""
    return float(net.weights[l - 1][k, j])


def b(net: MLP, l: int, j: int) -> float:
    return float(net.biases[l - 1][j])


def names(net: MLP) -> list[str]:
    return [a.name for a in net.layer_activations]


def hand_forward(net: MLP, X: np.ndarray) -> tuple[list[Table], list[Table]]:
    """zs[l], acts[l] for l = 0 … L as nested lists (zs[0] unused), by loops."""
    sizes, acts_names = net.sizes, names(net)
    acts: list[Table] = [[[float(v) for v in row] for row in X]]
    zs: list[Table] = [[]]
    for l in range(1, len(sizes)):
        sigma = SIGMA[acts_names[l - 1]][0]
        z_l: Table = []
        a_l: Table = []
        for x in range(len(X)):
            z_row, a_row = [], []
            for j in range(sizes[l]):
                z = b(net, l, j)
                for k in range(sizes[l - 1]):
                    z += acts[l - 1][x][k] * W(net, l, k, j)
                z_row.append(z)
                a_row.append(sigma(z))
            z_l.append(z_row)
            a_l.append(a_row)
        zs.append(z_l)
        acts.append(a_l)
    return zs, acts


def hand_deltas(net: MLP, X: np.ndarray, Y: np.ndarray, *, misprint: bool = False) -> list[Table]:
    """δ[l][x][j] for l = 1 … L of the quadratic cost with elementwise outputs.

    δᴸⱼ = (aᴸⱼ − yⱼ) σ'(zᴸⱼ)                       (seed: δᴸ = (aᴸ − y) ⊙ σ'(zᴸ))
    δˡⱼ = (Σₖ Wˡ⁺¹[j][k] δˡ⁺¹ₖ) σ'(zˡⱼ)              (seed: δˡ = ((wˡ⁺¹)ᵀ δˡ⁺¹) ⊙ σ'(zˡ))
    With ``misprint`` the hidden layers use σ'(zᴸⱼ), as the seed prints it (needs n_l = n_L).
    """
    zs, acts = hand_forward(net, X)
    L = len(net.sizes) - 1
    primes = [SIGMA[name][1] for name in names(net)]
    deltas: list[Table] = [[] for _ in range(L + 1)]
    deltas[L] = [[(acts[L][x][j] - float(Y[x][j])) * primes[L - 1](zs[L][x][j]) for j in range(net.sizes[L])]
                 for x in range(len(X))]
    for l in range(L - 1, 0, -1):
        table: Table = []
        for x in range(len(X)):
            row = []
            for j in range(net.sizes[l]):
                back = 0.0
                for k in range(net.sizes[l + 1]):
                    back += W(net, l + 1, j, k) * deltas[l + 1][x][k]
                z = zs[L][x][j] if misprint else zs[l][x][j]
                row.append(back * (primes[L - 1](z) if misprint else primes[l - 1](z)))
            table.append(row)
        deltas[l] = table
    return deltas


def hand_gradients(net: MLP, X: np.ndarray, deltas: list[Table]) -> tuple[list[Table], list[list[float]]]:
    """∂C/∂Wˡ[k][j] = (1/n) Σₓ a^{l−1}ₖ(x) δˡⱼ(x) and ∂C/∂bˡⱼ = (1/n) Σₓ δˡⱼ(x) (seed's eq. for ∂C/∂w)."""
    _, acts = hand_forward(net, X)
    n = len(X)
    gw: list[Table] = []
    gb: list[list[float]] = []
    for l in range(1, len(net.sizes)):
        gw.append([[sum(acts[l - 1][x][k] * deltas[l][x][j] for x in range(n)) / n
                    for j in range(net.sizes[l])] for k in range(net.sizes[l - 1])])
        gb.append([sum(deltas[l][x][j] for x in range(n)) / n for j in range(net.sizes[l])])
    return gw, gb


def hand_quadratic_cost(net: MLP, X: np.ndarray, Y: np.ndarray) -> float:
    """C = (1/n) Σₓ ½ Σⱼ (aᴸⱼ(x) − yⱼ(x))²."""
    _, acts = hand_forward(net, X)
    total = 0.0
    for x in range(len(X)):
        for j in range(net.sizes[-1]):
            total += 0.5 * (acts[-1][x][j] - float(Y[x][j])) ** 2
    return total / len(X)


ARCHS = [
    ([2, 3, 2], "tanh", "sigmoid"),
    ([3, 4, 3, 2], "sigmoid", "tanh"),
    ([2, 3, 3, 1], "leaky_relu", "linear"),
    ([2, 2, 2], "relu", "sigmoid"),
]


@pytest.mark.parametrize(("sizes", "hidden", "output"), ARCHS)
def test_forward_z_and_a(sizes: list[int], hidden: str, output: str) -> None:
    """zˡ = a^{l−1} Wˡ + bˡ, aˡ = σ(zˡ), a⁰ = x."""
    net = tiny_net(sizes, hidden, output)
    X, _ = data(3, sizes[0], sizes[-1])
    trace = net.forward(X)
    zs, acts = hand_forward(net, X)
    assert len(trace.zs) == len(sizes) - 1 and len(trace.activations) == len(sizes)
    np.testing.assert_array_equal(trace.activations[0], X)
    for l in range(1, len(sizes)):
        np.testing.assert_allclose(trace.zs[l - 1], zs[l], rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(trace.activations[l], acts[l], rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(trace.output, trace.activations[-1])


@pytest.mark.parametrize(("sizes", "hidden", "output"), ARCHS)
def test_quadratic_cost_has_the_half(sizes: list[int], hidden: str, output: str) -> None:
    """C = (1/n) Σₓ ½‖aᴸ(x) − y(x)‖² (the ½ the seed mentions, so that ∇ₐC = aᴸ − y)."""
    net = tiny_net(sizes, hidden, output)
    X, Y = data(4, sizes[0], sizes[-1])
    assert net.cost(net.forward(X), Y) == pytest.approx(hand_quadratic_cost(net, X, Y), rel=1e-13)


@pytest.mark.parametrize(("sizes", "hidden", "output"), ARCHS)
def test_output_delta(sizes: list[int], hidden: str, output: str) -> None:
    """δᴸ = (aᴸ − y) ⊙ σ'(zᴸ), one row per example (per-example δ of Cₓ: no 1/n)."""
    net = tiny_net(sizes, hidden, output)
    X, Y = data(3, sizes[0], sizes[-1])
    grads = net.backward(net.forward(X), Y)
    np.testing.assert_allclose(grads.deltas[-1], hand_deltas(net, X, Y)[-1], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("sizes", "hidden", "output"), ARCHS)
def test_hidden_deltas(sizes: list[int], hidden: str, output: str) -> None:
    """δˡ = ((Wˡ⁺¹)ᵀ δˡ⁺¹) ⊙ σ'(zˡ) for every hidden layer (row form δˡ⁺¹ (Wˡ⁺¹)ᵀ in the core)."""
    net = tiny_net(sizes, hidden, output)
    X, Y = data(3, sizes[0], sizes[-1])
    grads = net.backward(net.forward(X), Y)
    hand = hand_deltas(net, X, Y)
    for l in range(1, len(sizes) - 1):
        np.testing.assert_allclose(grads.deltas[l - 1], hand[l], rtol=1e-12, atol=1e-15)


def test_the_seeds_misprint_would_give_a_different_delta() -> None:
    """The seed prints σ'(zᴸ) in the hidden-layer formula. On a net whose hidden layer is as wide as the
    output (so the misprint is computable), it differs from the core's δ¹, and finite differences side
    with the core (σ'(zˡ))."""
    net = tiny_net([2, 3, 3], "tanh", "sigmoid")
    X, Y = data(2, 2, 3)
    trace = net.forward(X)
    grads = net.backward(trace, Y)
    right = np.array(hand_deltas(net, X, Y)[1])
    wrong = np.array(hand_deltas(net, X, Y, misprint=True)[1])
    np.testing.assert_allclose(grads.deltas[0], right, rtol=1e-12)
    assert np.abs(wrong - right).max() > 1e-2
    assert not np.allclose(grads.deltas[0], wrong, rtol=1e-3)
    # ∂C₀/∂z¹₀ of example 0 by central differences, through the rest of the net
    eps = 1e-6
    costs = []
    for s in (1, -1):
        z = trace.zs[0][:1].copy()
        z[0, 0] += s * eps
        z2 = np.tanh(z) @ net.weights[1] + net.biases[1]
        costs.append(net.cost_fn.fn(z2, net.output_activation.fn(z2), Y[:1]))
    numeric = (costs[0] - costs[1]) / (2 * eps)
    assert numeric == pytest.approx(right[0, 0], rel=1e-7)
    assert numeric != pytest.approx(wrong[0, 0], rel=1e-3)


@pytest.mark.parametrize(("sizes", "hidden", "output"), ARCHS)
def test_weight_and_bias_gradients(sizes: list[int], hidden: str, output: str) -> None:
    """∂C/∂Wˡ = (1/n) Σₓ a^{l−1}(x)ᵀ δˡ(x) and ∂C/∂bˡ = (1/n) Σₓ δˡ(x) — the batch average."""
    net = tiny_net(sizes, hidden, output)
    X, Y = data(5, sizes[0], sizes[-1])
    grads = net.backward(net.forward(X), Y)
    gw, gb = hand_gradients(net, X, hand_deltas(net, X, Y))
    for l in range(len(sizes) - 1):
        assert grads.weights[l].shape == net.weights[l].shape
        assert grads.biases[l].shape == net.biases[l].shape
        np.testing.assert_allclose(grads.weights[l], gw[l], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(grads.biases[l], gb[l], rtol=1e-12, atol=1e-15)


def test_gradient_of_the_batch_is_the_mean_of_per_example_gradients() -> None:
    """The seed's ∂C/∂w = (1/n) Σₖ ∂Cₖ/∂w: backward on the batch equals the mean of backward on each
    example alone."""
    net = tiny_net([2, 3, 2], "tanh", "sigmoid")
    X, Y = data(4, 2, 2)
    batch = net.backward(net.forward(X), Y)
    alone = [net.backward(net.forward(X[i:i + 1]), Y[i:i + 1]) for i in range(4)]
    for l in range(2):
        np.testing.assert_allclose(batch.weights[l], np.mean([g.weights[l] for g in alone], axis=0), rtol=1e-12)
        np.testing.assert_allclose(batch.biases[l], np.mean([g.biases[l] for g in alone], axis=0), rtol=1e-12)


def test_softmax_cross_entropy_output_delta_is_a_minus_y() -> None:
    """Cross-entropy with softmax: Cₓ = −Σⱼ yⱼ ln aⱼ and δᴸ = aᴸ − y, by hand."""
    net = tiny_net([2, 3, 3], "tanh", "softmax", "cross_entropy")
    X, _ = data(3, 2, 3)
    Y = np.eye(3)[[0, 2, 1]]
    trace = net.forward(X)
    zs = hand_output_z(net, X)
    cost = 0.0
    for x in range(3):
        m = max(zs[x])
        exps = [math.exp(v - m) for v in zs[x]]
        a = [e / sum(exps) for e in exps]
        np.testing.assert_allclose(trace.output[x], a, rtol=1e-13)
        np.testing.assert_allclose(net.backward(trace, Y).deltas[-1][x], [a[j] - Y[x][j] for j in range(3)],
                                   rtol=1e-12, atol=1e-15)
        cost -= sum(float(Y[x][j]) * math.log(a[j]) for j in range(3))
    assert net.cost(trace, Y) == pytest.approx(cost / 3, rel=1e-13)


def hand_output_z(net: MLP, X: np.ndarray) -> Table:
    """zᴸ of a one-hidden-layer tanh net, by loops."""
    zs: Table = []
    for x in range(len(X)):
        hidden = [math.tanh(b(net, 1, j) + sum(float(X[x][k]) * W(net, 1, k, j) for k in range(net.sizes[0])))
                  for j in range(net.sizes[1])]
        zs.append([b(net, 2, j) + sum(hidden[k] * W(net, 2, k, j) for k in range(net.sizes[1]))
                   for j in range(net.sizes[2])])
    return zs


def test_binary_cross_entropy_output_delta_is_a_minus_y() -> None:
    """Binary cross-entropy with sigmoid: Cₓ = −Σⱼ [yⱼ ln aⱼ + (1 − yⱼ) ln(1 − aⱼ)], δᴸ = aᴸ − y."""
    net = tiny_net([2, 3, 2], "tanh", "sigmoid", "binary_cross_entropy")
    X, Y = data(3, 2, 2)
    trace = net.forward(X)
    _, acts = hand_forward(net, X)
    cost = 0.0
    for x in range(3):
        for j in range(2):
            a, y = acts[-1][x][j], float(Y[x][j])
            cost -= y * math.log(a) + (1 - y) * math.log(1 - a)
            assert net.backward(trace, Y).deltas[-1][x, j] == pytest.approx(a - y, rel=1e-12, abs=1e-15)
    assert net.cost(trace, Y) == pytest.approx(cost / 3, rel=1e-12)


def test_update_subtracts_exactly() -> None:
    """w ← w − η ∂C/∂w, bit for bit, and the cost goes down after one small step (the seed's "add" would
    climb)."""
    net = tiny_net([2, 3, 2], "tanh", "sigmoid")
    X, Y = data(6, 2, 2)
    trace = net.forward(X)
    grads = net.backward(trace, Y)
    before = net.cost(trace, Y)
    old_w, old_b = [w.copy() for w in net.weights], [v.copy() for v in net.biases]
    eta = 0.05
    SGD(eta).step(net, grads)
    for l in range(2):
        for k in range(net.sizes[l]):
            for j in range(net.sizes[l + 1]):
                assert net.weights[l][k, j] == old_w[l][k, j] - eta * grads.weights[l][k, j]
        for j in range(net.sizes[l + 1]):
            assert net.biases[l][j] == old_b[l][j] - eta * grads.biases[l][j]
    after = net.cost(net.forward(X), Y)
    assert after < before
    # the step lowers C by about η‖∇C‖² (first order)
    sq = sum(float((g * g).sum()) for g in grads.weights + grads.biases)
    assert before - after == pytest.approx(eta * sq, rel=0.05)
    # adding the gradient, as the seed says, raises it
    climb = net.copy()
    for p, q, g in zip(climb.weights + climb.biases, old_w + old_b, grads.weights + grads.biases, strict=True):
        p[...] = q + eta * g
    assert climb.cost(climb.forward(X), Y) > before


def test_momentum_by_hand() -> None:
    """v ← μ v − η ∂C/∂w, w ← w + v, over two steps."""
    net = tiny_net([2, 2, 1], "tanh", "tanh")
    X, Y = data(4, 2, 1)
    opt = Momentum(0.1, 0.9)
    w0 = float(net.weights[0][0, 0])
    g1 = float(net.backward(net.forward(X), Y).weights[0][0, 0])
    opt.step(net, net.backward(net.forward(X), Y))
    v1 = -0.1 * g1
    assert float(net.weights[0][0, 0]) == pytest.approx(w0 + v1, rel=1e-15)
    g2 = float(net.backward(net.forward(X), Y).weights[0][0, 0])
    opt.step(net, net.backward(net.forward(X), Y))
    assert float(net.weights[0][0, 0]) == pytest.approx(w0 + v1 + (0.9 * v1 - 0.1 * g2), rel=1e-14)


@pytest.mark.parametrize("reg", ["l1", "l2"])
def test_regularisation_terms_by_hand(reg: str) -> None:
    """L1: C + λ Σ|w|, ∂/∂w += λ sign(w); L2: C + λ ½ Σ w², ∂/∂w += λ w. Biases are not regularised."""
    lam = 0.1
    plain = tiny_net([2, 3, 2], "tanh", "sigmoid")
    net = MLP([2, 3, 2], "tanh", "sigmoid", "quadratic", seed=0, dtype=np.float64, init="uniform",
              regularization=reg, regularization_rate=lam)  # type: ignore[arg-type]
    X, Y = data(3, 2, 2)
    ws = [float(v) for w in net.weights for v in w.ravel()]
    penalty = lam * (sum(abs(v) for v in ws) if reg == "l1" else 0.5 * sum(v * v for v in ws))
    assert net.cost(net.forward(X), Y) == pytest.approx(plain.cost(plain.forward(X), Y) + penalty, rel=1e-13)
    g, g0 = net.backward(net.forward(X), Y), plain.backward(plain.forward(X), Y)
    for l in range(2):
        for k in range(net.sizes[l]):
            for j in range(net.sizes[l + 1]):
                w = float(net.weights[l][k, j])
                extra = lam * (math.copysign(1.0, w) if reg == "l1" else w)
                assert g.weights[l][k, j] == pytest.approx(g0.weights[l][k, j] + extra, rel=1e-13, abs=1e-15)
        np.testing.assert_array_equal(g.biases[l], g0.biases[l])
