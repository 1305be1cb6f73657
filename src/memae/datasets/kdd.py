"""KDDCUP99 10%: the DAGMM-preprocessed npz and the raw CSV.

In both loaders ``y == 1`` marks the original ``normal.`` traffic, which the
DAGMM / MemAE protocol treats as the **anomaly** class (it is the minority, about
20%); ``y == 0`` marks the attacks, treated as "normal".
"""

from __future__ import annotations

import os
from typing import Any

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


def load_kdd_raw(path: str | os.PathLike | None = None) -> tuple[Any, np.ndarray]:
    """Load a raw KDD Cup 1999 traffic file as a table, not encoded.

    The columns are the 41 features of the KDD Cup 1999 task description; three are
    text (``protocol_type``, ``service``, ``flag``). A detector fitted on this table
    one-hot encodes them with the categories of its own training rows
    (:mod:`memae.encoding`) and scales the numeric columns by its ``preprocessing``,
    so a model fitted here can score any file in this format, such as the KDD'99
    labelled test file ``corrected.gz``, whose ``service`` values differ.

    Parameters
    ----------
    path : path, optional
        A file in the KDD'99 format (41 features + a label such as ``normal.`` or
        ``smurf.``; gzip or plain CSV, no header), or a data folder holding
        ``kdd/kddcup.data_10_percent.gz``; default ``$MEMAE_DATA`` or ``shared/data``.

    Returns
    -------
    X : pandas.DataFrame (n, 41)
    y : ndarray (n,), int64; 1 = ``normal.`` traffic (the DAGMM / MemAE protocol's
        anomalies; for intrusion detection, where attacks are the anomalies, use ``1 - y``)
    """
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is in the [pandas] and [test] extras
        raise ImportError("load_kdd_raw needs pandas: pip install 'memae[pandas]'") from None
    file = find_file(KDD_RAW, path)
    df = pd.read_csv(file, header=None)
    if df.shape[1] != len(KDD_COLUMNS):
        raise ValueError(
            f"{file} has {df.shape[1]} columns; a KDD'99 file has {len(KDD_COLUMNS)} "
            "(41 features and the label)"
        )
    df.columns = KDD_COLUMNS
    y = (df.pop("label") == "normal.").to_numpy(np.int64)
    return df, y
