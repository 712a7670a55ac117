"""The network's inputs a⁰: Playground's features of a 2-D point, then standardisation.

A dataset keeps its examples as they were generated or uploaded — the *raw* data, whose coordinates the
page draws. The network sees, for a raw example x,

    a⁰ = (φ(x) − μ) / s

φ computes the chosen features (``FEATURES``: Playground's seven for a point (x₁, x₂) of a 2-D set, computed
on the raw coordinates as Playground does; or the raw columns themselves); μ and s are the mean and the
standard deviation of each feature over the *training* split only — the test set tells the network nothing
— with s = 1 where a feature is constant on it. Without standardisation μ = 0 and s = 1. The same map turns
the test set and the Trainer's input-plane grid (whose points stay in the raw coordinates) into inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from .datasets import Dataset

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Feature:
    """One input computed from a 2-D point: ``fn(x1, x2)`` on the columns (n,), ``label`` for people."""

    name: str
    label: str
    fn: Callable[[FloatArray, FloatArray], FloatArray]


FEATURES: dict[str, Feature] = {
    f.name: f
    for f in (
        Feature("x1", "x₁", lambda x1, x2: x1),
        Feature("x2", "x₂", lambda x1, x2: x2),
        Feature("x1^2", "x₁²", lambda x1, x2: x1 * x1),
        Feature("x2^2", "x₂²", lambda x1, x2: x2 * x2),
        Feature("x1*x2", "x₁x₂", lambda x1, x2: x1 * x2),
        Feature("sin(x1)", "sin x₁", lambda x1, x2: np.sin(x1)),
        Feature("sin(x2)", "sin x₂", lambda x1, x2: np.sin(x2)),
    )
}
DEFAULT_FEATURES = ("x1", "x2")  # the raw point itself; on data that is not 2-D: its own columns


def check_features(features: Sequence[str]) -> tuple[str, ...]:
    """``features`` as a tuple of known, distinct names; a ValueError naming the problem otherwise."""
    if isinstance(features, str):
        raise ValueError("features must be a list of names, not one string")
    names = tuple(features)
    if not names:
        raise ValueError(f"features must name at least one of {', '.join(FEATURES)}")
    unknown = [n for n in names if not isinstance(n, str) or n not in FEATURES]
    if unknown:
        raise ValueError(f"unknown feature {unknown[0]!r}; valid: {', '.join(FEATURES)}")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"feature {twice[0]!r} is listed more than once")
    return names


@dataclass(frozen=True, eq=False)
class InputMap:
    """a⁰ = (φ(x) − mean) / scale for raw rows x.

    ``features``: the Feature names φ computes from a 2-D point, or None for the raw columns themselves.
    ``mean`` and ``scale`` (k,): per network input; 0 and 1 when not ``standardized``.
    """

    features: tuple[str, ...] | None
    mean: FloatArray
    scale: FloatArray
    standardized: bool

    def features_of(self, X: FloatArray) -> FloatArray:
        """φ(X): (n, d) raw rows → (n, k) features, float64."""
        X = np.asarray(X, dtype=np.float64)
        if self.features is None:
            return X
        x1, x2 = X[:, 0], X[:, 1]
        return np.column_stack([FEATURES[name].fn(x1, x2) for name in self.features])

    def __call__(self, X: FloatArray) -> FloatArray:
        """The network's inputs for raw rows X (n, d): (n, k) float64."""
        out: FloatArray = (self.features_of(X) - self.mean) / self.scale
        return out


def fit(X_train: FloatArray, features: tuple[str, ...] | None, standardize: bool) -> InputMap:
    """The map for raw training rows X_train (n, d): φ, then μ and s fitted on φ(X_train) alone."""
    if features is not None and X_train.shape[1] != 2:
        raise ValueError(f"features: Playground's features are computed from a 2-D point; this data has "
                         f"{X_train.shape[1]} columns (leave features at {', '.join(DEFAULT_FEATURES)})")
    k = X_train.shape[1] if features is None else len(features)
    identity = InputMap(features, np.zeros(k), np.ones(k), standardized=False)
    F = identity.features_of(X_train)
    if not np.isfinite(F).all():
        raise ValueError("features: a feature overflows to ±inf on this data (its values are too large)")
    if not standardize:
        return identity
    mean, scale = _mean_and_scale(F)
    return InputMap(features, mean, scale, standardized=True)


def _mean_and_scale(F: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per column of F (n, k): the mean and the standard deviation (population, as scikit-learn's
    StandardScaler), 1 where the column is constant. Computed on F divided by each column's largest |value|,
    so that values near float64's limit (1e300) neither overflow the sum nor the squares."""
    peak = np.abs(F).max(axis=0)
    peak[peak == 0] = 1.0
    G = F / peak
    mean = G.mean(axis=0)
    std = np.sqrt(((G - mean) ** 2).mean(axis=0))
    return mean * peak, np.where(std > 0, std * peak, 1.0)


def prepare(dataset: Dataset, features: Sequence[str] = DEFAULT_FEATURES, *, standardize: bool = True) -> Dataset:
    """The network's view of raw ``dataset``: X = (φ(X_raw) − μ) / s for train and test, μ and s fitted on
    the training split, ``feature_names`` the features' names; ``source`` keeps the raw data.

    ``features`` other than the default need 2-D data (Playground's seven, computed from the raw point);
    the default means the raw columns with their own names. Returns ``dataset`` itself when nothing changes
    (default features, no standardisation). Raises ValueError (its message starts with "features:") for
    unknown or repeated names, an empty list, or features on data that is not 2-D.
    """
    if dataset.source is not None:
        raise ValueError("this dataset is already prepared; prepare its raw data (dataset.raw)")
    try:
        names = check_features(features)
    except ValueError as e:
        raise ValueError(f"features: {e}") from None
    phi = None if names == DEFAULT_FEATURES else names
    if phi is None and not standardize:
        return dataset
    imap = fit(dataset.X_train, phi, standardize)
    X_train, X_test = imap(dataset.X_train), imap(dataset.X_test)
    if not (np.isfinite(X_train).all() and np.isfinite(X_test).all()):
        raise ValueError("features: standardising overflows to ±inf on this data (its values are too large)")
    return replace(dataset, X_train=X_train, X_test=X_test, feature_names=phi or dataset.feature_names,
                   source=dataset, input_map=imap)
