"""Built-in datasets (TensorFlow Playground's 2-D sets, moons, the 8×8 digits) and CSV uploads.

Every built-in set is a pure function of ``(name, n_samples, noise, train_fraction, seed)``: one
``np.random.default_rng(seed)`` draws the points, then a seeded shuffle splits them into the first
``floor(n * train_fraction)`` (train) and the rest (test), as Playground does. ``noise`` is Playground's
0–50 % slider as a fraction in [0, 0.5].

Classification labels are class indices: for the binary 2-D sets class 1 ("positive") is Playground's +1
label and class 0 ("negative") its −1. Points of the 2-D sets lie in (roughly) [−6, 6]².
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from backprop_core.csvdata import CSVError, parse_csv

if TYPE_CHECKING:
    from .inputs import InputMap

__all__ = ["DATASETS", "CSVError", "Dataset", "DatasetInfo", "load", "load_csv"]

FloatArray = npt.NDArray[np.float64]
Generated = tuple[FloatArray, npt.NDArray[Any]]  # X (n, d), y (n,)
Task = Literal["classification", "regression"]

MIN_SAMPLES, MAX_SAMPLES = 10, 100_000
MAX_NOISE = 0.5
DIGITS_PATH = Path(__file__).resolve().parent / "data" / "digits.npz"
XY = ("x1", "x2")
BINARY = ("negative", "positive")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split. ``X_*`` are (n, d) float64; ``y_*`` are (n,) int64 class indices
    0..n_classes−1 for classification or float64 targets for regression. ``image_shape`` is (rows, cols)
    when each row of ``X`` is a flattened image (row-major), e.g. (8, 8) for digits.

    ``load`` and ``load_csv`` give the raw data: ``X`` as generated or uploaded. ``inputs.prepare`` gives
    the network's view of it: ``X`` holds the network's inputs a⁰ (features, standardised), one column per
    name in ``feature_names``; ``source`` is the raw dataset (same rows, same order) and ``input_map`` the
    map from its rows to ``X`` (see ``inputs.py``)."""

    name: str
    task: Task
    X_train: FloatArray
    y_train: npt.NDArray[Any]
    X_test: FloatArray
    y_test: npt.NDArray[Any]
    n_classes: int
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    image_shape: tuple[int, int] | None = None
    source: Dataset | None = None
    input_map: InputMap | None = None

    def __post_init__(self) -> None:
        for X, y, part in ((self.X_train, self.y_train, "train"), (self.X_test, self.y_test, "test")):
            if X.ndim != 2 or y.shape != (X.shape[0],):
                raise ValueError(f"{part} arrays must be X (n, d) and y (n,), got {X.shape} and {y.shape}")
        if self.X_test.shape[1] != self.input_dim or len(self.feature_names) != self.input_dim:
            raise ValueError("X_train, X_test and feature_names must agree on the number of features")
        if self.task == "regression" and (self.n_classes != 0 or self.class_names):
            raise ValueError("a regression dataset has n_classes 0 and no class_names")
        if self.task == "classification" and len(self.class_names) != self.n_classes:
            raise ValueError("class_names must have n_classes entries")
        if self.image_shape is not None and math.prod(self.image_shape) != self.input_dim:
            raise ValueError(f"image_shape {self.image_shape} does not hold {self.input_dim} features")
        src = self.source
        if (src is None) != (self.input_map is None):
            raise ValueError("source and input_map come together (see inputs.prepare)")
        if src is not None and (src.n_train, src.n_test) != (self.n_train, self.n_test):
            raise ValueError("a prepared dataset has the rows of its source")

    @property
    def input_dim(self) -> int:
        """Number of features d."""
        return int(self.X_train.shape[1])

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.X_test.shape[0])

    @property
    def raw(self) -> Dataset:
        """The data as loaded: ``source`` when this is a prepared view, else the dataset itself."""
        return self.source if self.source is not None else self

    @property
    def standardized(self) -> bool:
        return self.input_map is not None and self.input_map.standardized

    @property
    def mean(self) -> FloatArray:
        """μ (input_dim,): subtracted from each network input (0 when not standardised)."""
        return self.input_map.mean if self.input_map is not None else np.zeros(self.input_dim)

    @property
    def scale(self) -> FloatArray:
        """s (input_dim,): each network input is divided by it after the mean is taken (1 when not
        standardised)."""
        return self.input_map.scale if self.input_map is not None else np.ones(self.input_dim)

    def to_inputs(self, X_raw: FloatArray) -> FloatArray:
        """The network's inputs (n, input_dim) for rows X_raw (n, raw.input_dim) in the raw data's
        coordinates, e.g. points of the input plane."""
        X = np.asarray(X_raw, dtype=np.float64)
        return self.input_map(X) if self.input_map is not None else X


