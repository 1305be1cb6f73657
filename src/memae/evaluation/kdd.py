"""The DAGMM / MemAE KDDCUP99 protocol.

The original ``normal.`` traffic (``y == 1``, about 20%) is the anomaly class and
the attacks (``y == 0``) are "normal". Per run:

1. the ``y == 0`` rows are split 50/50 at random; one half is the training set;
2. the test set is the other half plus every ``y == 1`` row;
3. the threshold is the 80th percentile of the *pooled* training and test scores
   (anomalies are about 20% of the pooled rows), and a test row scoring above it
   is flagged;
4. precision, recall and F1 are computed on the test set with the anomaly class
   (``y == 1``) as positive.

This is what the widely used DAGMM implementation does and the only reading under
which DAGMM's reported precision/recall fit; the paper words it as "50% of the data
for training".
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

ANOMALY_RATIO = 0.2


def kdd_split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, test)`` of one run of the protocol."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    normal = rng.permutation(np.flatnonzero(y == 0))
    half = len(normal) // 2
    train = np.sort(normal[:half])
    test = np.sort(np.concatenate([normal[half:], np.flatnonzero(y == 1)]))
    return train, test


def kdd_metrics(
    train_scores: np.ndarray,
    test_scores: np.ndarray,
    y_test: np.ndarray,
    ratio: float = ANOMALY_RATIO,
) -> dict[str, float]:
    """Precision/recall/F1 with the pooled-percentile threshold, plus ROC-AUC for reference."""
    threshold = float(np.percentile(np.concatenate([train_scores, test_scores]), 100 * (1 - ratio)))
    pred = (test_scores > threshold).astype(int)
    p, r, f, _ = precision_recall_fscore_support(
        y_test, pred, average="binary", pos_label=1, zero_division=0
    )
    return {
        "precision": float(p),
        "recall": float(r),
        "f1": float(f),
        "roc_auc": float(roc_auc_score(y_test, test_scores)),
        "threshold": threshold,
    }
