"""Tables with categorical columns: a one-hot encoding learned at ``fit`` and kept with the model.

Network-traffic and log tables carry text columns (protocol, service, flag). A
detector fitted on a DataFrame with such columns learns a :class:`TableEncoder` from
its training rows and applies the same encoder wherever it reads rows: scoring,
chunked scoring, Dask partitions, labelled validation rows and the command line. The
encoder's categories are stored in the model's ``config.json`` (never pickled), so a
model can score any other file with the same columns.

The choices, as in scikit-learn's ``OneHotEncoder(handle_unknown="infrequent_if_exist")``:

- **Which columns.** ``categorical="auto"``: text (``object``/``string``),
  ``category`` and boolean columns; or the columns named in a list; ``None`` encodes
  nothing (text columns are then an error, as before).
- **Categories** are the values seen in the training rows, sorted. With
  ``min_frequency`` (a count, or a share of the rows when below 1), rarer values are
  grouped into one "infrequent" column per categorical column.
- **Unseen values** at scoring time go to the infrequent column where the column has
  one, else to all zeros; they never shift columns and are never an error. Each call
  counts them in an :class:`UnseenCategoryWarning`.
- **Values as text.** Category values are compared as text: integral numbers as
  integers (``80`` and ``80.0`` are both ``"80"``), booleans as ``"True"``/``"False"``,
  missing values (NaN, None) as the category ``"<NA>"``.
- **Numeric columns** pass through (the detector's ``preprocessing`` then scales
  them as before); ``log1p`` (True: every numeric column whose training values are
  all >= 0; or a list of names) applies ``log(1 + x)`` first, for heavy-tailed counts
  such as byte counts. Negative values in such a column are an error at scoring time.

The output keeps the column order: a numeric column is one feature, a categorical one
its block of one-hot features (:attr:`TableEncoder.feature_names_out`).
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memae.validation import NonNumericError

#: the category that missing values (NaN, None, pd.NA) of a categorical column take
MISSING = "<NA>"
#: the name suffix of a column's infrequent (grouped) category in feature_names_out
INFREQUENT = "infrequent"
_KINDS = ("numeric", "log1p", "categorical")
_MAX_CATEGORIES = 1 << 16  # per column, in a model file


class UnseenCategoryWarning(UserWarning):
    """Scored rows hold category values that the training rows did not.

    ``counts`` maps each column to ``(number of unseen values, one example)``.
    """

    def __init__(self, message: str, counts: dict[str, tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        self.counts = dict(counts or {})


def merge_unseen(caught: list) -> dict[str, tuple[int, str]]:
    """Per column ``(count, first example)`` summed over the :class:`UnseenCategoryWarning`
    records in ``caught`` (from ``warnings.catch_warnings(record=True)``; others ignored)."""
    counts: dict[str, tuple[int, str]] = {}
    for w in caught:
        if isinstance(w.message, UnseenCategoryWarning):
            for col, (k, example) in w.message.counts.items():
                total, first = counts.get(col, (0, example))
                counts[col] = (total + k, first)
    return counts


def describe_unseen(counts: dict[str, tuple[int, str]]) -> str:
    """One sentence for :class:`UnseenCategoryWarning` counts."""
    parts = ", ".join(f"{c}: {k} (e.g. {v!r})" for c, (k, v) in counts.items())
    return (
        f"{sum(k for k, _ in counts.values())} category value(s) not seen in fit, encoded as "
        f"the column's infrequent category where it has one, else as all zeros: {parts}"
    )


def is_categorical_dtype(dtype: Any) -> bool:
    """Text, ``category`` or boolean: the columns ``categorical="auto"`` encodes."""
    return getattr(dtype, "kind", "O") not in "iuf"


def wants_encoding(X: Any, categorical: Any, log1p: Any) -> bool:
    """Whether a detector fitted on ``X`` with these parameters needs an encoder."""
    columns = getattr(X, "columns", None)
    if columns is None or not hasattr(X, "dtypes"):  # not a DataFrame
        if (categorical not in (None, "auto") and len(categorical)) or _log1p_asked(log1p):
            raise ValueError(
                "categorical columns and log1p need a pandas DataFrame (they name columns); "
                f"got {type(X).__name__}"
            )
        return False
    if categorical is None:
        return _log1p_asked(log1p)
    if categorical == "auto":
        return _log1p_asked(log1p) or any(is_categorical_dtype(dt) for dt in X.dtypes)
    return True


def _log1p_asked(log1p: Any) -> bool:
    if isinstance(log1p, (bool, np.bool_)):
        return bool(log1p)
    return log1p is not None and len(log1p) > 0


@dataclass(frozen=True)
class TableEncoder:
    """The fitted encoding of a table's columns (see the module docs).

    Parameters
    ----------
    columns : tuple of str
        The input columns, in fit order.
    kinds : tuple of {"numeric", "log1p", "categorical"}
        One per column.
    categories : dict of str to tuple of str
        Each categorical column's frequent categories (sorted): one output each.
    infrequent : dict of str to tuple of str
        Each categorical column's grouped rare categories (sorted); when not empty, the
        column has one more output, the infrequent bucket, which also takes unseen values.
    """

    columns: tuple[str, ...]
    kinds: tuple[str, ...]
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    infrequent: dict[str, tuple[str, ...]] = field(default_factory=dict)

    # ------------------------------------------------------------------- fitting
    @classmethod
    def fit(
        cls,
        X: Any,
        *,
        categorical: str | Sequence[str] | None = "auto",
        min_frequency: float | None = None,
        log1p: bool | Sequence[str] = False,
    ) -> TableEncoder:
        """Learn the encoding of DataFrame ``X``'s columns from its rows."""
        columns = [str(c) for c in X.columns]
        if len(set(columns)) != len(columns):
            raise ValueError(f"X has duplicate column names: {_duplicates(columns)}")
        if len(X) == 0:
            raise ValueError("X is empty: 0 samples")
        by_name = dict(zip(columns, X.columns, strict=True))
        if categorical == "auto":
            cat = {c for c in columns if is_categorical_dtype(X[by_name[c]].dtype)}
        else:
            cat = set(_names(categorical or (), columns, "categorical"))
        if isinstance(log1p, (bool, np.bool_)):
            logged = None if log1p else set()  # None: every column with no negative value
        else:
            logged = set(_names(log1p, columns, "log1p"))
            both = sorted(logged & cat)
            if both:
                raise ValueError(f"log1p names categorical columns: {both}")
        kinds, categories, infrequent = [], {}, {}
        threshold = _min_count(min_frequency, len(X))
        for c in columns:
            values = X[by_name[c]]
            if c in cat:
                kinds.append("categorical")
                uniq, counts = np.unique(as_text(_array(values)), return_counts=True)
                rare = counts < threshold
                categories[c] = tuple(str(u) for u in uniq[~rare])
                infrequent[c] = tuple(str(u) for u in uniq[rare])
                continue
            x = _numeric(values, c, "X")
            if logged is None:  # log1p=True: each numeric column read once, here
                kinds.append("log1p" if x.min() >= 0 else "numeric")
            elif c in logged:
                if x.min() < 0:
                    raise ValueError(f"log1p column {c!r} has negative values in X")
                kinds.append("log1p")
            else:
                kinds.append("numeric")
        return cls(tuple(columns), tuple(kinds), categories, infrequent)

    # ----------------------------------------------------------------- transform
    def transform(self, X: Any, name: str = "X") -> np.ndarray:
        """The encoded rows of ``X``: float32 ``(n, n_outputs)``.

        ``X`` is a DataFrame holding the fitted columns (in any order; other columns
        are an error), or a 2-D array with the fitted columns in fit order.
        Warns (:class:`UnseenCategoryWarning`) with the count of unseen values.
        """
        get = self._columns_of(X, name)
        n = len(get(self.columns[0]))
        out = np.zeros((n, self.n_outputs), dtype=np.float32)
        unseen: dict[str, tuple[int, str]] = {}
        for (col, start, stop), kind in zip(self.groups, self.kinds, strict=True):
            values = get(col)
            if kind != "categorical":
                x = _numeric(values, col, name)
                if kind == "log1p":
                    if (x < 0).any():
                        raise ValueError(
                            f"{name}'s column {col!r} has negative values; it was fitted with "
                            "log1p, which needs values >= 0"
                        )
                    x = np.log1p(x)
                out[:, start] = x
                continue
            text = as_text(_array(values))
            cats = np.asarray(self.categories[col], dtype=str)
            idx = np.searchsorted(cats, text) if len(cats) else np.zeros(n, dtype=np.intp)
            idx = np.minimum(idx, max(len(cats) - 1, 0))
            hit = cats[idx] == text if len(cats) else np.zeros(n, dtype=bool)
            rows = np.flatnonzero(hit)
            out[rows, start + idx[hit]] = 1.0
            if self.infrequent[col]:
                out[~hit, stop - 1] = 1.0  # grouped rare values, and unseen ones
                miss = ~hit & ~np.isin(text, np.asarray(self.infrequent[col], dtype=str))
            else:
                miss = ~hit
            if miss.any():
                unseen[col] = (int(miss.sum()), str(text[np.flatnonzero(miss)[0]]))
        if unseen:
            warning = UnseenCategoryWarning(f"{name} holds {describe_unseen(unseen)}", unseen)
            warnings.warn(warning, stacklevel=_caller_level())
        return out

    def _columns_of(self, X: Any, name: str) -> Any:
        """``column name -> values`` for a DataFrame (by name) or an array (by position)."""
        if hasattr(X, "columns") and hasattr(X, "dtypes"):
            names = {str(c): c for c in X.columns}
            missing = [c for c in self.columns if c not in names]
            extra = [c for c in names if c not in set(self.columns)]
            if missing or extra:
                raise ValueError(
                    f"{name}'s columns differ from those seen in fit: missing {missing[:10]}, "
                    f"unexpected {extra[:10]}"
                )
            if len(X) == 0:
                raise ValueError(f"{name} is empty: 0 samples")
            return lambda c: X[names[c]]
        if hasattr(X, "tocsr"):
            raise ValueError(f"{name} is a sparse matrix, which memae does not take")
        arr = np.asarray(X, dtype=object) if not isinstance(X, np.ndarray) else X
        if arr.ndim != 2 or arr.shape[1] != len(self.columns):
            raise ValueError(
                f"{name} must be a DataFrame with the columns seen in fit, or a 2-D array "
                f"of their {len(self.columns)} columns in fit order; got shape {arr.shape}"
            )
        if len(arr) == 0:
            raise ValueError(f"{name} is empty: 0 samples")
        position = {c: i for i, c in enumerate(self.columns)}
        return lambda c: arr[:, position[c]]

    # ------------------------------------------------------------------- layout
    @property
    def groups(self) -> list[tuple[str, int, int]]:
        """``(column, start, stop)``: each input column's outputs."""
        out, start = [], 0
        for col, kind in zip(self.columns, self.kinds, strict=True):
            width = 1
            if kind == "categorical":
                width = len(self.categories[col]) + (1 if self.infrequent[col] else 0)
            out.append((col, start, start + width))
            start += width
        return out

    @property
    def n_outputs(self) -> int:
        return self.groups[-1][2] if self.columns else 0

    @property
    def feature_names_out(self) -> list[str]:
        """``"col"`` for numeric columns, ``"col=value"`` and ``"col=infrequent"`` for
        the one-hot outputs."""
        out = []
        for col, kind in zip(self.columns, self.kinds, strict=True):
            if kind != "categorical":
                out.append(col)
                continue
            out += [f"{col}={v}" for v in self.categories[col]]
            if self.infrequent[col]:
                out.append(f"{col}={INFREQUENT}")
        return out

    def sum_groups(self, values: np.ndarray) -> np.ndarray:
        """Per-output values ``(n, n_outputs)`` summed back to the input columns."""
        out = np.empty((len(values), len(self.columns)), dtype=values.dtype)
        for j, (_, start, stop) in enumerate(self.groups):
            out[:, j] = values[:, start:stop].sum(axis=1)
        return out

    # ------------------------------------------------------------------ storage
    def to_config(self) -> dict[str, Any]:
        """JSON-ready description (the model file's ``fitted.encoding``)."""
        return {
            "columns": list(self.columns),
            "kinds": list(self.kinds),
            "categories": {c: list(v) for c, v in self.categories.items()},
            "infrequent": {c: list(v) for c, v in self.infrequent.items()},
        }

    @classmethod
    def from_config(cls, config: Any) -> TableEncoder:
        """Rebuild from :meth:`to_config`, refusing anything inconsistent (ValueError)."""
        if not isinstance(config, dict):
            raise ValueError("the encoding must be a JSON object")
        columns, kinds = config.get("columns"), config.get("kinds")
        categories, infrequent = config.get("categories"), config.get("infrequent")
        if not (_str_list(columns) and isinstance(kinds, list) and len(kinds) == len(columns)):
            raise ValueError("the encoding's columns and kinds must be lists of equal length")
        if not columns or len(set(columns)) != len(columns):
            raise ValueError("the encoding's columns must be distinct and not empty")
        if any(k not in _KINDS for k in kinds):
            raise ValueError(f"the encoding's kinds must be among {_KINDS}")
        if not isinstance(categories, dict) or not isinstance(infrequent, dict):
            raise ValueError("the encoding's categories must be JSON objects")
        cat = {c for c, k in zip(columns, kinds, strict=True) if k == "categorical"}
        if set(categories) != cat or set(infrequent) != cat:
            raise ValueError("the encoding's categories must name exactly its categorical columns")
        for c in cat:
            frequent, rare = categories[c], infrequent[c]
            for values in (frequent, rare):
                if not _str_list(values) or len(values) > _MAX_CATEGORIES:
                    raise ValueError(f"the categories of column {c!r} must be a list of strings")
                if list(values) != sorted(set(values)):
                    raise ValueError(f"the categories of column {c!r} must be sorted and distinct")
            if set(frequent) & set(rare):
                raise ValueError(f"column {c!r} lists a category as frequent and infrequent")
            if not frequent and not rare:
                raise ValueError(f"column {c!r} has no category")
        return cls(
            tuple(columns),
            tuple(kinds),
            {c: tuple(categories[c]) for c in columns if c in cat},
            {c: tuple(infrequent[c]) for c in columns if c in cat},
        )


