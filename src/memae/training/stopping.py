"""Early stopping: keep the best epoch's weights, stop after ``patience`` bad epochs."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn


@dataclass
class EarlyStopping:
    """Tracks the lowest monitored quantity and the weights that reached it.

    An epoch improves only if its quantity is lower than the best by more than
    ``tol * |best|``. With a ``tiebreak`` (labelled selection passes the unlabelled
    validation loss), an epoch whose quantity ties the best (within that tolerance)
    also improves when its tiebreak is lower than the best's by more than the same
    relative tolerance: a saturated labelled metric (say ROC-AUC 1.0 on a few
    labelled anomalies from the first epoch) then neither stops training at once nor
    keeps an untrained network. After ``patience`` epochs in a row without
    improvement, ``stopped`` turns True (``patience=None``: never).
    """

    patience: int | None
    tol: float
    best: float = math.inf
    best_epoch: int | None = None
    bad_epochs: int = 0
    stopped: bool = False
    best_state: dict[str, Tensor] | None = None
    best_tiebreak: float = math.inf

    def update(
        self, quantity: float, epoch: int, model: nn.Module, tiebreak: float | None = None
    ) -> None:
        """Record epoch ``epoch``'s (1-based) ``quantity`` (lower is better)."""
        margin = self.tol * abs(self.best)
        tie = tiebreak is not None and abs(quantity - self.best) <= margin
        if (
            math.isinf(self.best)
            or quantity < self.best - margin
            or (tie and tiebreak < self.best_tiebreak - self.tol * abs(self.best_tiebreak))
        ):
            self.best = quantity if not tie else min(quantity, self.best)
            self.best_tiebreak = math.inf if tiebreak is None else tiebreak
            self.bad_epochs, self.best_epoch = 0, epoch
            self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad_epochs += 1
            if self.patience is not None and self.bad_epochs >= self.patience:
                self.stopped = True

    def meta(self) -> dict[str, Any]:
        """The JSON part of a checkpoint (the best weights are saved as tensors)."""
        return {
            "best_val": None if math.isinf(self.best) else self.best,
            "best_tiebreak": None if math.isinf(self.best_tiebreak) else self.best_tiebreak,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "stopped_early": self.stopped,
        }

    def restore(self, meta: dict[str, Any], best_state: dict[str, Tensor] | None) -> None:
        """Continue from a checkpoint's :meth:`meta` and best weights."""
        self.best = math.inf if meta["best_val"] is None else meta["best_val"]
        tiebreak = meta.get("best_tiebreak")  # absent in older checkpoints
        self.best_tiebreak = math.inf if tiebreak is None else tiebreak
        self.best_epoch, self.bad_epochs = meta["best_epoch"], meta["bad_epochs"]
        self.stopped, self.best_state = meta["stopped_early"], best_state
