"""Score Dask arrays and DataFrames on a Dask cluster (``pip install 'memae[dask]'``).

The task graph carries only the model *directory*: each worker process loads the
model from its ``config.json`` + weights file the first time it needs it and
keeps it (no torch module is pickled between processes), so the directory must be
readable by every worker (a shared file system or object-store mount).

>>> import dask.array as da, memae.dask
>>> X = da.from_zarr("traffic.zarr")                       # doctest: +SKIP
>>> scores = memae.dask.score(X, "model/")                  # lazy, one value per row
>>> scores.to_zarr("scores.zarr")                           # doctest: +SKIP

The same load-once-per-worker pattern runs on Spark (``mapInPandas``) or Ray Data
(``map_batches``) with :func:`cached_model`; see the README for the snippets.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

try:
    import dask.array as da
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("memae.dask needs Dask: pip install 'memae[dask]'") from exc

_lock = threading.Lock()


def cached_model(path: str | os.PathLike, checksum: str | None = None):
    """The detector saved in ``path``, loaded once per process and then reused.

    ``checksum`` (the weights' SHA-256 from ``config.json``) is part of the cache key,
    so a model directory overwritten with a new model is loaded again.
    """
    with _lock:  # one load per process even when several worker threads ask at once
        return _load(str(Path(path).resolve()), checksum)


@lru_cache(maxsize=8)
def _load(path: str, checksum: str | None):  # checksum: only part of the cache key
    import memae

    return memae.load(path)


def _checksum(path: str | os.PathLike) -> str:
    import json

    return json.loads((Path(path) / "config.json").read_text())["weights_sha256"]


def _score_block(block: np.ndarray, path: str, checksum: str, batch_size: int | None):
    if len(block) == 0:
        return np.empty(0, dtype=np.float64)
    return cached_model(path, checksum).decision_function(block, batch_size=batch_size)


def _score_partition(frame: Any, path: str, checksum: str, batch_size: int | None, name: str):
    import pandas as pd

    if len(frame) == 0:
        return pd.Series([], index=frame.index, dtype="float64", name=name)
    scores = cached_model(path, checksum).decision_function(frame, batch_size=batch_size)
    return pd.Series(scores, index=frame.index, name=name)


def score(
    data: Any,
    model_dir: str | os.PathLike,
    *,
    batch_size: int | None = None,
    name: str = "score",
) -> Any:
    """Lazy anomaly scores of every row of a Dask array or DataFrame.

    Parameters
    ----------
    data : dask.array.Array of shape (n_samples, n_features) or dask.dataframe.DataFrame
        Rows to score. Arrays split along columns are rechunked to whole rows first.
    model_dir : path
        A directory written by ``detector.save``; it is checked here, on the client,
        and loaded once in every worker that scores a block.
    batch_size : int, optional
        Rows per forward pass inside a block (default as in ``decision_function``).
    name : str
        Name of the returned Series (DataFrame input).

    Returns
    -------
    dask.array.Array of shape (n_samples,) or dask.dataframe.Series
        float64 scores, higher = more anomalous, in the input's row order (and with
        the DataFrame's index). Compute, persist or write them as any Dask collection.

    Raises
    ------
    ModelFileError
        If ``model_dir`` does not hold a valid model.
    ValueError
        If ``data`` is not 2-D or has a feature count (or column names) other than the
        model's.
    """
    path = str(Path(model_dir).resolve())
    checksum = _checksum_or_error(path)
    det = cached_model(path, checksum)  # fail early, on the client, on a bad model
    if isinstance(data, da.Array):
        if data.ndim != 2:
            raise ValueError(
                f"data must be 2-dimensional (n_samples, n_features), got {data.shape}"
            )
        if data.shape[1] != det.n_features_in_:
            raise ValueError(
                f"data has {data.shape[1]} features, but the model in {model_dir} was fitted "
                f"with {det.n_features_in_}"
            )
        if len(data.chunks[1]) > 1:
            data = data.rechunk({1: -1})
        return data.map_blocks(
            _score_block,
            path,
            checksum,
            batch_size,
            drop_axis=1,
            dtype=np.float64,
            meta=np.empty(0, dtype=np.float64),
        )
    if hasattr(data, "map_partitions") and hasattr(data, "columns"):
        import pandas as pd

        if len(data.columns) != det.n_features_in_:
            raise ValueError(
                f"data has {len(data.columns)} columns, but the model in {model_dir} was "
                f"fitted with {det.n_features_in_}"
            )
        meta = pd.Series([], dtype="float64", name=name, index=data._meta.index)
        return data.map_partitions(_score_partition, path, checksum, batch_size, name, meta=meta)
    raise ValueError(
        f"data must be a dask.array.Array or dask.dataframe.DataFrame, got {type(data).__name__}"
    )


def _checksum_or_error(path: str) -> str:
    from memae.io import CONFIG_FILE, ModelFileError

    try:
        return _checksum(path)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelFileError(f"{Path(path) / CONFIG_FILE} cannot be read: {exc}") from None