@dataclass(frozen=True)
class DatasetInfo:
    """What the UI lists for a built-in dataset. ``label``: its name for people; ``two_d``: inputs are points
    in the plane."""

    name: str
    task: str
    description: str
    default_samples: int
    input_dim: int
    n_classes: int
    two_d: bool
    label: str


def _halves(n: int) -> tuple[int, int]:
    """(negatives, positives): n // 2 of class 0 and the rest of class 1."""
    return n // 2, n - n // 2


def _circle(rng: np.random.Generator, n: int, noise: float) -> Generated:
    radius = 5.0
    n_neg, n_pos = _halves(n)
    r = np.concatenate([rng.uniform(radius * 0.7, radius, n_neg), rng.uniform(0.0, radius * 0.5, n_pos)])
    angle = rng.uniform(0.0, 2 * np.pi, n)
    X = np.column_stack([r * np.sin(angle), r * np.cos(angle)])
    shifted = X + rng.uniform(-radius, radius, (n, 2)) * noise
    return X, (np.hypot(shifted[:, 0], shifted[:, 1]) < radius * 0.5).astype(np.int64)


def _xor(rng: np.random.Generator, n: int, noise: float) -> Generated:
    X = rng.uniform(-5.0, 5.0, (n, 2))
    X += np.where(X > 0, 0.3, -0.3)
    shifted = X + rng.uniform(-5.0, 5.0, (n, 2)) * noise
    return X, (shifted[:, 0] * shifted[:, 1] >= 0).astype(np.int64)


def _gauss(rng: np.random.Generator, n: int, noise: float) -> Generated:
    variance = 0.5 + (4.0 - 0.5) * noise / MAX_NOISE
    y = np.repeat(np.array([0, 1], dtype=np.int64), _halves(n))
    centres = np.where(y[:, None] == 1, 2.0, -2.0)
    return centres + rng.normal(0.0, math.sqrt(variance), (n, 2)), y


def _spiral(rng: np.random.Generator, n: int, noise: float) -> Generated:
    arms = []
    for count, delta in zip(_halves(n), (np.pi, 0.0), strict=True):  # class 0 arm, class 1 arm
        i = np.arange(count) / count
        r, t = i * 5.0, 1.75 * i * 2 * np.pi + delta
        arm = np.column_stack([r * np.sin(t), r * np.cos(t)])
        arms.append(arm + rng.uniform(-1.0, 1.0, (count, 2)) * noise)
    return np.concatenate(arms), np.repeat(np.array([0, 1], dtype=np.int64), _halves(n))


def _moons(rng: np.random.Generator, n: int, noise: float) -> Generated:
    """scikit-learn's make_moons shape (upper moon class 0, lower class 1) with random angles, centred
    and scaled ×4 into x ∈ [−6, 6], y ∈ [−3, 3]; Gaussian noise of std 2·noise (0.5·noise unscaled)."""
    y = np.repeat(np.array([0, 1], dtype=np.int64), _halves(n))
    t = rng.uniform(0.0, np.pi, n)
    X = np.where(
        y[:, None] == 0,
        np.column_stack([np.cos(t), np.sin(t)]),
        np.column_stack([1.0 - np.cos(t), 0.5 - np.sin(t)]),
    )
    X = (X - np.array([0.5, 0.25])) * 4.0
    return X + rng.normal(0.0, 2.0 * noise, (n, 2)), y


