"""Real data nobody here wrote — scikit-learn's wine, breast-cancer and iris tables (tests/data/SOURCE.md) —
learns with the page's defaults once standardised; a raw file whose first line is not a header is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from backprop_core import MLP, Trainer, costs, datasets, output_layer_size, prepare
from backprop_core.csvdata import CSVError
from backprop_core.datasets import Dataset
from backprop_core.vocabulary import auto_output_activation

DATA = Path(__file__).resolve().parents[1] / "data"
FILES = {"wine": (178, 13, 3), "breast_cancer": (569, 30, 2), "iris": (150, 4, 3)}


def load(name: str, seed: int = 0) -> Dataset:
    return datasets.load_csv((DATA / f"{name}.csv").read_bytes(), "target", seed=seed, name=name)


def page_defaults(ds: Dataset, seed: int, max_epochs: int) -> Trainer:
    """static/js/state.js DEFAULT_CONFIG: [4, 2] tanh, η = 0.03, batch 10, uniform init, output and cost
    chosen by the server's rule (tanh + quadratic for two classes, softmax + cross-entropy for more)."""
    out = auto_output_activation(ds.task, ds.n_classes)
    net = MLP([ds.input_dim, 4, 2, output_layer_size(ds, out)], "tanh", out, costs.default_for(out),
              init="uniform", seed=seed)
    return Trainer(net, ds, learning_rate=0.03, batch_size=10, seed=seed, max_epochs=max_epochs, snapshots=False)


@pytest.mark.parametrize("name", list(FILES))
def test_the_fixtures_are_the_files_described(name: str) -> None:
    rows, columns, classes = FILES[name]
    ds = load(name)
    assert ds.n_train + ds.n_test == rows and ds.input_dim == columns and ds.n_classes == classes


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", list(FILES))
def test_standardised_real_data_reaches_95_percent_within_500_epochs(name: str, seed: int) -> None:
    ds = prepare(load(name, seed))
    assert ds.standardized
    trainer = page_defaults(ds, seed, max_epochs=500)
    first = next((s for s in trainer.run() if s.accuracy is not None and s.accuracy >= 0.95), None)
    assert first is not None, f"{name}: test accuracy stayed below 95 % for 500 epochs"


@pytest.mark.parametrize("name", ["wine", "breast_cancer"])
def test_unstandardised_they_stay_at_chance(name: str) -> None:
    """Why standardisation is the default: raw, these columns span 0.01 … 2 500 and tanh saturates."""
    trainer = page_defaults(load(name), 0, max_epochs=100)
    best = max(s.accuracy or 0.0 for s in trainer.run())
    assert best < 0.7


def test_a_header_row_of_numbers_is_refused_saying_so() -> None:
    """scikit-learn's raw iris.csv begins with its counts and class names; read as a header it would
    make features named "150" and "4"."""
    text = (DATA / "iris.csv").read_text()
    raw = "150,4,setosa,versicolor,virginica\n" + text.split("\n", 1)[1]
    with pytest.raises(CSVError, match=r"line 1: the header row holds numbers \(150, 4\) where column names") as e:
        datasets.load_csv(raw, "virginica")
    assert e.value.line == 1
    headerless = text.split("\n", 1)[1]  # no header at all: the first data row would name the columns
    with pytest.raises(CSVError, match=r"header row holds numbers \(5\.1, 3\.5, 1\.4, 0\.2, …\)"):
        datasets.load_csv(headerless, "0")


def test_numbered_columns_as_pandas_writes_them_are_names() -> None:
    ds = datasets.load_csv("0,1,2,label\n" + "".join(f"{i},{i % 3},{-i},{i % 2}\n" for i in range(12)), "label")
    assert ds.feature_names == ("0", "1", "2")
