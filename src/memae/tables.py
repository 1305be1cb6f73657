"""The columns of a user's table: identifiers, dropped columns, labels and features.

The command line reads whole files or chunks (:mod:`memae.readers`) and splits each
one here: ``--id-column`` values go to the output and are never features,
``--drop-column`` columns are discarded, ``--label-column`` holds the true 0/1 label.
At scoring time the features are the columns the model was fitted on, picked by the
names it stored (in any order in the file; other columns are ignored).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memae.readers import TableReadError

#: column names that usually hold identifiers, not measurements
_ID_NAME = re.compile(r"^(id|index|key|uuid|row|unnamed: ?\d+)$|(_id|Id|ID)$", re.I)


@dataclass
class Columns:
    """Which columns are identifiers, dropped, the label; the rest are features."""

    ids: Sequence[str] = ()
    drop: Sequence[str] = ()
    label: str | None = None
    #: the model's feature names (score time): features are picked by name
    features: Sequence[str] | None = None
    #: columns seen in the table but not used (filled by :meth:`split`)
    ignored: list[str] = field(default_factory=list)

    def split(self, table: Any) -> tuple[Any, Any, np.ndarray | None]:
        """``(features, ids or None, labels or None)`` of one table or chunk.

        DataFrames are split by name (an integer string also selects by position);
        2-D arrays by column index.
        """
        if hasattr(table, "columns"):
            return self._split_frame(table)
        return self._split_array(np.asarray(table))

    def _split_frame(self, frame: Any) -> tuple[Any, Any, np.ndarray | None]:
        ids = [_column(frame, c, "--id-column") for c in self.ids]
        drop = [_column(frame, c, "--drop-column") for c in self.drop]
        label = None if self.label is None else _column(frame, self.label, "--label-column")
        special = {*ids, *drop, *([label] if label is not None else [])}
        if self.features is not None:
            missing = [c for c in self.features if c not in frame.columns]
            if missing:
                raise TableReadError(
                    f"the table lacks {len(missing)} column(s) the model was fitted on: "
                    f"{missing[:10]}"
                )
            features = frame[list(self.features)]
            used = set(self.features)
            self.ignored = [str(c) for c in frame.columns if c not in used and c not in special]
        else:
            features = frame.drop(columns=list(special))
        y = None if label is None else frame[label].to_numpy()
        return features, (frame[ids] if ids else None), y

    def _split_array(self, arr: np.ndarray) -> tuple[Any, Any, np.ndarray | None]:
        if arr.ndim != 2:
            if self.ids or self.drop or self.label is not None:
                raise TableReadError(f"column options need a 2-D table, got shape {arr.shape}")
            return arr, None, None
        d = arr.shape[1]
        ids = [_index(c, d, "--id-column") for c in self.ids]
        drop = [_index(c, d, "--drop-column") for c in self.drop]
        label = None if self.label is None else _index(self.label, d, "--label-column")
        special = {*ids, *drop, *([label] if label is not None else [])}
        keep = [i for i in range(d) if i not in special]
        y = None if label is None else arr[:, label]
        id_frame = None
        if ids:
            import pandas as pd

            id_frame = pd.DataFrame({str(i): arr[:, i] for i in ids})
        return (arr[:, keep] if special else arr), id_frame, y


def _column(frame: Any, name: str, option: str) -> Any:
    if name in frame.columns:
        return name
    if str(name).lstrip("-").isdigit() and -len(frame.columns) <= int(name) < len(frame.columns):
        return frame.columns[int(name)]
    raise TableReadError(f"{option} {name!r}: no such column (columns: {list(frame.columns)[:10]})")


def _index(name: str, d: int, option: str) -> int:
    try:
        i = int(name)
    except ValueError:
        raise TableReadError(
            f"{option} {name!r}: array input has no column names; give a column index"
        ) from None
    if not -d <= i < d:
        raise TableReadError(f"{option} {i}: the table has {d} columns")
    return i % d


def identifier_like(features: Any) -> list[str]:
    """Feature columns that look like identifiers: by name, or all-distinct integers
    that count up by one (a row number). The CLI notes them; it never drops them."""
    names = [str(c) for c in getattr(features, "columns", [])]
    out = [n for n in names if _ID_NAME.search(n)]
    for c in getattr(features, "columns", []):
        col = features[c]
        if str(c) in out or col.dtype.kind not in "iu" or len(col) < 3:
            continue
        v = col.to_numpy()
        if (np.diff(v) == 1).all():
            out.append(str(c))
    return out
