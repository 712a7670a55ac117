"""A fully connected network: the seed's forward pass and backpropagation, exactly.

Notation follows the seed. Layers are numbered l = 1 … L (L is the output layer); layer 0 is the input.
For a batch of n examples, one row per example (the seed's matrix convention):

    zˡ = a^{l−1} Wˡ + bˡ        aˡ = σ(zˡ)                      a⁰ = X

Shapes: X (n, n_0); Wˡ (n_{l−1}, n_l); bˡ (n_l,); zˡ, aˡ, δˡ (n, n_l). Wˡ[j, k] is the weight from neuron j
of layer l−1 to neuron k of layer l.

Python lists are 0-based, so ``weights[l - 1]`` is Wˡ, ``zs[l - 1]`` is zˡ, ``deltas[l - 1]`` is δˡ and
``activations[l]`` is aˡ (``activations[0]`` is the input X).

Backpropagation (``MLP.backward``), every equation in this row convention (δˡ a row like zˡ):

    δᴸ = ∇ₐC ⊙ σ'(zᴸ)  = (aᴸ − y) ⊙ σ'(zᴸ) for the quadratic cost          (seed, eqs. 3–4)
    δˡ = (δ^{l+1} (W^{l+1})ᵀ) ⊙ σ'(zˡ)                                       (seed, eq. 5)
    ∂C/∂Wˡ = (1/n) Σₓ a^{l−1}(x)ᵀ δˡ(x)  [+ λ sign(Wˡ) with L1, + λ Wˡ with L2]     (seed, eq. 1)
    ∂C/∂bˡ = (1/n) Σₓ δˡ(x)                                                   (seed, eq. 1)
    ∂Cₓ/∂Wˡ[j, k] = a_j^{l−1}(x) δ_k^l(x)                                     one edge, one example

The seed writes column vectors, zˡ = wˡ a^{l−1} + bˡ with wˡ of shape (n_l, n_{l−1}) — its wˡ is our
(Wˡ)ᵀ — so it prints δˡ = ((w^{l+1})ᵀ δ^{l+1}) ⊙ σ'(zˡ); the two forms are the same numbers. The seed also
prints σ'(zᴸ) in the hidden-layer formula; that is a typo — it is σ'(zˡ) of the layer itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import activations as _acts
from . import costs as _costs
from .terms import Term, table

Array = np.ndarray
Regularization = str | None  # a name in REGULARIZATIONS, or None
DTYPES = ("float32", "float64")
INITS = table(
    Term("auto", "Auto", "each layer gets its activation's default init (Xavier or He)"),
    Term("xavier", "Xavier (Glorot)", "Wˡ ~ U(±√(6 / (n_{l−1} + n_l))), bˡ = 0"),
    Term("he", "He", "Wˡ ~ N(0, 2 / n_{l−1}), bˡ = 0"),
    Term("uniform", "Uniform (Playground)", "Wˡ ~ U(−0.5, 0.5), bˡ = 0.1"),
)
REGULARIZATIONS = table(
    Term("l1", "L1", "C + λ Σ |w|", "+ λ sign(Wˡ)"),
    Term("l2", "L2", "C + λ ½ Σ w²", "+ λ Wˡ"),
)


@dataclass(frozen=True, slots=True)
class Trace:
    """What the forward pass computed.

    zs[l-1] = zˡ (n, n_l) for l = 1 … L; activations[l] = aˡ (n, n_l), activations[0] = X (n, n_0).
    """

    zs: list[Array]
    activations: list[Array]

    @property
    def output(self) -> Array:
        """aᴸ, the network's output (n, n_L)."""
        return self.activations[-1]


@dataclass(frozen=True, slots=True)
class Gradients:
    """∂C/∂Wˡ and ∂C/∂bˡ averaged over the batch (shapes of the parameters) and the per-example δˡ (n, n_l)."""

    weights: list[Array]
    biases: list[Array]
    deltas: list[Array]


