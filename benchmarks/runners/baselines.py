"""Shallow reference detectors with memae's scoring convention (higher = more anomalous).

Each standardises the features on the training rows, as such baselines are usually
run on tabular data (``standardise=False`` keeps them as they are, for pixels), and has
``fit(X)`` / ``decision_function(X)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM


class _Standardised:
    standardise: bool = True

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        return self.scaler_.transform(X) if self.scaler_ is not None else X

    def fit(self, X: np.ndarray) -> _Standardised:
        self.scaler_ = StandardScaler().fit(X) if self.standardise else None
        self._fit(self._scaled(X))
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self._score(self._scaled(X)), dtype=np.float64)

    def _fit(self, X: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _score(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class KNNDistance(_Standardised):
    """Distance to the ``k``-th nearest training row (Ramaswamy et al., 2000)."""

    def __init__(self, k: int = 5, standardise: bool = True) -> None:
        self.k, self.standardise = k, standardise

    def _fit(self, X: np.ndarray) -> None:
        self.nn_ = NearestNeighbors(n_neighbors=min(self.k, len(X))).fit(X)

    def _score(self, X: np.ndarray) -> np.ndarray:
        return self.nn_.kneighbors(X)[0][:, -1]


class PCAReconstruction(_Standardised):
    """Squared error of the projection on the components keeping ``variance`` of the data."""

    def __init__(self, variance: float = 0.95, standardise: bool = True) -> None:
        self.variance, self.standardise = variance, standardise

    def _fit(self, X: np.ndarray) -> None:
        self.pca_ = PCA(n_components=self.variance, svd_solver="full").fit(X)

    def _score(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.pca_.inverse_transform(self.pca_.transform(X))) ** 2).sum(axis=1)


class SklearnOutlier(_Standardised):
    """A scikit-learn outlier model, scored by ``-score_samples``."""

    def __init__(self, model: Any, standardise: bool = True) -> None:
        self.model, self.standardise = model, standardise

    def _fit(self, X: np.ndarray) -> None:
        self.model.fit(X)

    def _score(self, X: np.ndarray) -> np.ndarray:
        return -self.model.score_samples(X)


def isolation_forest(seed: int) -> SklearnOutlier:
    """IsolationForest, 100 trees (scikit-learn's defaults)."""
    return SklearnOutlier(IsolationForest(random_state=seed))


def one_class_svm() -> SklearnOutlier:
    """RBF OneClassSVM, ``nu=0.1``, ``gamma="scale"`` (as in the image benchmark)."""
    return SklearnOutlier(OneClassSVM(kernel="rbf", nu=0.1, gamma="scale"))


class Subsampled:
    """Fits ``detector`` on at most ``rows`` training rows, drawn with ``seed``.

    For the baselines whose cost grows with the square of the training rows (kernel
    methods, exact nearest neighbours) on large data such as KDDCUP99.

    Parameters
    ----------
    detector
        Any object with ``fit(X)`` and ``decision_function(X)`` (higher = more anomalous).
    rows
        Most training rows passed to ``detector.fit``; smaller data is used whole.
    seed
        Seed of the row draw, so a run is repeatable.

    Examples
    --------
    >>> import numpy as np
    >>> from benchmarks.runners.baselines import KNNDistance, Subsampled
    >>> X = np.random.default_rng(0).normal(size=(500, 3))
    >>> det = Subsampled(KNNDistance(), rows=100, seed=0).fit(X)
    >>> det.decision_function(np.array([[0.0, 0.0, 0.0], [9.0, 9.0, 9.0]])).argmax()
    np.int64(1)
    """

    def __init__(self, detector: Any, rows: int, seed: int) -> None:
        self.detector, self.rows, self.seed = detector, rows, seed

    def fit(self, X: np.ndarray) -> Subsampled:
        if len(X) > self.rows:
            X = X[np.random.default_rng(self.seed).choice(len(X), self.rows, replace=False)]
        self.detector.fit(X)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self.detector.decision_function(X)
