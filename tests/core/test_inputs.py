"""The network's inputs: Playground's seven features of a 2-D point, standardisation fitted on the training
split only, and the Trainer's input-plane grid going through the same map."""

from __future__ import annotations

import numpy as np
import pytest

from backprop_core import MLP, Trainer, datasets, prepare
from backprop_core.datasets import Dataset
from backprop_core.inputs import DEFAULT_FEATURES, FEATURES

ALL = ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)")


def by_hand(P: np.ndarray) -> np.ndarray:
    """Playground's seven inputs of raw points P (n, 2), written out."""
    x1, x2 = P[:, 0], P[:, 1]
    return np.column_stack([x1, x2, x1**2, x2**2, x1 * x2, np.sin(x1), np.sin(x2)])


@pytest.fixture(scope="module")
def spiral() -> Dataset:
    return datasets.load("spiral", noise=0.1, seed=3)


def test_the_seven_features_are_playgrounds_names_in_order() -> None:
    assert tuple(FEATURES) == ALL and DEFAULT_FEATURES == ("x1", "x2")


def test_features_are_computed_from_the_raw_point(spiral: Dataset) -> None:
    ds = prepare(spiral, ALL, standardize=False)
    assert ds.feature_names == ALL and ds.input_dim == 7 and not ds.standardized
    np.testing.assert_array_equal(ds.X_train, by_hand(spiral.X_train))
    np.testing.assert_array_equal(ds.X_test, by_hand(spiral.X_test))
    assert ds.raw is spiral and ds.raw.feature_names == ("x1", "x2")  # the points themselves are kept
    np.testing.assert_array_equal(ds.mean, np.zeros(7))
    np.testing.assert_array_equal(ds.scale, np.ones(7))
    some = prepare(spiral, ["sin(x2)", "x1"], standardize=False)  # any subset, in the order given
    np.testing.assert_array_equal(some.X_train, by_hand(spiral.X_train)[:, [6, 0]])