class MLP:
    """A multilayer perceptron.

    Args:
        sizes: neurons per layer, input first, output last, e.g. [2, 4, 2, 1].
        activation: σ of the hidden layers — one name, or a list with one name per hidden layer.
        output_activation: σ of the output layer (``softmax`` only with ``cross_entropy``).
        cost: ``quadratic``, ``cross_entropy`` (softmax output) or ``binary_cross_entropy`` (sigmoid output).
        init: ``auto`` (each activation's ``default_init``: Xavier/Glorot for tanh, sigmoid and linear; He
            for ReLU), ``xavier``, ``he`` or ``uniform`` (Playground's: weights uniform in [−0.5, 0.5],
            biases 0.1); see ``INITS``.
        seed: makes the initial parameters deterministic.
        dtype: float32 (default, fast) or float64 (for gradient checks).
        regularization: None, ``l1`` or ``l2``; adds λ Σ|w| or λ ½ Σ w² over the weights (not the biases)
            to the cost, so λ sign(W) or λ W to ∂C/∂W.
        regularization_rate: λ ≥ 0.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | Sequence[str] = "tanh",
        output_activation: str = "tanh",
        cost: str = "quadratic",
        *,
        init: str = "auto",
        seed: int = 0,
        dtype: type | np.dtype = np.float32,
        regularization: Regularization = None,
        regularization_rate: float = 0.0,
    ) -> None:
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise ValueError(f"sizes must list at least 2 layers of ≥ 1 neuron each, got {sizes}")
        n_hidden = len(sizes) - 2
        names = [activation] * n_hidden if isinstance(activation, str) else list(activation)
        if len(names) != n_hidden:
            raise ValueError(f"activation lists {len(names)} names for {n_hidden} hidden layers")
        self.hidden_activations = [_acts.get(a) for a in names]
        self.output_activation = _acts.get(output_activation, output=True)
        _costs.validate(cost, output_activation)
        self.cost_fn = _costs.get(cost)
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; valid: {', '.join(INITS)}")
        if regularization is not None and regularization not in REGULARIZATIONS:
            valid = ", ".join(["none", *REGULARIZATIONS])
            raise ValueError(f"unknown regularization {regularization!r}; valid: {valid}")
        if not np.isfinite(regularization_rate) or regularization_rate < 0:
            raise ValueError(f"regularization_rate must be a finite number ≥ 0, got {regularization_rate}")
        self.sizes = sizes
        self.dtype = np.dtype(dtype)
        if self.dtype.name not in DTYPES:
            raise ValueError(f"dtype must be {' or '.join(DTYPES)}, got {self.dtype}")
        self.regularization: Regularization = regularization
        self.regularization_rate = float(regularization_rate)
        self.init = init
        self.layer_activations = [*self.hidden_activations, self.output_activation]
        rng = np.random.default_rng(seed)
        self.weights: list[Array] = []
        self.biases: list[Array] = []
        for n_in, n_out, act in zip(sizes[:-1], sizes[1:], self.layer_activations, strict=True):
            w, b = _initial(rng, act.default_init if init == "auto" else init, n_in, n_out)
            self.weights.append(w.astype(self.dtype))
            self.biases.append(b.astype(self.dtype))

    @property
    def n_params(self) -> int:
        """Number of weights and biases."""
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases, strict=True))

    def forward(self, X: Array, out: Trace | None = None) -> Trace:
        """zˡ = a^{l−1} Wˡ + bˡ and aˡ = σ(zˡ) for every layer. X: (n, n_0).

        ``out``: a Trace returned by an earlier call on as many rows, reused as the workspace — its arrays
        are overwritten and it is returned (the numbers are the same as without it, bit for bit). The
        Trainer passes one to avoid allocating fresh big arrays every epoch.
        """
        a = np.asarray(X, dtype=self.dtype)
        # (the three lists always have one entry per layer: strict=False only saves time on small batches)
        layers = zip(self.weights, self.biases, self.layer_activations, strict=False)
        if out is not None:
            zs, acts = out.zs, out.activations
            acts[0] = a
            for i, (W, b, act) in enumerate(layers):
                z = np.matmul(a, W, out=zs[i])
                z += b
                a = acts[i + 1] = act.apply(z, acts[i + 1])
            return out
        zs = []
        acts = [a]
        for W, b, act in layers:
            z = a @ W
            z += b
            a = act.fn(z)
            zs.append(z)
            acts.append(a)
        return Trace(zs, acts)

    def predict(self, X: Array) -> Array:
        """aᴸ for X (n, n_0) → (n, n_L), keeping no intermediate arrays."""
        a = np.asarray(X, dtype=self.dtype)
        for W, b, act in zip(self.weights, self.biases, self.layer_activations, strict=True):
            z = a @ W
            z += b
            a = act.fn(z)
        return a

    def cost(self, trace: Trace, Y: Array) -> float:
        """C = (1/n) Σₓ Cₓ for the traced batch against targets Y (n, n_L), plus the regularisation term."""
        c = self.cost_fn.fn(trace.zs[-1], trace.output, np.asarray(Y, dtype=self.dtype))
        return c + self.penalty()

    def penalty(self) -> float:
        """λ Σ|w| (L1) or λ ½ Σ w² (L2) over all weights; 0 without regularisation."""
        lam = self.regularization_rate
        if self.regularization is None or lam == 0:
            return 0.0
        if self.regularization == "l1":
            return lam * float(sum(np.abs(w).sum() for w in self.weights))
        return lam * 0.5 * float(sum(np.einsum("ij,ij->", w, w) for w in self.weights))

    def penalty_gradients(self) -> list[Array] | None:
        """What the penalty adds to ∂C/∂Wˡ, per layer: λ sign(Wˡ) (L1) or λ Wˡ (L2); None without one."""
        lam = self.regularization_rate
        if self.regularization is None or lam <= 0:
            return None
        return [lam * (np.sign(w) if self.regularization == "l1" else w) for w in self.weights]

    def backward(self, trace: Trace, Y: Array, *, scale: float | None = None, penalty: bool = True) -> Gradients:
        """Backpropagation: δˡ for every layer and the batch-averaged ∂C/∂Wˡ, ∂C/∂bˡ. Y: (n, n_L).

        ``scale``: with a number s every gradient comes out multiplied by s — s (1/n) is folded into δᴸ
        once, so no layer needs its own averaging, and the deltas come out scaled too. The Trainer passes
        s = η: the update's own step η ∂C/∂W in fewer operations (``optimizers.*.apply``).
        ``penalty=False`` leaves out the regularisation term: ∂C/∂Wˡ is then the data term (1/n) Σₓ
        a^{l−1}(x)ᵀ δˡ(x) alone — for one example, ∂Cₓ/∂Wˡ.
        """
        acts, zs, weights = trace.activations, trace.zs, self.weights
        n = acts[0].shape[0]
        L = len(weights)
        # δᴸ = ∇ₐC ⊙ σ'(zᴸ): each cost gives its own closed form (costs.py).
        delta = self.cost_fn.delta(zs[-1], acts[-1], np.asarray(Y, dtype=self.dtype), self.output_activation)
        average: float | None = 1.0 / n
        if scale is not None:
            delta *= scale / n  # every δˡ below, hence every gradient, carries the factor s/n
            average = None
        deltas: list[Array] = [delta] * L
        gw: list[Array] = [delta] * L
        gb: list[Array] = [delta] * L
        for i in range(L - 1, -1, -1):  # i = l − 1
            deltas[i] = delta
            # ∂C/∂Wˡ = (1/n) Σₓ a^{l−1}(x)ᵀ δˡ(x): with one row per example the sum is one matrix product.
            g, b = acts[i].T @ delta, delta.sum(axis=0)  # ∂C/∂bˡ = (1/n) Σₓ δˡ(x)
            if average is not None:
                g *= average
                b *= average
            gw[i], gb[i] = g, b
            if i > 0:
                # δˡ = (δ^{l+1} (W^{l+1})ᵀ) ⊙ σ'(zˡ), one row per example, W^{l+1} of shape (n_l, n_{l+1}).
                # (The seed's column form ((w^{l+1})ᵀ δ^{l+1}) ⊙ σ'(zˡ), with its w = our Wᵀ, is the same.)
                delta = delta @ weights[i].T
                self.hidden_activations[i - 1].times_prime(delta, zs[i - 1], acts[i])
        extra = self.penalty_gradients() if penalty else None
        if extra is not None:
            # the penalty's own gradient (REGULARIZATIONS): ∂C/∂Wˡ += λ sign(Wˡ) (L1) or λ Wˡ (L2), times s
            factor = 1.0 if scale is None else scale
            gw = [g + (p if scale is None else factor * p) for g, p in zip(gw, extra, strict=True)]
        return Gradients(gw, gb, deltas)

    def copy(self, dtype: type | np.dtype | None = None) -> MLP:
        """An independent copy (same architecture, copied parameters), in ``dtype`` when given — e.g. a
        float64 copy of a float32 network for a gradient check."""
        other = object.__new__(MLP)
        other.__dict__.update(self.__dict__)
        if dtype is not None:
            other.dtype = np.dtype(dtype)
            if other.dtype.name not in DTYPES:
                raise ValueError(f"dtype must be {' or '.join(DTYPES)}, got {other.dtype}")
        other.weights = [w.astype(other.dtype) for w in self.weights]
        other.biases = [b.astype(other.dtype) for b in self.biases]
        return other


def _initial(rng: np.random.Generator, init: str, n_in: int, n_out: int) -> tuple[Array, Array]:
    """Initial (Wˡ, bˡ) of shapes (n_in, n_out), (n_out,), always in float64 (cast by the caller); ``init``
    is one of INITS other than auto."""
    if init == "uniform":  # Playground's
        return rng.uniform(-0.5, 0.5, (n_in, n_out)), np.full(n_out, 0.1)
    if init == "he":  # He et al. 2015: N(0, 2/fan_in)
        return rng.normal(0.0, np.sqrt(2.0 / n_in), (n_in, n_out)), np.zeros(n_out)
    # Glorot & Bengio 2010, uniform: U(±√(6/(fan_in + fan_out)))
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, (n_in, n_out)), np.zeros(n_out)
