"""Calibrated decisions on top of the anomaly scores: thresholds, p-values, probabilities.

Every detector scores; this mixin turns scores into decisions. Three threshold rules:

- ``contamination`` (the default at ``fit``): the ``1 - contamination`` quantile of the
  training scores, PyOD's rule;
- ``fpr``: a target false-positive rate on normal data, from *calibration scores*: the
  scores of rows the network did not train on (the held-out unlabelled validation split
  of ``fit``, or the normal rows given to :meth:`DecisionMixin.calibrate`);
- a fixed score, ``set_threshold(score=...)``.

The p-values are split-conformal: with ``n`` calibration scores ``c_i``, a score ``s``
gets ``p = (1 + #{c_i >= s}) / (n + 1)``. If the calibration rows and a new normal row
are *exchangeable* (drawn from the same distribution, in no particular order), then
``P(p <= alpha) <= alpha`` for every ``alpha``, and ``set_threshold(fpr=alpha)`` flags a
new normal row with probability at most ``alpha`` (and more than ``alpha - 1/(n+1)``).
The guarantee is marginal (over the draw of the calibration rows) and breaks when
normal data drifts after calibration: calibrate again on recent normal rows then.
The held-out validation rows also chose the epoch kept (early stopping); that choice
looks at their mean loss only, and the effect on the calibration is small but not nil,
so :meth:`DecisionMixin.calibrate` on fresh normal rows is the strict version.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import erf
from scipy.stats import binom

PROBA_METHODS = ("linear", "unify")


def conformal_p_values(calibration: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``(1 + #{calibration >= s}) / (n + 1)`` for every score ``s``."""
    cal = np.sort(np.asarray(calibration, dtype=np.float64))
    n = len(cal)
    at_least = n - np.searchsorted(cal, np.asarray(scores, dtype=np.float64), side="left")
    return (1.0 + at_least) / (n + 1.0)


def fpr_threshold(calibration: np.ndarray, fpr: float) -> float:
    """The smallest calibration score ``t`` with ``P(new normal score > t) <= fpr``.

    ``t`` is the ``ceil((n + 1)(1 - fpr))``-th smallest of the ``n`` calibration
    scores; a score above it has a conformal p-value of at most ``fpr``.
    """
    cal = np.sort(np.asarray(calibration, dtype=np.float64))
    n = len(cal)
    rank = math.ceil((n + 1) * (1.0 - fpr) - 1e-9)  # 1-based; the guard absorbs rounding
    if rank > n:
        raise ValueError(
            f"fpr={fpr} needs at least {math.ceil(1 / fpr) - 1} calibration scores, "
            f"there are {n}: calibrate on more normal rows (det.calibrate(X_normal)) or "
            f"ask for a larger fpr"
        )
    return float(cal[max(rank, 1) - 1])