def _plane(rng: np.random.Generator, n: int, noise: float) -> Generated:
    X = rng.uniform(-6.0, 6.0, (n, 2))
    shifted = X + rng.uniform(-6.0, 6.0, (n, 2)) * noise
    return X, (shifted[:, 0] + shifted[:, 1]) / 10.0


GAUSSIANS = np.array([[-4, 2.5, 1], [0, 2.5, -1], [4, 2.5, 1], [-4, -2.5, -1], [0, -2.5, 1], [4, -2.5, -1]])


def _multi_gauss(rng: np.random.Generator, n: int, noise: float) -> Generated:
    """Playground's regressGaussian rule: each centre (cx, cy, sign) gives sign·max(0, 1 − dist/2), a
    cone of radius 2; the label is the value largest in absolute value (the cones do not overlap), in
    [−1, 1], computed at the noise-shifted point."""
    X = rng.uniform(-6.0, 6.0, (n, 2))
    shifted = X + rng.uniform(-6.0, 6.0, (n, 2)) * noise
    dist = np.hypot(shifted[:, 0, None] - GAUSSIANS[:, 0], shifted[:, 1, None] - GAUSSIANS[:, 1])
    values = GAUSSIANS[:, 2] * np.clip(1.0 - dist / 2.0, 0.0, 1.0)  # (n, 6)
    return X, values[np.arange(n), np.argmax(np.abs(values), axis=1)]


@lru_cache(maxsize=1)
def _digits_raw() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """The shipped images (1797, 64) uint8 0..16 and labels (1797,) uint8 0..9, read-only."""
    with np.load(DIGITS_PATH, allow_pickle=False) as f:
        images, labels = f["images"], f["labels"]
    if images.shape != (1797, 64) or labels.shape != (1797,):
        raise RuntimeError(f"{DIGITS_PATH} is damaged: shapes {images.shape}, {labels.shape}")
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _digits(rng: np.random.Generator, n: int, noise: float) -> Generated:
    """A seeded subset of n images, pixels /16 into [0, 1]; noise > 0 adds Gaussian pixel noise of std
    ``noise``, clipped back into [0, 1]."""
    images, labels = _digits_raw()
    if n > len(labels):
        raise ValueError(f"n_samples for digits must be at most {len(labels)}, got {n}")
    idx = rng.permutation(len(labels))[:n]
    X = images[idx].astype(np.float64) / 16.0
    if noise > 0:
        X = np.clip(X + rng.normal(0.0, noise, X.shape), 0.0, 1.0)
    return X, labels[idx].astype(np.int64)


def _info(
    name: str, label: str, description: str, n: int = 500, task: str = "classification", d: int = 2, k: int = 2
) -> DatasetInfo:
    return DatasetInfo(name, task, description, n, d, k, two_d=d == 2, label=label)


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        _info("circle", "Circle", "A disc (positive, r < 2.5) in a ring (negative, 3.5 ≤ r ≤ 5)"),
        _info("xor", "Exclusive or", "Four quadrants: positive where x1·x2 ≥ 0"),
        _info("gauss", "Gaussian", "Two Gaussian blobs at (2, 2) positive and (−2, −2) negative"),
        _info("spiral", "Spiral", "Two interleaved spiral arms of 1.75 turns"),
        _info("moons", "Moons", "Two interleaving half moons"),
        _info("plane", "Plane", "A tilted plane: target (x1 + x2) / 10", 1200, "regression", k=0),
        _info(
            "multi_gauss", "Multi-Gaussian", "Six cone-shaped bumps of height ±1 in a 3×2 grid", 1200, "regression", k=0
        ),
        _info(
            "digits",
            "Digits 8×8",
            "1 797 real handwritten digits, 8×8 pixels (UCI, Alpaydin & Kaynak 1998)",
            1797,
            d=64,
            k=10,
        ),
    )
}
_GENERATORS: dict[str, Callable[[np.random.Generator, int, float], Generated]] = {
    "circle": _circle,
    "xor": _xor,
    "gauss": _gauss,
    "spiral": _spiral,
    "moons": _moons,
    "plane": _plane,
    "multi_gauss": _multi_gauss,
    "digits": _digits,
}


