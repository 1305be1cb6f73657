"""ODDS tabular outlier benchmarks (Rayana, 2016): MATLAB files with ``X`` and ``y``."""

from __future__ import annotations

import os

import numpy as np

from memae.datasets._paths import find_file

#: the 17 ODDS datasets in ``shared/data/odds/``
ODDS_NAMES = (
    "arrhythmia", "cardio", "glass", "ionosphere", "letter", "lympho", "mnist", "musk",
    "optdigits", "pendigits", "pima", "satellite", "satimage-2", "shuttle", "vertebral",
    "vowels", "wbc",
)  # fmt: skip


def load_odds(name: str, path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Load one ODDS dataset from its MATLAB v5 file (``X`` n x d, ``y`` n x 1).

    Parameters
    ----------
    name : str
        One of :data:`ODDS_NAMES` (the file ``odds/<name>.mat``), or any name when
        ``path`` is the ``.mat`` file itself (a user's own file in the same format).
    path : path, optional
        The ``.mat`` file or a data folder holding ``odds/<name>.mat``; default
        ``$MEMAE_DATA`` or ``shared/data`` near the working directory.

    Returns
    -------
    X : ndarray (n, d), float32
    y : ndarray (n,), int64; 1 = outlier

    Raises
    ------
    ValueError
        Unknown name (without a path), or a file without ``X`` / ``y`` of matching
        length, with labels other than 0/1, or with NaN/inf.
    """
    from scipy.io import loadmat  # reads MATLAB v5 arrays; never unpickles

    if path is None and name not in ODDS_NAMES:
        raise ValueError(f"unknown ODDS dataset {name!r}; choose from {list(ODDS_NAMES)}")
    file = find_file(f"odds/{name}.mat", path)
    try:
        mat = loadmat(file)
    except (ValueError, NotImplementedError, OSError) as exc:
        raise ValueError(f"{file} is not a MATLAB v5 file: {exc}") from None
    if "X" not in mat or "y" not in mat:
        raise ValueError(f"{file} needs arrays 'X' and 'y'; found {sorted(mat)}")
    X, y = np.asarray(mat["X"]), np.asarray(mat["y"]).ravel()
    if X.ndim != 2 or len(X) != len(y) or len(y) == 0:
        raise ValueError(f"{file}: X {X.shape} and y {y.shape} do not describe the same rows")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"{file}: y must be 0/1 (1 = outlier), found {np.unique(y)[:10]}")
    X = X.astype(np.float32)
    if not np.isfinite(X).all():
        raise ValueError(f"{file}: X contains NaN or inf")
    return X, y.astype(np.int64)
