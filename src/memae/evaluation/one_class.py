"""The one-class image protocol of the MemAE paper (Table 1).

For a dataset with classes ``0..K-1`` and a chosen normal class ``c``:

1. train only on the training images of class ``c``;
2. test on the whole test set, class ``c`` normal (label 0) and every other class
   anomalous (label 1); report the ROC-AUC with the anomaly as positive;
3. the paper's variant: a test set in which anomalies make up about 30%. All test
   images of class ``c`` are kept and ``round(0.3 / 0.7 * n_normal)`` anomalies are
   drawn without replacement from the other classes (seeded), so the same scores
   give both figures.

No step uses test labels for any choice; they are used only to compute the AUCs.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

ANOMALY_FRACTION = 0.3


def one_class_labels(y_test: np.ndarray, normal_class: int) -> np.ndarray:
    """0 for the normal class, 1 for every other class (the anomalies)."""
    return (np.asarray(y_test) != normal_class).astype(np.int64)


def anomaly_subset(labels: np.ndarray, seed: int, fraction: float = ANOMALY_FRACTION) -> np.ndarray:
    """Sorted indices of a test subset: all normals plus anomalies making up ``fraction``."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    labels = np.asarray(labels)
    normal, anomalous = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    n_anom = min(len(anomalous), round(fraction / (1 - fraction) * len(normal)))
    drawn = np.random.default_rng(seed).choice(anomalous, n_anom, replace=False)
    return np.sort(np.concatenate([normal, drawn]))


def one_class_aucs(
    scores: np.ndarray, y_test: np.ndarray, normal_class: int, seed: int
) -> dict[str, float]:
    """``{"auc": whole test set, "auc_30": the 30%-anomaly subset of seed ``seed``}``."""
    labels = one_class_labels(y_test, normal_class)
    subset = anomaly_subset(labels, seed)
    return {
        "auc": float(roc_auc_score(labels, scores)),
        "auc_30": float(roc_auc_score(labels[subset], np.asarray(scores)[subset])),
    }
