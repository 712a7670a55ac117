"""The core's vocabulary: each table says what its entries are, and what it says is true of the code; the
catalog publishes the tables as they stand; every equation is written in the one declared convention."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from backprop_core import MLP, Trainer, activations, costs, datasets, inputs, network, optimizers, training
from backprop_core.activations import Activation
from backprop_core.vocabulary import EQUATIONS, auto_output_activation, catalog

ROOT = Path(__file__).resolve().parents[2]
Z = np.concatenate([np.linspace(-60, 60, 241), [-1e4, 1e4]])


@pytest.mark.parametrize("name", activations.output_names())
def test_each_activation_lies_in_its_declared_range(name: str) -> None:
    act = activations.get(name, output=True)
    z = np.stack([Z, Z[::-1], np.zeros_like(Z)], axis=1)  # softmax needs rows
    a = act.fn(z)
    low, high = act.range
    assert low <= a.min() and a.max() <= high
    assert low < high and act.label and act.formula and act.derivative
    negative, positive = act.targets
    assert low <= negative < positive <= high and act.threshold == (negative + positive) / 2


def test_targets_and_thresholds_are_the_one_rule() -> None:
    """Halfway between the targets: 0 for tanh, linear and leaky ReLU (targets ±1), ½ for sigmoid and
    ReLU (targets 0 and 1) — a single ReLU output is thresholded at ½, wherever it is read."""
    thresholds = {a.name: a.threshold for a in activations.ACTIVATIONS.values()}
    assert thresholds == {"sigmoid": 0.5, "tanh": 0.0, "relu": 0.5, "leaky_relu": 0.0, "linear": 0.0,
                          "softmax": 0.5}
    published = {a["name"]: (a["threshold"], a["targets"]) for a in catalog()["activations"]}
    assert published["relu"] == (0.5, [0.0, 1.0]) and published["tanh"] == (0.0, [-1.0, 1.0])


def test_relu_output_accuracy_uses_the_published_threshold() -> None:
    ds = datasets.load("circle", n_samples=200, seed=0)
    net = MLP([2, 6, 1], "tanh", "relu", seed=3, dtype=np.float64)
    snap = Trainer(net, ds, snapshots=False).snapshot()
    threshold = next(a["threshold"] for a in catalog()["activations"] if a["name"] == "relu")
    out = net.predict(ds.X_test)[:, 0]
    assert 0.0 < float(np.mean(out > 0)) and float(np.mean(out > threshold)) < 1.0
    assert snap.accuracy == pytest.approx(float(np.mean((out > threshold) == (ds.y_test == 1))))


@pytest.mark.parametrize("name", activations.hidden_names())
def test_auto_init_is_each_activations_default(name: str) -> None:
    act = activations.get(name)
    assert act.default_init in network.INITS and act.default_init != "auto"
    auto = MLP([5, 7, 3], name, "linear", init="auto", seed=4, dtype=np.float64)
    chosen = MLP([5, 7, 3], name, "linear", init=act.default_init, seed=4, dtype=np.float64)
    np.testing.assert_array_equal(auto.weights[0], chosen.weights[0])


def test_costs_name_their_outputs_and_their_default() -> None:
    assert costs.valid_outputs("quadratic") == activations.hidden_names()
    assert costs.default_for("softmax") == "cross_entropy"
    assert costs.default_for("sigmoid") == "binary_cross_entropy"
    assert costs.default_for("tanh") == costs.default_for("relu") == "quadratic"
    for out in activations.output_names():
        costs.validate(costs.default_for(out), out)  # the default is always a valid pair
    assert (auto_output_activation("regression", 0), auto_output_activation("classification", 2),
            auto_output_activation("classification", 10)) == ("linear", "tanh", "softmax")


def test_the_catalog_is_the_tables_as_json() -> None:
    c = json.loads(json.dumps(catalog(), allow_nan=False))  # JSON-safe: no NaN, no infinity
    assert [a["name"] for a in c["activations"]] == list(activations.ACTIVATIONS)
    assert [a["name"] for a in c["activations"] if a["hidden"]] == list(activations.hidden_names())
    assert next(a for a in c["activations"] if a["name"] == "relu")["range"] == [0.0, None]
    assert [x["name"] for x in c["costs"]] == list(costs.COSTS)
    assert next(x for x in c["costs"] if x["name"] == "binary_cross_entropy")["outputs"] == ["sigmoid"]
    assert [x["name"] for x in c["inits"]] == list(network.INITS)
    assert [x["name"] for x in c["optimizers"]] == list(optimizers.OPTIMIZERS)
    assert [(x["name"], x["gradient"]) for x in c["regularizations"]] == [("l1", "+ λ sign(Wˡ)"),
                                                                         ("l2", "+ λ Wˡ")]
    assert [x["name"] for x in c["features"]] == list(inputs.FEATURES) and c["default_features"] == ["x1", "x2"]
    assert c["dtypes"] == ["float32", "float64"]
    assert c["grid_size"] == training.GRID_SIZE == 40
    assert c["grad_subset"] == training.MAX_GRAD_SUBSET == 1024 and "1024" in c["grad_subset_note"]
    assert c["max_grid_neurons"] == training.MAX_GRID_NEURONS
    assert [d["name"] for d in c["datasets"]] == list(datasets.DATASETS)


def test_the_grid_size_default_is_the_published_one() -> None:
    t = Trainer(MLP([2, 1], seed=0), datasets.load("xor", n_samples=40, seed=0))
    assert t.grid_size == catalog()["grid_size"]


def test_a_new_activation_is_one_entry_in_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """softsign z / (1 + |z|), range (−1, 1): the network, the targets, the auto init and the catalog
    follow from its entry alone."""
    softsign = Activation("softsign", lambda z: z / (1 + np.abs(z)), lambda z, a: (1 - np.abs(a)) ** 2, None,
                          "Softsign", (-1.0, 1.0), "σ(z) = z / (1 + |z|)", "σ′(z) = 1 / (1 + |z|)²")
    monkeypatch.setitem(activations.ACTIVATIONS, "softsign", softsign)
    assert "softsign" in activations.hidden_names() and "softsign" in costs.valid_outputs("quadratic")
    entry = next(a for a in catalog()["activations"] if a["name"] == "softsign")
    assert entry["targets"] == [-1.0, 1.0] and entry["threshold"] == 0.0 and entry["default_init"] == "xavier"
    ds = datasets.load("gauss", n_samples=60, seed=0)
    net = MLP([2, 3, 1], "softsign", "softsign", seed=0, dtype=np.float64)
    snaps = list(Trainer(net, ds, learning_rate=0.1, max_epochs=20, snapshots=False).run())
    assert snaps[-1].accuracy is not None and snaps[-1].accuracy > 0.9


# -- one convention ------------------------------------------------------------------------------------------
COLUMN_FORM = re.compile(r"\(\s*W(ˡ⁺¹|\^\{l\+1\}|\^\(l\+1\))\s*\)ᵀ\s*δ")  # (Wˡ⁺¹)ᵀ δ…: the column form, our W


def texts_of(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in texts_of(v)]
    if isinstance(value, list):
        return [t for v in value for t in texts_of(v)]
    return []


def test_every_equation_is_in_the_row_convention() -> None:
    """With Wˡ of shape (n_{l−1}, n_l), δˡ = (δˡ⁺¹ (Wˡ⁺¹)ᵀ) ⊙ σ′(zˡ); the column form ((Wˡ⁺¹)ᵀ δˡ⁺¹) names
    the seed's w, never our W. Checked in the catalog, the core's docstrings and the README."""
    assert EQUATIONS["hidden_delta"] == "δˡ = (δˡ⁺¹ (Wˡ⁺¹)ᵀ) ⊙ σ′(zˡ)"
    assert EQUATIONS["forward"].startswith("zˡ = aˡ⁻¹ Wˡ + bˡ")
    for text in texts_of(catalog()):
        assert not COLUMN_FORM.search(text), text
    sources = [*(ROOT / "backprop_core").glob("*.py"), ROOT / "README.md"]
    for path in sources:
        for line in path.read_text().splitlines():
            assert not COLUMN_FORM.search(line), f"{path.name}: {line}"
    readme = (ROOT / "README.md").read_text()
    assert "+ λ sign(Wˡ)" in readme and "+ λ Wˡ" in readme  # the streamed ∂C/∂W includes the penalty
    assert "δˡ = (δˡ⁺¹ (Wˡ⁺¹)ᵀ) ⊙ σ'(zˡ)" in readme
