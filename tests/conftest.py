import os
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def data_root() -> Path:
    return Path(os.environ.get("MEMAE_DATA", SHARED))


def _kdd(loader):
    from memae.datasets import DataNotFoundError

    try:
        return loader(data_root())
    except DataNotFoundError:
        if os.environ.get("CI"):
            raise
        pytest.skip("shared KDD data not found (set MEMAE_DATA)")


@pytest.fixture(scope="session")
def kdd():
    """The shared KDDCUP99 npz (X float32, y with 1 = the protocol's anomaly class)."""
    from memae.datasets import load_kdd

    return _kdd(load_kdd)


@pytest.fixture(scope="session")
def kdd_raw():
    """The raw KDDCUP99 10% file: (DataFrame of 41 columns, y with 1 = ``normal.``)."""
    from memae.datasets import load_kdd_raw

    return _kdd(load_kdd_raw)


def _shared(loader, *args):
    from memae.datasets import DataNotFoundError

    try:
        return loader(*args, data_root())
    except DataNotFoundError:
        if os.environ.get("CI"):
            raise
        pytest.skip("shared image data not found (set MEMAE_DATA)")


@pytest.fixture(scope="session")
def mnist():
    """The shared MNIST files: (X_train, y_train, X_test, y_test), uint8 images."""
    from memae.datasets import load_mnist

    return (*_shared(load_mnist, "train"), *_shared(load_mnist, "test"))


@pytest.fixture(scope="session")
def kdd_slice(kdd):
    """A small real slice: 6000 attack rows for training, 1000 attack + 1000 normal to test."""
    X, y = kdd
    rng = np.random.default_rng(0)
    normal = rng.permutation(np.flatnonzero(y == 0))
    anomal = rng.permutation(np.flatnonzero(y == 1))
    X_train = X[normal[:6000]]
    X_test = np.concatenate([X[normal[6000:7000]], X[anomal[:1000]]])
    y_test = np.r_[np.zeros(1000, int), np.ones(1000, int)]
    return X_train, X_test, y_test


@pytest.fixture(scope="session")
def planted():
    """Normal rows on a 3-d linear manifold in 12-d plus noise; anomalies off it."""
    rng = np.random.default_rng(1)
    basis = rng.normal(size=(3, 12))
    normal = rng.normal(size=(1500, 3)) @ basis + 0.05 * rng.normal(size=(1500, 12))
    test_normal = rng.normal(size=(200, 3)) @ basis + 0.05 * rng.normal(size=(200, 12))
    anomalies = rng.normal(size=(200, 12)) * 2.0
    X_test = np.concatenate([test_normal, anomalies]).astype(np.float32)
    y_test = np.r_[np.zeros(200, int), np.ones(200, int)]
    return normal.astype(np.float32), X_test, y_test


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """True when two models have the same parameter names and bit-identical values."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def make_off_manifold(rank: int, dim: int, n_train: int, n_test: int, seed: int):
    """Normal rows on a ``rank``-d linear manifold in ``dim``-d (noise 0.05); anomalies
    off it *with the norms of normal rows*, so that no statistic of size (such as
    ||x||^2, which an untrained network's error tracks) separates them: only a learned
    model of the manifold does. Returns ``(X, X_test, y_test)``."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(rank, dim))

    def normal(n):
        return rng.normal(size=(n, rank)) @ basis + 0.05 * rng.normal(size=(n, dim))

    X, test_normal = normal(n_train), normal(n_test)
    anomalies = rng.normal(size=(n_test, dim))
    norms = np.linalg.norm(rng.normal(size=(n_test, rank)) @ basis, axis=1, keepdims=True)
    anomalies *= norms / np.linalg.norm(anomalies, axis=1, keepdims=True)
    X_test = np.concatenate([test_normal, anomalies]).astype(np.float32)
    y_test = np.r_[np.zeros(n_test, int), np.ones(n_test, int)]
    return X.astype(np.float32), X_test, y_test


@pytest.fixture(scope="session")
def off_manifold():
    """:func:`make_off_manifold` with a 3-d manifold in 12-d, 1,500 training rows."""
    return make_off_manifold(3, 12, 1500, 200, seed=1)


def untrained_auc(det, X, X_test, y_test) -> float:
    """ROC-AUC of the control: the same detector with training effectively off.

    ``lr=1e-12`` for one epoch leaves the initial weights (and, for the hole score, the
    reference codes of an untrained encoder). A quality test must beat this: a
    threshold that an untrained network also reaches tests nothing (issue 23).
    """
    from sklearn.base import clone
    from sklearn.metrics import roc_auc_score

    control = clone(det).set_params(lr=1e-12, epochs=1)
    return float(roc_auc_score(y_test, control.fit(X).decision_function(X_test)))


def trivial_auc(X, X_test, y_test) -> float:
    """ROC-AUC of the squared norm of the standardised input (a trivial statistic)."""
    from sklearn.metrics import roc_auc_score

    mean, std = X.mean(axis=0), X.std(axis=0) + 1e-12
    return float(roc_auc_score(y_test, (((X_test - mean) / std) ** 2).sum(axis=1)))
