"""Tests for backprop_core.datasets (built-in sets) and its CSV loader."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_core.datasets import DATASETS, CSVError, Dataset, load, load_csv

TWO_D_CLASSIFICATION = ["circle", "xor", "gauss", "spiral", "moons"]
DIGIT_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def all_points(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([ds.X_train, ds.X_test]), np.concatenate([ds.y_train, ds.y_test])


# ---------------------------------------------------------------- built-in datasets


def test_catalogue_lists_every_builtin() -> None:
    assert set(DATASETS) == {"circle", "xor", "gauss", "spiral", "moons", "plane", "multi_gauss", "digits"}
    for name, info in DATASETS.items():
        assert info.name == name
        assert info.two_d == (info.input_dim == 2)
        assert (info.task == "regression") == (info.n_classes == 0)
    assert DATASETS["digits"].default_samples == 1797 and not DATASETS["digits"].two_d
    assert DATASETS["circle"].default_samples == 500


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("noise", [0.0, 0.25, 0.5])
def test_shapes_dtypes_and_metadata(name: str, noise: float) -> None:
    info = DATASETS[name]
    ds = load(name, noise=noise)
    assert ds.name == name and ds.task == info.task
    assert ds.n_train + ds.n_test == info.default_samples
    assert ds.n_train == info.default_samples // 2
    for X, y in ((ds.X_train, ds.y_train), (ds.X_test, ds.y_test)):
        assert X.dtype == np.float64 and X.ndim == 2 and X.shape[1] == info.input_dim == ds.input_dim
        assert y.shape == (X.shape[0],)
        assert np.isfinite(X).all()
        if info.task == "classification":
            assert y.dtype == np.int64
            assert y.min() >= 0 and y.max() < info.n_classes
        else:
            assert y.dtype == np.float64 and np.isfinite(y).all()
    assert ds.n_classes == info.n_classes == len(ds.class_names)
    assert len(ds.feature_names) == info.input_dim
    if info.two_d:
        assert ds.feature_names == ("x1", "x2")
        assert ds.image_shape is None
        assert ds.class_names == (("negative", "positive") if info.n_classes == 2 else ())


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_same_seed_same_data_other_seed_other_data(name: str) -> None:
    a = load(name, n_samples=200, noise=0.1, seed=7)
    b = load(name, n_samples=200, noise=0.1, seed=7)
    c = load(name, n_samples=200, noise=0.1, seed=8)
    for field in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.X_train, c.X_train)


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5, 0.7, 0.9])
def test_split_sizes_follow_train_fraction(fraction: float) -> None:
    ds = load("gauss", n_samples=100, train_fraction=fraction)
    assert ds.n_train == round(100 * fraction)
    assert ds.n_test == 100 - ds.n_train


def test_split_is_a_partition_of_the_same_shuffled_points() -> None:
    a = load("xor", n_samples=120, train_fraction=0.2, seed=3)
    b = load("xor", n_samples=120, train_fraction=0.8, seed=3)
    np.testing.assert_array_equal(all_points(a)[0], all_points(b)[0])
    np.testing.assert_array_equal(all_points(a)[1], all_points(b)[1])
    assert len(np.unique(all_points(a)[0], axis=0)) == 120  # no point is in both parts


def test_small_split_keeps_both_parts_non_empty() -> None:
    ds = load("circle", n_samples=10, train_fraction=0.1)
    assert (ds.n_train, ds.n_test) == (1, 9)


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"train_fraction": 0.05}, "train_fraction"),
        ({"train_fraction": 0.95}, "train_fraction"),
        ({"train_fraction": math.nan}, "train_fraction"),
        ({"noise": -0.01}, "noise"),
        ({"noise": 0.51}, "noise"),
        ({"n_samples": 9}, "n_samples"),
        ({"n_samples": 100_001}, "n_samples"),
        ({"n_samples": 50.0}, "n_samples"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs: dict[str, object], word: str) -> None:
    with pytest.raises(ValueError, match=word):
        load("circle", **kwargs)  # type: ignore[arg-type]


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown dataset") as info:
        load("mnist")
    for name in DATASETS:
        assert name in str(info.value)


@pytest.mark.parametrize("name", ["circle", "xor", "gauss", "spiral", "moons"])
def test_binary_sets_are_balanced(name: str) -> None:
    _, y = all_points(load(name, seed=5))
    share = y.mean()
    assert 0.4 <= share <= 0.6, share


def test_circle_labels_match_radius_without_noise() -> None:
    X, y = all_points(load("circle", seed=11))
    r = np.hypot(X[:, 0], X[:, 1])
    assert (r[y == 1] < 2.5).all()
    assert ((r[y == 0] >= 3.5) & (r[y == 0] <= 5.0)).all()
    assert (y == 1).sum() == 250


def test_circle_noise_flips_some_labels_but_not_the_points() -> None:
    clean, noisy = load("circle", seed=2), load("circle", noise=0.5, seed=2)
    np.testing.assert_array_equal(clean.X_train, noisy.X_train)
    flipped = (clean.y_train != noisy.y_train).mean()
    assert 0.02 < flipped < 0.5


def test_xor_labels_follow_sign_of_product_and_padding() -> None:
    X, y = all_points(load("xor", seed=4))
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] >= 0).astype(np.int64))
    assert (np.abs(X) >= 0.3).all() and (np.abs(X) <= 5.3).all()
    _, y_noisy = all_points(load("xor", noise=0.5, seed=4))
    assert (y_noisy != y).any()


def test_gauss_centres_and_noise_widens_the_blobs() -> None:
    X, y = all_points(load("gauss", n_samples=4000, seed=1))
    np.testing.assert_allclose(X[y == 1].mean(axis=0), [2, 2], atol=0.1)
    np.testing.assert_allclose(X[y == 0].mean(axis=0), [-2, -2], atol=0.1)
    np.testing.assert_allclose(X[y == 1].var(axis=0), [0.5, 0.5], rtol=0.15)
    Xn, yn = all_points(load("gauss", n_samples=4000, noise=0.5, seed=1))
    np.testing.assert_allclose(Xn[yn == 1].var(axis=0), [4, 4], rtol=0.15)


def test_spiral_points_lie_on_their_arm_without_noise() -> None:
    X, y = all_points(load("spiral", seed=9))
    r = np.hypot(X[:, 0], X[:, 1])
    assert (r < 5.0).all()
    keep = r > 1e-9
    angle = np.arctan2(X[keep, 0], X[keep, 1])  # x = r sin t, y = r cos t
    expected = 1.75 * 2 * np.pi * r[keep] / 5.0 + np.where(y[keep] == 1, 0.0, np.pi)
    gap = np.angle(np.exp(1j * (angle - expected)))
    np.testing.assert_allclose(gap, 0.0, atol=1e-9)


def test_moons_fit_the_plot_without_noise() -> None:
    X, y = all_points(load("moons", seed=6))
    assert (np.abs(X[:, 0]) <= 6.0 + 1e-9).all() and (np.abs(X[:, 1]) <= 3.0 + 1e-9).all()
    assert X[y == 0, 1].mean() > X[y == 1, 1].mean()  # class 0 is the upper moon


def test_plane_target_without_noise() -> None:
    X, y = all_points(load("plane", seed=3))
    assert len(y) == 1200
    assert (np.abs(X) <= 6).all()
    np.testing.assert_allclose(y, (X[:, 0] + X[:, 1]) / 10)


def test_multi_gauss_cones() -> None:
    X, y = all_points(load("multi_gauss", seed=3))
    centres = np.array([[-4, 2.5, 1], [0, 2.5, -1], [4, 2.5, 1], [-4, -2.5, -1], [0, -2.5, 1], [4, -2.5, -1]])
    dist = np.hypot(X[:, None, 0] - centres[:, 0], X[:, None, 1] - centres[:, 1])
    nearest = dist.argmin(axis=1)
    d = dist[np.arange(len(y)), nearest]
    inside = d < 2
    np.testing.assert_allclose(y[inside], centres[nearest[inside], 2] * (1 - d[inside] / 2))
    np.testing.assert_array_equal(y[~inside], 0.0)
    assert inside.sum() > 100 and (y > 0.5).any() and (y < -0.5).any()


def test_digits_is_the_real_set() -> None:
    ds = load("digits")
    X, y = all_points(ds)
    assert ds.n_train + ds.n_test == 1797 and ds.input_dim == 64
    assert ds.n_classes == 10 and ds.class_names == tuple("0123456789")
    assert ds.image_shape == (8, 8)
    assert (
        ds.feature_names[0] == "px0_0" and ds.feature_names[9] == "px1_1" and ds.feature_names[63] == "px7_7"
    )
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(X * 16, np.round(X * 16))  # 17 grey levels 0..16
    assert np.bincount(y).tolist() == DIGIT_COUNTS
    first = np.array([0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0,
                      0, 4, 12, 0, 0, 8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0,
                      0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0]) / 16  # fmt: skip
    match = np.flatnonzero((X == first).all(axis=1))
    assert len(match) == 1 and y[match[0]] == 0


def test_digits_subset_noise_and_limit() -> None:
    a, b = load("digits", n_samples=100, seed=1), load("digits", n_samples=100, seed=2)
    assert a.n_train + a.n_test == 100
    assert not np.array_equal(all_points(a)[0], all_points(b)[0])
    clean, noisy = load("digits", n_samples=50, seed=1), load("digits", n_samples=50, noise=0.2, seed=1)
    assert not np.array_equal(clean.X_train, noisy.X_train)
    assert noisy.X_train.min() >= 0 and noisy.X_train.max() <= 1
    with pytest.raises(ValueError, match="n_samples"):
        load("digits", n_samples=1798)


def test_digits_calls_do_not_share_arrays() -> None:
    a = load("digits", n_samples=20)
    a.X_train[:] = 5.0
    assert load("digits", n_samples=20).X_train.max() <= 1.0


def test_dataset_rejects_inconsistent_arrays() -> None:
    X, y = np.zeros((4, 2)), np.zeros(4, dtype=np.int64)
    with pytest.raises(ValueError, match="train"):
        Dataset("d", "classification", X, y[:3], X, y, 2, ("a", "b"), ("n", "p"))
    with pytest.raises(ValueError, match="feature"):
        Dataset("d", "classification", X, y, X, y, 2, ("a",), ("n", "p"))
    with pytest.raises(ValueError, match="image_shape"):
        Dataset("d", "classification", X, y, X, y, 2, ("a", "b"), ("n", "p"), image_shape=(8, 8))


# ---------------------------------------------------------------- CSV


GOOD = "x1,x2,species\n1,2,cat\n3,4,dog\n5,6,cat\n7,8.5,bird\n-1,0,dog\n2e3,1,cat\n"


def raises_at(text: str | bytes, line: int | None, column: str | None, **kwargs: object) -> CSVError:
    label = kwargs.pop("label", "label")
    with pytest.raises(CSVError) as info:
        load_csv(text, str(label), **kwargs)  # type: ignore[arg-type]
    err = info.value
    assert isinstance(err, ValueError)
    assert err.line == line and err.column == column, (err.line, err.column, str(err))
    if line is not None:
        assert re.search(rf"\bline {line}\b", str(err)), str(err)
    if column is not None:
        assert column in str(err)
    return err


def test_good_csv_with_string_classes() -> None:
    ds = load_csv(GOOD, "species", name="pets")
    assert ds.name == "pets" and ds.task == "classification"
    assert ds.class_names == ("bird", "cat", "dog") and ds.n_classes == 3
    assert ds.feature_names == ("x1", "x2") and ds.input_dim == 2
    assert (ds.n_train, ds.n_test) == (3, 3)
    X, y = all_points(ds)
    rows = {tuple(x): ds.class_names[c] for x, c in zip(X.tolist(), y.tolist(), strict=True)}
    assert rows == {
        (1, 2): "cat",
        (3, 4): "dog",
        (5, 6): "cat",
        (7, 8.5): "bird",
        (-1, 0): "dog",
        (2000, 1): "cat",
    }
    assert X.dtype == np.float64 and y.dtype == np.int64


def test_label_column_may_be_anywhere_and_quoted() -> None:
    text = 'a,"label, with comma",b\n1,x,2\n3,y,4\n5,x,6\n7,y,8\n'
    ds = load_csv(text, "label, with comma")
    assert ds.feature_names == ("a", "b")
    X, y = all_points(ds)
    np.testing.assert_array_equal(X[:, 1] - X[:, 0], 1.0)
    np.testing.assert_array_equal(y, np.where(X[:, 0] % 4 == 1, 0, 1))


def test_integer_labels_infer_classification_in_numeric_order() -> None:
    text = "a,b,label\n" + "".join(f"{i},{i * 2},{[-1, 1, 10][i % 3]}\n" for i in range(12))
    ds = load_csv(text, "label")
    assert ds.task == "classification" and ds.class_names == ("-1", "1", "10")
    X, y = all_points(ds)
    np.testing.assert_array_equal(np.array([-1, 1, 10])[y], np.array([-1, 1, 10])[(X[:, 0] % 3).astype(int)])


def test_float_or_many_integer_labels_infer_regression() -> None:
    floats = "a,label\n" + "".join(f"{i},{i / 3}\n" for i in range(10))
    ds = load_csv(floats, "label")
    assert ds.task == "regression" and ds.n_classes == 0 and ds.class_names == ()
    assert ds.y_train.dtype == np.float64
    X, y = all_points(ds)
    np.testing.assert_allclose(y, X[:, 0] / 3)
    many = "a,label\n" + "".join(f"{i},{i}\n" for i in range(21))
    assert load_csv(many, "label").task == "regression"
    twenty = "a,label\n" + "".join(f"{i},{i}\n" for i in range(20))
    assert load_csv(twenty, "label").task == "classification"


def test_explicit_task_overrides_inference() -> None:
    text = "a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(8))
    assert load_csv(text, "label", task="regression").task == "regression"
    floats = "a,label\n" + "".join(f"{i},{i % 3 + 0.5}\n" for i in range(8))
    ds = load_csv(floats, "label", task="classification")
    assert ds.class_names == ("0.5", "1.5", "2.5")
    err = raises_at("a,label\n1,2\n2,3\n3,x\n4,5\n", 4, "label", task="regression")
    assert "number" in str(err)


def test_bytes_with_bom_and_crlf_blank_lines() -> None:
    text = "\ufeffx1,x2,species\r\n1,2,cat\r\n\r\n3,4,dog\r\n5,6,cat\r\n7,8,dog\r\n\r\n"
    ds = load_csv(text.encode("utf-8"), "species")
    assert ds.feature_names == ("x1", "x2") and ds.n_train + ds.n_test == 4


def test_csv_is_deterministic_in_seed() -> None:
    a, b = load_csv(GOOD, "species", seed=1), load_csv(GOOD, "species", seed=1)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert any(not np.array_equal(load_csv(GOOD, "species", seed=s).X_train, a.X_train) for s in range(2, 6))


HEADER = "label,x1,x2\n"


@pytest.mark.parametrize(
    ("body", "line", "column", "words"),
    [
        ("a,1,2\nb,3,oops\na,5,6\nb,7,8\n", 3, "x2", "not a number"),
        ("a,1,2\nb,,4\na,5,6\nb,7,8\n", 3, "x1", "missing"),
        ("a,1,2\nb,3\na,5,6\nb,7,8\n", 3, None, "expected 3 fields"),
        ("a,1,2\nb,3,4,5\na,5,6\nb,7,8\n", 3, None, "found 4"),
        ("a,1,2\na,1,2\nb,3,nan\nb,7,8\n", 4, "x2", "finite"),
        ("a,1,2\nb,inf,4\na,5,6\nb,7,8\n", 3, "x1", "finite"),
        ("a,1,2\n,3,4\na,5,6\nb,7,8\n", 3, "label", "missing label"),
        ("a,1,2\n\n\nb,3,x\na,5,6\nb,7,8\n", 5, "x2", "not a number"),  # blank lines still count
        ('a,1,2\n"b,3,4\na,5,6\nb,7,8\n', 3, None, "malformed"),
    ],
)
def test_bad_values_report_line_and_column(body: str, line: int, column: str | None, words: str) -> None:
    err = raises_at(HEADER + body, line, column)
    assert words in str(err)


def test_missing_label_column_lists_columns() -> None:
    err = raises_at(GOOD, 1, "kind", label="kind")
    assert "x1, x2, species" in str(err)


def test_invalid_utf8_is_reported_with_line() -> None:
    raises_at(HEADER.encode() + b"a,1,2\nb,3,\xff\n", 3, None)


def test_size_limit_is_checked_before_parsing() -> None:
    garbage = "\x00,\n" * 40  # would fail parsing, but the size check comes first
    err = raises_at(garbage, None, None, max_bytes=100)
    assert "too large" in str(err) and "100" in str(err)
    raises_at("é" * 60, None, None, max_bytes=100)  # 120 bytes in UTF-8 though only 60 characters
    assert load_csv(GOOD, "species", max_bytes=len(GOOD)).n_train == 3


def test_row_and_column_limits() -> None:
    err = raises_at(GOOD, 6, None, label="species", max_rows=4)
    assert "too many rows" in str(err)
    assert load_csv(GOOD, "species", max_rows=6).n_test == 3
    err = raises_at(GOOD, 1, None, label="species", max_columns=2)
    assert "too many columns" in str(err)


def test_too_few_rows_empty_file_and_single_class() -> None:
    assert "at least 4" in str(raises_at(HEADER + "a,1,2\nb,3,4\na,5,6\n", None, None))
    assert "empty" in str(raises_at("", None, None))
    assert "empty" in str(raises_at(b"\xef\xbb\xbf \n\n", None, None))
    assert "one distinct" in str(raises_at(HEADER + "a,1,2\na,3,4\na,5,6\na,7,8\n", None, "label"))
    assert "feature" in str(raises_at("label\n1\n2\n1\n2\n", 1, None))


def test_too_many_string_classes() -> None:
    text = HEADER + "".join(f"c{i},{i},{i}\n" for i in range(101))
    assert "too many classes" in str(raises_at(text, None, "label"))
    assert load_csv(HEADER + "".join(f"c{i},{i},{i}\n" for i in range(100)), "label").n_classes == 100


def test_duplicate_header_names() -> None:
    raises_at("label,x,x\na,1,2\nb,3,4\na,5,6\nb,7,8\n", 1, "x")


def test_bad_loader_arguments() -> None:
    with pytest.raises(ValueError, match="train_fraction"):
        load_csv(GOOD, "species", train_fraction=1.0)
    with pytest.raises(ValueError, match="task"):
        load_csv(GOOD, "species", task="ranking")  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(allow_nan=False, allow_infinity=False), st.floats(-1e6, 1e6)),
        min_size=4,
        max_size=30,
    )
)
def test_csv_round_trip_of_any_finite_numbers(rows: list[tuple[float, float]]) -> None:
    text = "feature,target\n" + "".join(f"{a!r},{b!r}\n" for a, b in rows)
    ds = load_csv(text, "target", task="regression")
    X, y = all_points(ds)
    got = sorted(zip(X[:, 0].tolist(), y.tolist(), strict=True))
    assert got == sorted(rows)
