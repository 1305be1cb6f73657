"""Choosing a detector or setting with a few labelled anomalies (``memae.select``).

The default in memae is label-free: early stopping and the weights kept follow the
unlabelled validation loss. Practitioners often hold a handful of known incidents:
too few to train a classifier, enough to choose between models. :func:`select` fits
every candidate with ``validation_data`` (so each one's epoch is also chosen by the
labelled metric) and keeps the best by that metric on the same labelled rows.

The chosen model's metric on those rows is optimistic: it was the maximum over the
candidates and epochs. Report results on other data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid


@dataclass
class Selection:
    """Result of :func:`select`.

    Attributes
    ----------
    best_estimator_ : detector
        The fitted candidate with the highest labelled metric.
    best_index_ : int
        Its row in ``results_``.
    results_ : list of dict
        One row per candidate: ``detector``, ``params``, the labelled ``metric`` on the
        validation rows, ``val_loss`` (the lowest unlabelled validation loss, or None),
        ``best_epoch`` and ``epochs``.
    metric : str
        The selection metric's name.
    unlabelled_index_ : int or None
        The candidate the unlabelled validation loss would have chosen (the lowest
        ``val_loss``; only comparable between candidates of one detector class and
        preprocessing), for comparison.
    """

    best_estimator_: Any
    best_index_: int
    results_: list[dict[str, Any]] = field(default_factory=list)
    metric: str = "roc_auc"
    unlabelled_index_: int | None = None

    def table(self) -> str:
        """The results as a markdown table (the chosen row marked)."""
        lines = [
            f"| # | detector | parameters | {self.metric} (labelled) | lowest unlabelled "
            "validation loss | best epoch of |",
            "|---|---|---|---|---|---|",
        ]
        for i, r in enumerate(self.results_):
            mark = " (chosen)" if i == self.best_index_ else ""
            mark += " (lowest loss)" if i == self.unlabelled_index_ else ""
            loss = "–" if r["val_loss"] is None else f"{r['val_loss']:.6g}"
            lines.append(
                f"| {i}{mark} | {r['detector']} | {r['params']} | {r['metric']:.4f} | {loss} | "
                f"{r['best_epoch']} of {r['epochs']} |"
            )
        return "\n".join(lines)


def select(
    candidates: Any,
    X: Any,
    validation_data: tuple[Any, Any],
    *,
    param_grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]] | None = None,
    selection_metric: str = "roc_auc",
) -> Selection:
    """Fit a small grid of detectors or settings; keep the best by a labelled metric.

    Parameters
    ----------
    candidates : detector or sequence of detectors
        Unfitted memae detectors (cloned, never modified).
    X : array-like
        Training data (mostly normal), as for ``fit``.
    validation_data : (X_val, y_val)
        Labelled rows (``y_val`` 1 = anomaly), disjoint from any test data.
    param_grid : dict or list of dicts, optional
        Settings tried on every candidate (scikit-learn's ``ParameterGrid``).
    selection_metric : {"roc_auc", "average_precision"}

    Returns
    -------
    Selection

    Examples
    --------
    >>> sel = memae.select(memae.AutoEncoder(random_state=0), X, (X_val, y_val),
    ...                    param_grid={"latent_dim": [2, 8]})  # doctest: +SKIP
    >>> print(sel.table()); det = sel.best_estimator_  # doctest: +SKIP
    """
    from memae.detectors.base import SELECTION_METRICS

    if selection_metric not in SELECTION_METRICS:
        raise ValueError(
            f"selection_metric must be one of {sorted(SELECTION_METRICS)}, got {selection_metric!r}"
        )
    bases = [candidates] if hasattr(candidates, "fit") else list(candidates)
    if not bases:
        raise ValueError("select needs at least one candidate detector")
    grid = list(ParameterGrid(param_grid if param_grid is not None else {}))
    metric = SELECTION_METRICS[selection_metric]
    y_val = np.asarray(validation_data[1])
    fitted, rows = [], []
    for base in bases:
        for params in grid:
            det = clone(base).set_params(**params)
            det.fit(X, validation_data=validation_data, selection_metric=selection_metric)
            losses = [h["val_loss"] for h in det.history_ if "val_loss" in h]
            fitted.append(det)
            rows.append(
                {
                    "detector": type(det).__name__,
                    "params": dict(params),
                    "metric": float(metric(y_val, det.decision_function(validation_data[0]))),
                    "val_loss": min(losses) if losses else None,
                    "best_epoch": det.best_epoch_,
                    "epochs": len(det.history_),
                }
            )
    best = int(np.argmax([r["metric"] for r in rows]))
    with_loss = [i for i, r in enumerate(rows) if r["val_loss"] is not None]
    lowest = min(with_loss, key=lambda i: rows[i]["val_loss"]) if with_loss else None
    return Selection(fitted[best], best, rows, selection_metric, lowest)