class DecisionMixin:
    """Thresholds, conformal p-values and PyOD's probabilities for a fitted detector.

    Expects ``decision_function``, ``decision_scores_``, ``contamination`` and
    ``_check_fitted_scores`` from :class:`memae.BaseDetector`.

    Fitted attributes
    -----------------
    calibration_scores_ : ndarray of shape (n_calibration,)
        Sorted scores of rows the network did not train on (see the module docs);
        absent when ``fit`` had no validation split and :meth:`calibrate` was not called.
    threshold_rule_ : str
        How ``threshold_`` was set: ``"contamination=0.1"``, ``"fpr=0.01"`` or
        ``"score"``.
    """

    def calibrate(self, X: Any) -> Any:
        """Use the scores of ``X`` (normal rows the model did not train on) as the
        calibration scores for :meth:`p_values` and ``set_threshold(fpr=...)``.

        An existing ``fpr`` threshold is recomputed on the new scores.
        """
        self._check_fitted_scores()
        scores = self.decision_function(X)
        self.calibration_scores_ = np.sort(scores)
        rule = getattr(self, "threshold_rule_", "")
        if rule.startswith("fpr="):
            self.set_threshold(fpr=float(rule[4:]))
        return self

    def set_threshold(
        self,
        *,
        fpr: float | None = None,
        contamination: float | None = None,
        score: float | None = None,
    ) -> Any:
        """Set ``threshold_`` (and ``labels_``) by one rule; returns ``self``.

        Parameters
        ----------
        fpr : float in (0, 1), optional
            Target false-positive rate on normal data: flag a row when its conformal
            p-value is at most ``fpr`` (see the module docs for the guarantee). Needs
            at least ``1/fpr - 1`` calibration scores.
        contamination : float in (0, 0.5], optional
            The ``1 - contamination`` quantile of the training scores (``fit``'s rule;
            also updates the ``contamination`` parameter).
        score : float, optional
            A fixed threshold on the score.
        """
        self._check_fitted_scores()
        rules = {"fpr": fpr, "contamination": contamination, "score": score}
        given = [name for name, value in rules.items() if value is not None]
        if len(given) != 1:
            raise ValueError(
                f"set_threshold takes exactly one of fpr, contamination, score; got {given}"
            )
        if fpr is not None:
            if not 0 < fpr < 1:
                raise ValueError(f"fpr must lie in (0, 1), got {fpr}")
            threshold, rule = fpr_threshold(self._calibration(), fpr), f"fpr={fpr:g}"
        elif contamination is not None:
            if not 0 < contamination <= 0.5:
                raise ValueError(f"contamination must lie in (0, 0.5], got {contamination}")
            self.contamination = float(contamination)
            threshold = float(np.quantile(self.decision_scores_, 1.0 - contamination))
            rule = f"contamination={contamination:g}"
        else:
            threshold, rule = float(score), "score"
            if not math.isfinite(threshold):
                raise ValueError(f"score must be finite, got {score}")
        self.threshold_ = threshold
        self.threshold_rule_ = rule
        self.labels_ = (self.decision_scores_ > threshold).astype(np.int64)
        return self

    def p_values(self, X: Any) -> np.ndarray:
        """Conformal p-values: small means unlike the calibration (normal) rows.

        ``(1 + #{calibration scores >= s}) / (n + 1)`` for each row's score ``s``; a
        normal row's p-value is (super-)uniform under exchangeability.
        """
        self._check_fitted_scores()
        return conformal_p_values(self._calibration(), self.decision_function(X))

    def predict_proba(self, X: Any, method: str = "linear") -> np.ndarray:
        """``[P(normal), P(anomaly)]`` per row, as PyOD computes them.

        ``"linear"``: the score min-max scaled by the training scores, clipped to
        [0, 1]. ``"unify"``: ``erf((s - mean) / (std * sqrt(2)))`` of the training
        scores' mean and std, clipped at 0 (Kriegel et al., SDM 2011). Neither is a
        calibrated probability; :meth:`p_values` is.
        """
        if method not in PROBA_METHODS:
            raise ValueError(f"method must be one of {PROBA_METHODS}, got {method!r}")
        self._check_fitted_scores()
        scores = self.decision_function(X)
        train = self.decision_scores_
        if method == "linear":
            lo, hi = float(train.min()), float(train.max())
            p = (scores - lo) / (hi - lo) if hi > lo else (scores > hi).astype(np.float64)
        else:
            sd = float(train.std())
            p = erf((scores - train.mean()) / (sd * math.sqrt(2))) if sd > 0 else scores * 0
        p = np.clip(p, 0.0, 1.0)
        return np.column_stack([1.0 - p, p])

    def predict_confidence(self, X: Any) -> np.ndarray:
        """How surely each prediction would stay the same under another training set.

        PyOD's ExCeeD (Perini et al., ECML-PKDD 2020): with ``k`` of the ``n`` training
        scores at most ``s``, the outlier probability ``(1 + k) / (2 + n)`` gives the
        confidence ``1 - BinomCDF(n - floor(n * contamination); n, p)`` for a flagged
        row and one minus that for a row kept as normal.
        """
        self._check_fitted_scores()
        scores = self.decision_function(X)
        train = np.sort(self.decision_scores_)
        n = len(train)
        k = np.searchsorted(train, scores, side="right")
        conf = 1.0 - binom.cdf(n - int(n * self.contamination), n, (1.0 + k) / (2.0 + n))
        flagged = scores > self.threshold_
        return np.where(flagged, conf, 1.0 - conf)

    def _calibration(self) -> np.ndarray:
        self._check_fitted()
        cal = getattr(self, "calibration_scores_", None)
        if cal is None or len(cal) == 0:
            raise ValueError(
                "no calibration scores: fit with validation_fraction > 0 (the held-out "
                "rows calibrate), or call det.calibrate(X_normal) with normal rows the "
                "model did not train on"
            )
        return cal
