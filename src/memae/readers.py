"""Tables from files: read whole (:func:`read_table`) or streamed in chunks (:func:`iter_table`).

Supported: CSV (``.csv``/``.csv.gz``/``.txt``; the header row is optional and detected:
a first row of numbers is data, unless it is pandas' default names ``0, 1, ..., d - 1``),
NPY, NPZ and Parquet. :func:`iter_table` keeps at most one chunk in memory: NPY is memory-mapped one
chunk at a time (each map is closed before the next, so the process never holds more
than a chunk of the file), Parquet is read record batch by record batch with pyarrow,
CSV with pandas' chunked reader. NPZ members are compressed zip entries that cannot
be mapped, so an NPZ array is loaded whole and then sliced.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_CHUNKSIZE = 100_000


class TableReadError(ValueError):
    """A file cannot be read as a table (missing, unsupported, malformed)."""


def _suffix(file: Path) -> str:
    return "".join(file.suffixes[-2:]) if file.suffix == ".gz" else file.suffix


def _check_file(path: str | os.PathLike) -> tuple[Path, str]:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = _suffix(file)
    if suffix not in (".npy", ".npz", ".csv", ".csv.gz", ".txt", ".parquet", ".pq"):
        raise TableReadError(
            f"unsupported file type {suffix or '(none)'}: use .csv, .npy, .npz or .parquet"
        )
    return file, suffix


def read_table(
    path: str | os.PathLike,
    label_column: str | None = None,
    key: str | None = None,
    *,
    mmap: bool = False,
) -> Any:
    """Read a whole table: a 2-D array (NPY/NPZ) or a DataFrame (CSV/Parquet).

    Parameters
    ----------
    path : path to a .csv, .csv.gz, .txt, .npy, .npz or .parquet file
    label_column : str, optional
        Column to drop (a name, or an index for headerless or array input).
    key : str, optional
        Array name inside an .npz file (needed when it holds several).
    mmap : bool
        Memory-map an .npy file instead of reading it (for training on data larger
        than memory; the array is used in place when it is float32).
    """
    file, suffix = _check_file(path)
    if suffix == ".npy":
        return _drop_array_column(np.load(file, mmap_mode="r" if mmap else None), label_column)
    if suffix == ".npz":
        return _drop_array_column(_npz_array(file, key), label_column)
    if suffix in (".parquet", ".pq"):
        pd = _pandas()
        try:
            frame = pd.read_parquet(file)
        except ImportError:
            raise TableReadError("reading Parquet needs pyarrow: pip install pyarrow") from None
        return _drop_frame_column(frame, label_column, file)
    pd = _pandas()
    header = _csv_header(file)
    return _drop_frame_column(pd.read_csv(file, header=header), label_column, file)


def iter_table(
    path: str | os.PathLike,
    chunksize: int = DEFAULT_CHUNKSIZE,
    label_column: str | None = None,
    key: str | None = None,
) -> Iterator[Any]:
    """Yield consecutive chunks of at most ``chunksize`` rows of a table file.

    Chunks are 2-D arrays (NPY/NPZ) or DataFrames (CSV/Parquet, keeping the column
    names so a detector can check them), in file order. Parameters as in
    :func:`read_table`.
    """
    if int(chunksize) < 1:
        raise ValueError(f"chunksize must be >= 1, got {chunksize}")
    chunksize = int(chunksize)
    file, suffix = _check_file(path)
    if suffix == ".npy":
        yield from _iter_npy(file, chunksize, label_column)
    elif suffix == ".npz":
        data = _drop_array_column(_npz_array(file, key), label_column)
        for start in range(0, len(data), chunksize):
            yield data[start : start + chunksize]
    elif suffix in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise TableReadError("reading Parquet needs pyarrow: pip install pyarrow") from None
        _pandas()
        with pq.ParquetFile(file) as pf:
            for batch in pf.iter_batches(batch_size=chunksize):
                yield _drop_frame_column(batch.to_pandas(), label_column, file)
    else:
        pd = _pandas()
        header = _csv_header(file)
        with pd.read_csv(file, header=header, chunksize=chunksize) as reader:
            for frame in reader:
                yield _drop_frame_column(frame, label_column, file)


def _iter_npy(file: Path, chunksize: int, label_column: str | None) -> Iterator[np.ndarray]:
    whole = np.load(file, mmap_mode="r")
    shape, dtype, offset, fortran = whole.shape, whole.dtype, whole.offset, whole.flags.f_contiguous
    del whole
    if len(shape) != 2:
        raise TableReadError(f"{file} holds an array of shape {shape}, not a 2-D table")
    n, d = shape
    if fortran and d > 1:
        # Column-major rows are not contiguous on disk: map the file once and copy row
        # slices (the OS may keep touched pages resident, but they are file-backed).
        data = np.load(file, mmap_mode="r")
        for start in range(0, n, chunksize):
            yield _drop_array_column(np.array(data[start : start + chunksize]), label_column)
        return
    row_bytes = d * dtype.itemsize
    for start in range(0, n, chunksize):
        rows = min(chunksize, n - start)
        # A fresh map per chunk, copied and closed, so resident memory stays one chunk.
        mm = np.memmap(
            file, dtype=dtype, mode="r", offset=offset + start * row_bytes, shape=(rows, d)
        )
        chunk = np.array(mm)
        del mm
        yield _drop_array_column(chunk, label_column)


def _npz_array(file: Path, key: str | None) -> np.ndarray:
    with np.load(file, allow_pickle=False) as npz:
        if key is None and len(npz.files) != 1:
            raise TableReadError(f"{file} holds arrays {npz.files}; choose one with key/--key")
        name = key or npz.files[0]
        if name not in npz.files:
            raise TableReadError(f"{file} has no array {name!r} (found {npz.files})")
        return npz[name]


def _drop_array_column(data: np.ndarray, label_column: str | None) -> np.ndarray:
    if label_column is None:
        return data
    if data.ndim != 2:
        raise TableReadError(f"cannot drop a label column: the array has shape {data.shape}")
    try:
        col = int(label_column)
    except ValueError:
        raise TableReadError("the label column must be a column index for array input") from None
    return np.delete(data, col, axis=1)


def _drop_frame_column(frame: Any, label_column: str | None, file: Path) -> Any:
    if label_column is None:
        return frame
    col: Any = label_column
    if col not in frame.columns and str(col).lstrip("-").isdigit():
        col = frame.columns[int(col)]
    if col not in frame.columns:
        raise TableReadError(f"no column {label_column!r} in {file}")
    return frame.drop(columns=[col])


def _csv_header(file: Path) -> int | None:
    """``0`` when the first row is a header, ``None`` when it is data (all numbers).

    A first row of exactly ``0, 1, ..., d - 1`` is a header too: the column names
    pandas writes for an unnamed DataFrame (``df.to_csv(index=False)``).
    """
    pd = _pandas()
    first = pd.read_csv(file, nrows=1, header=None, dtype=str).iloc[0]
    if [str(v).strip() for v in first] == [str(i) for i in range(len(first))]:
        return 0
    return None if all(_is_number(v) for v in first) else 0


def _is_number(value: Any) -> bool:
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
    return True


def _pandas():
    try:
        import pandas as pd
    except ImportError:
        raise TableReadError(
            "reading CSV/Parquet needs pandas: pip install 'memae[pandas]'"
        ) from None
    return pd