def _check_fraction(train_fraction: float) -> float:
    if (
        isinstance(train_fraction, bool)
        or not isinstance(train_fraction, int | float)
        or not (0.1 <= train_fraction <= 0.9)
    ):
        raise ValueError(f"train_fraction must be a number in [0.1, 0.9], got {train_fraction!r}")
    return float(train_fraction)


def _rng(seed: int) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng(seed)


def _build(
    name: str,
    task: Task,
    X: FloatArray,
    y: npt.NDArray[Any],
    rng: np.random.Generator,
    fraction: float,
    features: tuple[str, ...],
    classes: tuple[str, ...],
    image_shape: tuple[int, int] | None = None,
) -> Dataset:
    """Seeded shuffle of X (n, d) and y (n,), then the first floor(n·fraction) rows (at least one, and
    at least one left over) for training, the rest for testing."""
    order = rng.permutation(len(y))
    X, y = X[order], y[order]
    n_train = min(max(1, math.floor(len(y) * fraction + 1e-9)), len(y) - 1)
    return Dataset(
        name,
        task,
        X[:n_train].copy(),
        y[:n_train].copy(),
        X[n_train:].copy(),
        y[n_train:].copy(),
        len(classes),
        features,
        classes,
        image_shape,
    )


def load(
    name: str, *, n_samples: int | None = None, noise: float = 0.0, train_fraction: float = 0.5, seed: int = 0
) -> Dataset:
    """Generate (or, for digits, sample) a built-in dataset; see :data:`DATASETS` for the names.

    ``n_samples`` (10..100 000; digits at most 1 797) defaults to the set's ``default_samples``;
    ``noise`` in [0, 0.5]; ``train_fraction`` in [0.1, 0.9]. Raises ValueError for anything else.
    """
    info = DATASETS.get(name) if isinstance(name, str) else None
    if info is None:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    n = info.default_samples if n_samples is None else n_samples
    if isinstance(n, bool) or not isinstance(n, int) or not MIN_SAMPLES <= n <= MAX_SAMPLES:
        raise ValueError(f"n_samples must be an integer in [{MIN_SAMPLES}, {MAX_SAMPLES}], got {n_samples!r}")
    if isinstance(noise, bool) or not isinstance(noise, int | float) or not 0.0 <= noise <= MAX_NOISE:
        raise ValueError(f"noise must be a number in [0, {MAX_NOISE}], got {noise!r}")
    fraction = _check_fraction(train_fraction)
    rng = _rng(seed)
    X, y = _GENERATORS[name](rng, n, float(noise))
    features = tuple(f"px{r}_{c}" for r in range(8) for c in range(8)) if name == "digits" else XY
    classes = tuple(str(d) for d in range(10)) if name == "digits" else BINARY if info.n_classes == 2 else ()
    task: Task = "regression" if info.task == "regression" else "classification"
    return _build(name, task, X, y, rng, fraction, features, classes, (8, 8) if name == "digits" else None)


def load_csv(
    source: str | bytes,
    label_column: str,
    *,
    task: Task | None = None,
    train_fraction: float = 0.5,
    seed: int = 0,
    max_bytes: int = 10_000_000,
    max_rows: int = 100_000,
    max_columns: int = 1_000,
    name: str = "csv",
) -> Dataset:
    """Parse uploaded CSV text (``str``, or UTF-8 ``bytes``) and split it with a seeded shuffle.

    The label column is ``label_column``; every other column is a numeric feature. ``task=None`` infers
    it (see :func:`backprop_core.csvdata.parse_csv`). Raises :class:`CSVError` (a ValueError carrying
    ``.line`` and ``.column``) for bad content or exceeded limits, ValueError for bad arguments.
    """
    fraction = _check_fraction(train_fraction)
    rng = _rng(seed)
    parsed = parse_csv(
        source, label_column, task=task, max_bytes=max_bytes, max_rows=max_rows, max_columns=max_columns
    )
    return _build(
        name, parsed.task, parsed.X, parsed.y, rng, fraction, parsed.feature_names, parsed.class_names
    )
