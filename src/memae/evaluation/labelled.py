"""Splits for the "labelled validation" track: a few labelled rows disjoint from the test set.

The unsupervised protocols (:func:`memae.evaluation.kdd_split`, :func:`normal_split`,
the one-class image protocol) are unchanged. For the labelled track, a validation
set of labelled rows is carved out *before* any test row is scored:

- its normal rows are a share of the training normals, held out of training;
- its anomalies are a small number (by default 1% of the training normals' count)
  taken out of the test set (tabular), or from the *training* split's other
  classes (one-class images), so they are never test rows.

Every function returns sorted row indices and leaves the test rows it returns
disjoint from the validation rows (tested).
"""

from __future__ import annotations

import math

import numpy as np

ANOMALY_RATIO = 0.01  # labelled anomalies per training normal ("1% of the normal count")
NORMAL_FRACTION = 0.1  # share of the training normals held out as labelled normals


def _counts(n_train: int, normal_fraction: float, anomaly_ratio: float) -> tuple[int, int]:
    if not 0 < normal_fraction < 1 or not anomaly_ratio > 0:
        raise ValueError(
            f"need 0 < normal_fraction < 1 and anomaly_ratio > 0, got {normal_fraction}, "
            f"{anomaly_ratio}"
        )
    n_val = max(1, round(normal_fraction * n_train))
    if n_val >= n_train:
        raise ValueError(f"{n_train} training rows cannot give {n_val} validation normals")
    return n_val, max(1, math.ceil(anomaly_ratio * (n_train - n_val)))


def labelled_validation(
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    seed: int,
    *,
    normal_fraction: float = NORMAL_FRACTION,
    anomaly_ratio: float = ANOMALY_RATIO,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(train, validation, test)`` from an unsupervised tabular split.

    ``normal_fraction`` of the training rows (all normal) move to the validation set,
    and ``ceil(anomaly_ratio * remaining training rows)`` anomalies (``y == 1``) of the
    test set move there too (at most half of the test anomalies). Use the labels
    ``y[validation]`` for ``fit(validation_data=...)``; report on ``test``.
    """
    y = np.asarray(y)
    rng = np.random.default_rng([seed, 23])  # a stream of its own, not the split's
    train = rng.permutation(np.asarray(train))
    if (y[train] != 0).any():
        raise ValueError("the training rows must all be normal (y == 0)")
    n_val, n_anom = _counts(len(train), normal_fraction, anomaly_ratio)
    anomalies = rng.permutation(np.asarray(test)[y[test] == 1])
    if len(anomalies) < 2:
        raise ValueError("the test set needs at least 2 anomalies to lend some")
    n_anom = min(n_anom, len(anomalies) // 2)
    val = np.concatenate([train[:n_val], anomalies[:n_anom]])
    kept_test = np.setdiff1d(test, anomalies[:n_anom])
    return np.sort(train[n_val:]), np.sort(val), np.sort(kept_test)


def one_class_validation(
    y_train: np.ndarray,
    normal_class: int,
    seed: int,
    *,
    normal_fraction: float = NORMAL_FRACTION,
    anomaly_ratio: float = ANOMALY_RATIO,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(train, validation, y_validation)`` indices into the *training* split of images.

    ``normal_fraction`` of the class's training images are held out as labelled
    normals; ``ceil(anomaly_ratio * remaining images of the class)`` images of the
    other classes, also from the training split, are the labelled anomalies. The test
    split is untouched, so the one-class test protocol is the same as unsupervised.
    """
    y_train = np.asarray(y_train)
    rng = np.random.default_rng([seed, 23])
    own = rng.permutation(np.flatnonzero(y_train == normal_class))
    n_val, n_anom = _counts(len(own), normal_fraction, anomaly_ratio)
    others = rng.permutation(np.flatnonzero(y_train != normal_class))[:n_anom]
    val = np.concatenate([own[:n_val], others])
    order = np.argsort(val)
    labels = np.r_[np.zeros(n_val, np.int64), np.ones(len(others), np.int64)]
    return np.sort(own[n_val:]), val[order], labels[order]