def _caller_level() -> int:
    """``stacklevel`` that points a warning at the first frame outside memae."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("memae."):
        frame, level = frame.f_back, level + 1
    return level


def as_text(values: np.ndarray) -> np.ndarray:
    """Category values as a unicode array (see the module docs for the rules)."""
    values = np.asarray(values)
    if values.dtype.kind == "b":
        return np.where(values, "True", "False").astype(str)
    if values.dtype.kind in "iu":
        return values.astype(str)
    if values.dtype.kind == "U":
        return values
    return np.array([_text(v) for v in values.tolist()], dtype=str)


def _array(values: Any) -> np.ndarray:
    return values.to_numpy() if hasattr(values, "to_numpy") else np.asarray(values)


def _text(v: Any) -> str:
    if v is None:
        return MISSING
    if isinstance(v, (bool, np.bool_)):
        return "True" if v else "False"
    if isinstance(v, float):
        if math.isnan(v):
            return MISSING
        if v.is_integer():
            return str(int(v))
    if type(v).__name__ in ("NAType", "NaTType"):
        return MISSING
    return str(v)


def _numeric(values: Any, col: str, name: str) -> np.ndarray:
    """A numeric column as float64, or a clear error naming it."""
    try:
        if hasattr(values, "to_numpy"):  # a pandas Series, nullable dtypes included
            x = values.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise NonNumericError(
            f"{name}'s column {col!r} is not numeric; name it in `categorical` (the CLI's "
            "--categorical) to one-hot encode it"
        ) from None
    bad = ~np.isfinite(x)
    if bad.any():
        kind = "missing values (NaN)" if np.isnan(x[bad]).any() else "infinite values"
        raise ValueError(
            f"{name}'s column {col!r} has {kind} in {int(bad.sum())} row(s), first at row "
            f"{int(np.flatnonzero(bad)[0])}"
        )
    return x


def _min_count(min_frequency: float | None, n: int) -> float:
    if min_frequency is None:
        return 0
    if min_frequency >= 1:
        return float(min_frequency)
    return min_frequency * n


def _names(names: Any, columns: list[str], what: str) -> list[str]:
    if isinstance(names, str):
        names = [names]
    out = [str(c) for c in names]
    unknown = [c for c in out if c not in columns]
    if unknown:
        raise ValueError(f"{what} names columns that X lacks: {unknown[:10]}")
    return out


def _str_list(values: Any) -> bool:
    return isinstance(values, list) and all(isinstance(v, str) for v in values)


def _duplicates(columns: list[str]) -> list[str]:
    seen: set[str] = set()
    return sorted({c for c in columns if c in seen or seen.add(c)})
