"""Synthetic sanity sets: anomalies every detector must flag (issue 23's sanity suite).

Three kinds in ``dim`` dimensions, each with normal training rows, and test rows that
are half new normal rows and half anomalies:

- ``"shift"``: normal ``N(0, I)``; anomalies ``N(shift * 1, I)`` (a mean shift in every
  coordinate).
- ``"far"``: normal ``N(0, I)``; anomalies are normal draws scaled by ``far``, i.e.
  points that many times further out in random directions.
- ``"subspace"``: normal rows lie on a random ``rank``-dimensional linear subspace
  (plus a little isotropic noise); anomalies get a component orthogonal to it of the
  same typical size as their in-subspace part.
"""

from __future__ import annotations

import numpy as np

SANITY_KINDS = ("shift", "far", "subspace")


def make_sanity(
    kind: str,
    *,
    n_train: int = 8000,
    n_test: int = 1000,
    dim: int = 16,
    shift: float = 4.0,
    far: float = 6.0,
    rank: int = 4,
    noise: float = 0.05,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X_train, X_test, y_test)``, float32 rows; ``y_test`` is 1 for anomalies.

    ``n_test`` normal and ``n_test`` anomalous test rows; see the module docstring for
    the kinds.
    """
    if kind not in SANITY_KINDS:
        raise ValueError(f"kind must be one of {SANITY_KINDS}, got {kind!r}")
    rng = np.random.default_rng(seed)
    if kind == "subspace":
        basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        inside, outside = basis[:, :rank], basis[:, rank:]

        def normal(n: int) -> np.ndarray:
            return rng.standard_normal((n, rank)) @ inside.T + noise * rng.standard_normal((n, dim))

        train, test_normal = normal(n_train), normal(n_test)
        off = rng.standard_normal((n_test, dim - rank)) @ outside.T
        off *= np.sqrt(rank) / np.linalg.norm(off, axis=1, keepdims=True)
        anomalies = normal(n_test) + off
    else:
        train = rng.standard_normal((n_train, dim))
        test_normal = rng.standard_normal((n_test, dim))
        anomalies = rng.standard_normal((n_test, dim))
        anomalies = anomalies + shift if kind == "shift" else anomalies * far
    X_test = np.concatenate([test_normal, anomalies])
    y_test = np.r_[np.zeros(n_test, np.int64), np.ones(n_test, np.int64)]
    return train.astype(np.float32), X_test.astype(np.float32), y_test
