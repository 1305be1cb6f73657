"""Input checking: every public entry point turns user data into a clean float array here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from memae.clips import ClipWindows

_CHECK_ELEMENTS = 1 << 22  # values checked for NaN/inf at a time


class NonNumericError(TypeError, ValueError):
    """Input holds values that are not numbers (a ``ValueError`` and, as scikit-learn
    expects for such input, a ``TypeError``)."""


def _feature_names(X: Any) -> list[str] | None:
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    return [str(c) for c in columns]


def check_array(
    X: Any,
    *,
    name: str = "X",
    feature_names: Sequence[str] | None = None,
    estimator: str = "the detector",
    sample_shape: tuple[int, ...] | None = None,
    finite: bool = True,
) -> tuple[np.ndarray, list[str] | None]:
    """Validate input and return it as a C-contiguous array.

    Tabular data is ``(n_samples, n_features)``; images are ``(N, H, W)``,
    ``(N, H, W, C)`` or ``(N, C, H, W)``; video clips are ``(N, C, T, H, W)``, either
    an array or a lazy :class:`memae.clips.ClipWindows` (returned as it is, its
    frames checked once). Accepts numpy arrays, pandas DataFrames and (nested)
    lists. Returns float32, except that ``uint8`` images and clips stay ``uint8``
    (4x smaller; they are converted batch by batch by the preprocessing), and the
    column names (``None`` unless ``X`` is a DataFrame).

    With ``finite=False`` an array's values are not checked for NaN/inf here: the
    caller must then do it (:func:`check_finite`) once its result shows a non-finite
    value, as a reconstruction score does for any row holding one. Clip frames are
    always checked.

    Raises
    ------
    ValueError
        Naming the problem: non-numeric columns or values, the wrong number of
        dimensions, empty, NaN or infinite entries, or a feature count, sample shape
        (or DataFrame column names) different from those seen in ``fit``.
    """
    if isinstance(X, ClipWindows):
        _check_shape(X.shape, name, estimator, sample_shape)
        if X.dtype.kind not in "biuf":
            raise ValueError(f"{name}'s frames have non-numeric dtype {X.dtype}")
        if X.dtype.kind == "f":
            check_finite(X.frames, f"{name}'s frames")
        return X, None
    if hasattr(X, "tocsr") or type(X).__module__.startswith("scipy.sparse"):
        raise ValueError(
            f"{name} is a sparse matrix, which memae does not take; pass X.toarray() "
            "(the networks are dense)"
        )
    names = _feature_names(X)
    if names is not None:  # DataFrame: name the offending columns
        bad = [str(c) for c, dt in X.dtypes.items() if not _is_numeric_dtype(dt)]
        if bad:
            raise NonNumericError(
                f"{name} has non-numeric columns: {bad[:10]}; a detector with "
                "categorical='auto' (the default) one-hot encodes them"
            )
        missing = [str(c) for c in X.columns[X.isna().to_numpy().any(axis=0)]]
        if missing:
            raise ValueError(f"{name} has missing values (NaN or NA) in columns {missing[:10]}")
        X = X.to_numpy(dtype=np.float64) if _nullable(X) else X.to_numpy()
    try:
        arr = np.asarray(X)
    except ValueError as exc:  # ragged lists
        raise ValueError(f"{name} could not be read as an array: {exc}") from None
    if arr.dtype.kind == "c":
        raise ValueError(
            f"{name} is complex-valued (Complex data not supported); pass the real "
            "features (e.g. .real, abs)"
        )
    if arr.dtype.kind not in "biuf":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise NonNumericError(
                f"{name} has non-numeric values (dtype {arr.dtype}: {exc}); convert or drop "
                "them first"
            ) from None
    if arr.ndim not in (2, 3, 4, 5):
        hint = (
            " (Reshape your data: X.reshape(-1, 1) for a single feature, X.reshape(1, -1) "
            "for a single sample)"
            if arr.ndim == 1
            else ""
        )
        raise ValueError(
            f"{name} must be (n_samples, n_features), a stack of images (N, H, W), "
            f"(N, H, W, C) or (N, C, H, W), or video clips (N, C, T, H, W); got shape "
            f"{arr.shape}{hint}"
        )
    _check_shape(arr.shape, name, estimator, sample_shape)
    if feature_names is not None and names is not None and list(feature_names) != names:
        raise ValueError(
            f"{name}'s column names differ from those seen in fit: expected "
            f"{list(feature_names)[:10]}..., got {names[:10]}..."
        )
    if arr.ndim > 2 and arr.dtype == np.uint8:  # 8-bit images: no NaN possible, keep compact
        return np.ascontiguousarray(arr), names
    with np.errstate(over="ignore"):  # too large for float32 -> inf, reported below
        # No copy when X is already C-contiguous float32 (a memory-mapped file included).
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    if finite:
        check_finite(arr, name)
    return arr, names


def _check_shape(
    shape: tuple[int, ...], name: str, estimator: str, sample_shape: tuple[int, ...] | None
) -> None:
    """Non-empty, and (after fit) the fitted sample shape or feature count."""
    if shape[0] == 0:
        raise ValueError(f"{name} is empty: 0 samples")
    if len(shape) == 2 and shape[1] == 0:
        raise ValueError(
            f"{name} is empty: 0 feature(s) (shape={tuple(shape)}) while a minimum of 1 "
            "is required."
        )
    if 0 in shape[1:]:
        raise ValueError(f"{name} is empty: samples of shape {shape[1:]}")
    if sample_shape is not None and tuple(shape[1:]) != tuple(sample_shape):
        if len(sample_shape) == 1 and len(shape) == 2:
            raise ValueError(
                f"{name} has {shape[1]} features, but {estimator.split()[-1]} is expecting "
                f"{sample_shape[0]} features as input ({estimator} was fitted with "
                f"{sample_shape[0]})"
            )
        raise ValueError(
            f"{name} has samples of shape {tuple(shape[1:])}, but {estimator} was fitted "
            f"on samples of shape {tuple(sample_shape)}"
        )


def check_finite(arr: np.ndarray, name: str = "X") -> None:
    """Raise ``ValueError`` on NaN/inf, naming how many rows hold them and the first,
    checking a block of rows at a time (no full-size mask)."""
    per_row = max(1, int(np.prod(arr.shape[1:])))
    step = max(1, _CHECK_ELEMENTS // per_row)
    n_bad, first, has_nan, has_inf = 0, -1, False, False
    for start in range(0, len(arr), step):
        block = arr[start : start + step].reshape(-1, per_row)
        # Fast path: a NaN or inf makes the sum non-finite, so a finite sum clears the
        # block in one pass without a mask (a sum that overflows takes the slow path).
        with np.errstate(over="ignore", invalid="ignore"):  # inf/NaN sums are expected here
            clear = np.isfinite(block.sum())
        if clear:
            continue
        bad_rows = ~np.isfinite(block).all(axis=1)
        if not bad_rows.any():
            continue
        if first < 0:
            first = start + int(np.flatnonzero(bad_rows)[0])
        n_bad += int(bad_rows.sum())
        has_nan = has_nan or bool(np.isnan(block[bad_rows]).any())
        has_inf = has_inf or bool(np.isinf(block[bad_rows]).any())
    if n_bad:
        kinds = " and ".join(k for k, hit in (("NaN", has_nan), ("inf", has_inf)) if hit)
        raise ValueError(
            f"{name} contains {kinds} (or values too large for float32) "
            f"in {n_bad} row(s), first at row {first}"
        )


def _nullable(df: Any) -> bool:
    """Whether a DataFrame has pandas extension (nullable) columns, e.g. ``Int64``."""
    return any(not isinstance(dt, np.dtype) for dt in df.dtypes)


def _is_numeric_dtype(dtype: Any) -> bool:
    kind = getattr(dtype, "kind", "O")
    return kind in "biuf"