def test_standardisation_is_fitted_on_the_training_split_only(spiral: Dataset) -> None:
    ds = prepare(spiral, ALL)
    F_train, F_test = by_hand(spiral.X_train), by_hand(spiral.X_test)
    np.testing.assert_allclose(ds.mean, F_train.mean(axis=0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ds.scale, F_train.std(axis=0), rtol=1e-12)
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(ds.X_train.std(axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(ds.X_test, (F_test - ds.mean) / ds.scale, rtol=1e-12, atol=1e-15)
    assert np.abs(ds.X_test.mean(axis=0)).max() > 1e-3  # the test set was not fitted
    # changing the test split changes nothing that was fitted
    other = Dataset(spiral.name, spiral.task, spiral.X_train, spiral.y_train, spiral.X_test * 3, spiral.y_test,
                    spiral.n_classes, spiral.feature_names, spiral.class_names)
    again = prepare(other, ALL)
    np.testing.assert_array_equal(again.mean, ds.mean)
    np.testing.assert_array_equal(again.scale, ds.scale)
    np.testing.assert_array_equal(again.X_train, ds.X_train)


def test_the_default_standardises_the_raw_columns_and_the_switch_turns_it_off(spiral: Dataset) -> None:
    ds = prepare(spiral)
    assert ds.standardized and ds.feature_names == ("x1", "x2")
    np.testing.assert_allclose(ds.X_train, (spiral.X_train - spiral.X_train.mean(0)) / spiral.X_train.std(0),
                               rtol=1e-12, atol=1e-15)
    assert prepare(spiral, standardize=False) is spiral  # nothing to do: the raw data is the input
    assert not spiral.standardized and spiral.raw is spiral
    np.testing.assert_array_equal(spiral.to_inputs(spiral.X_test), spiral.X_test)


def test_csv_columns_keep_their_names_and_constant_columns_their_values() -> None:
    rows = "".join(f"{i % 7},{5.0},{1e300 * (i % 3 - 1)},{i % 2}\n" for i in range(40))
    raw = datasets.load_csv("a,const,huge,label\n" + rows, "label")
    ds = prepare(raw)
    assert ds.feature_names == ("a", "const", "huge") and ds.input_dim == 3
    assert ds.mean[1] == 5.0 and ds.scale[1] == 1.0  # a constant column is centred, not divided by 0
    np.testing.assert_array_equal(ds.X_train[:, 1], 0.0)
    assert np.isfinite(ds.X_train).all() and np.isfinite(ds.scale).all()  # 1e300 neither overflows nor
    np.testing.assert_allclose(ds.X_train[:, 2].std(), 1.0, rtol=1e-12)  # loses its spread


def test_digits_are_standardised_pixel_by_pixel() -> None:
    raw = datasets.load("digits", n_samples=300, seed=0)
    ds = prepare(raw)
    assert ds.image_shape == (8, 8) and ds.feature_names == raw.feature_names
    blank = raw.X_train.std(axis=0) == 0  # corner pixels that are 0 in every training image
    assert blank.any() and (ds.scale[blank] == 1.0).all()
    assert np.isfinite(ds.X_test).all()


@pytest.mark.parametrize(("features", "message"), [
    (["x3"], "unknown feature 'x3'; valid: x1, x2, x1^2"),
    (["x1", "x1^2", "x1"], "feature 'x1' is listed more than once"),
    ([], "features must name at least one"),
    ("x1", "a list of names"),
])
def test_bad_feature_lists_are_refused_naming_the_field(spiral: Dataset, features: list[str], message: str) -> None:
    with pytest.raises(ValueError, match="^features: ") as e:
        prepare(spiral, features)
    assert message in str(e.value)


def test_features_need_2d_data() -> None:
    digits = datasets.load("digits", n_samples=100, seed=0)
    with pytest.raises(ValueError, match="features: Playground's features are computed from a 2-D point; this "
                                         "data has 64 columns"):
        prepare(digits, ["x1", "x2", "x1^2"])
    assert prepare(digits).input_dim == 64  # the default means: its own columns


def test_preparing_twice_is_refused(spiral: Dataset) -> None:
    with pytest.raises(ValueError, match="already prepared"):
        prepare(prepare(spiral), ALL)


def test_the_grid_stays_in_the_raw_plane_and_goes_through_the_same_map(spiral: Dataset) -> None:
    """grid[L][0, r, c] is the network's output at the raw cell centre (x₁, x₂) — features computed from
    that point, standardised with the training split's mean and scale — not at the centre itself."""
    ds = prepare(spiral, ALL)
    net = MLP([7, 5, 1], "tanh", "tanh", seed=1, dtype=np.float64)
    t = Trainer(net, ds, grid_size=4)
    assert t.grid_size == 4 and t.grid_extent == (-6.0, 6.0, -6.0, 6.0)  # the raw points' plane
    snap = t.snapshot()
    centres = -6 + (np.arange(4) + 0.5) * 3
    P = np.array([[x1, x2] for x2 in centres[::-1] for x1 in centres])  # row-major, x₂ descending
    expected = net.predict((by_hand(P) - ds.mean) / ds.scale)[:, 0].reshape(4, 4)
    np.testing.assert_allclose(snap.grids[-1][0], expected, rtol=1e-5, atol=1e-6)  # grids are float32
    wrong = net.predict((P - ds.mean[:2]) @ np.eye(2, 7) / ds.scale)[:, 0].reshape(4, 4)
    assert np.abs(snap.grids[-1][0] - wrong).max() > 1e-2
    # and the probe's input is the probe's standardised features
    np.testing.assert_allclose(snap.probe_activations[0], ds.X_train[0])
    np.testing.assert_allclose(ds.to_inputs(spiral.X_train[:1])[0], ds.X_train[0], rtol=1e-12)


def test_the_grid_extent_comes_from_the_raw_data_even_when_standardised() -> None:
    raw = datasets.load_csv("u,v,label\n" + "".join(f"{i * 10},{-i},{i % 2}\n" for i in range(20)), "label")
    ds = prepare(raw)
    t = Trainer(MLP([2, 1], seed=0), ds, grid_size=5)
    x0, x1, y0, y1 = t.grid_extent or (0, 0, 0, 0)
    assert x0 < 0 < 190 < x1 and y0 < -19 < 0 < y1  # the raw columns' bounds plus a margin
