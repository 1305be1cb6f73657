"""Semi-supervised splits of labelled tabular data: train on normals only."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score


def _groups(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y must be 0/1 (1 = outlier)")
    rng = np.random.default_rng(seed)
    return rng.permutation(np.flatnonzero(y == 0)), rng.permutation(np.flatnonzero(y == 1))


def normal_split(
    y: np.ndarray, seed: int, train_fraction: float = 0.6
) -> tuple[np.ndarray, np.ndarray]:
    """``(train, test)`` row indices: train on a random ``train_fraction`` of the normals,
    test on the other normals plus every outlier (the ODDS protocol of the leaderboard).

    Both are sorted; the outliers never enter training.
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    normal, outlier = _groups(y, seed)
    n_train = round(train_fraction * len(normal))
    if n_train == 0 or n_train == len(normal):
        raise ValueError(f"{len(normal)} normal rows cannot be split {train_fraction:.0%}")
    test = np.concatenate([normal[n_train:], outlier])
    return np.sort(normal[:n_train]), np.sort(test)


def toll_split(
    y: np.ndarray, seed: int, fraction: float = 0.2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(train, validation, test)`` as in the Toll paper's Arrhythmia protocol.

    Validation and test each take ``fraction`` of the normals and of the outliers;
    training takes the remaining normals; the remaining outliers are unused. memae's
    detectors never read the validation labels (the official code picks its
    checkpoint by validation AUROC); the split is kept so the test rows match.
    """
    normal, outlier = _groups(y, seed)
    n_n, n_o = round(fraction * len(normal)), round(fraction * len(outlier))
    val = np.concatenate([normal[:n_n], outlier[:n_o]])
    test = np.concatenate([normal[n_n : 2 * n_n], outlier[n_o : 2 * n_o]])
    return np.sort(normal[2 * n_n :]), np.sort(val), np.sort(test)


def f1_at_top(y: np.ndarray, scores: np.ndarray, fraction: float) -> float:
    """F1 of the outlier class when the top ``fraction`` of ``scores`` are flagged
    (``ceil(fraction * n)`` rows; Toll flags 14.6% on Arrhythmia, its outlier rate)."""
    scores = np.asarray(scores)
    k = int(np.ceil(fraction * len(scores)))
    flagged = np.zeros(len(scores), dtype=np.int64)
    flagged[np.argsort(-scores, kind="stable")[:k]] = 1
    return float(f1_score(y, flagged))
