"""KDDCUP99 10%: the DAGMM-preprocessed npz and the raw CSV.

In both loaders ``y == 1`` marks the original ``normal.`` traffic, which the
DAGMM / MemAE protocol treats as the **anomaly** class (it is the minority, about
20%); ``y == 0`` marks the attacks, treated as "normal".
"""

from __future__ import annotations

import os

import numpy as np

from memae.datasets._paths import find_file

KDD_NPZ = "kdd/kdd_cup.npz"
KDD_RAW = "kdd/kddcup.data_10_percent.gz"

#: the raw file's 41 feature names (KDD Cup 1999 task description) and the label
KDD_COLUMNS = [
    "duration", "protocol_type", "service", "flag", "src_bytes", "dst_bytes", "land",
    "wrong_fragment", "urgent", "hot", "num_failed_logins", "logged_in", "num_compromised",
    "root_shell", "su_attempted", "num_root", "num_file_creations", "num_shells",
    "num_access_files", "num_outbound_cmds", "is_host_login", "is_guest_login", "count",
    "srv_count", "serror_rate", "srv_serror_rate", "rerror_rate", "srv_rerror_rate",
    "same_srv_rate", "diff_srv_rate", "srv_diff_host_rate", "dst_host_count",
    "dst_host_srv_count", "dst_host_same_srv_rate", "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate", "dst_host_srv_diff_host_rate", "dst_host_serror_rate",
    "dst_host_srv_serror_rate", "dst_host_rerror_rate", "dst_host_srv_rerror_rate", "label",
]  # fmt: skip
KDD_CATEGORICAL = ["protocol_type", "service", "flag"]


def load_kdd(path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Load the DAGMM-preprocessed KDDCUP99 npz (key ``kdd``, 118 features + label).

    Parameters
    ----------
    path : path, optional
        The npz file or a data folder holding ``kdd/kdd_cup.npz``; default
        ``$MEMAE_DATA`` or ``shared/data`` near the working directory.

    Returns
    -------
    X : ndarray (494021, 118), float32
    y : ndarray (494021,), int64; 1 = original ``normal.`` traffic (the protocol's anomalies)
    """
    file = find_file(KDD_NPZ, path)
    with np.load(file, allow_pickle=False) as npz:
        if "kdd" not in npz.files:
            raise ValueError(f"{file} has no array 'kdd' (found {npz.files})")
        data = npz["kdd"]
    if data.ndim != 2 or data.shape[1] < 2:
        raise ValueError(f"{file}: expected a 2-D array of features + label, got {data.shape}")
    return np.ascontiguousarray(data[:, :-1], dtype=np.float32), data[:, -1].astype(np.int64)


def load_kdd_raw(
    path: str | os.PathLike | None = None,
    scale_rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load and encode the raw KDDCUP99 10% CSV (``kddcup.data_10_percent.gz``).

    ``protocol_type``, ``service`` and ``flag`` are one-hot encoded (categories in
    sorted order, as found in the file); the 38 numeric columns are min-max scaled
    with the minimum and maximum of ``scale_rows`` only (pass the training rows'
    indices or boolean mask; default all rows). Constant columns become 0.

    Returns
    -------
    X : ndarray (n, 118), float32
    y : ndarray (n,), int64; 1 = ``normal.`` traffic (the protocol's anomalies)
    feature_names : list of str
    """
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is in the [pandas] and [test] extras
        raise ImportError("load_kdd_raw needs pandas: pip install 'memae[pandas]'") from None
    file = find_file(KDD_RAW, path)
    df = pd.read_csv(file, header=None, names=KDD_COLUMNS)
    y = (df.pop("label") == "normal.").to_numpy(np.int64)
    numeric = [c for c in df.columns if c not in KDD_CATEGORICAL]
    num = df[numeric].to_numpy(np.float64)
    ref = num if scale_rows is None else num[scale_rows]
    if len(ref) == 0:
        raise ValueError("scale_rows selects no rows")
    lo, span = ref.min(axis=0), np.ptp(ref, axis=0)
    num = (num - lo) / np.where(span > 0, span, 1.0)
    blocks, names = [], []
    for col in KDD_CATEGORICAL:
        cats = sorted(df[col].unique())
        codes = pd.Categorical(df[col], categories=cats).codes
        blocks.append(np.eye(len(cats), dtype=np.float32)[codes])
        names += [f"{col}={c}" for c in cats]
    X = np.concatenate([*blocks, num.astype(np.float32)], axis=1)
    return np.ascontiguousarray(X), y, names + numeric
