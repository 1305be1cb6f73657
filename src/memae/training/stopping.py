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
    ``tol * |best|``. After ``patience`` epochs in a row without improvement,
    ``stopped`` turns True (``patience=None``: never).
    """

    patience: int | None
    tol: float
    best: float = math.inf
    best_epoch: int | None = None
    bad_epochs: int = 0
    stopped: bool = False
    best_state: dict[str, Tensor] | None = None

    def update(self, quantity: float, epoch: int, model: nn.Module) -> None:
        """Record epoch ``epoch``'s (1-based) ``quantity`` (lower is better)."""
        if math.isinf(self.best) or quantity < self.best - self.tol * abs(self.best):
            self.best, self.bad_epochs, self.best_epoch = quantity, 0, epoch
            self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad_epochs += 1
            if self.patience is not None and self.bad_epochs >= self.patience:
                self.stopped = True

    def meta(self) -> dict[str, Any]:
        """The JSON part of a checkpoint (the best weights are saved as tensors)."""
        return {
            "best_val": None if math.isinf(self.best) else self.best,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "stopped_early": self.stopped,
        }

    def restore(self, meta: dict[str, Any], best_state: dict[str, Tensor] | None) -> None:
        """Continue from a checkpoint's :meth:`meta` and best weights."""
        self.best = math.inf if meta["best_val"] is None else meta["best_val"]
        self.best_epoch, self.bad_epochs = meta["best_epoch"], meta["bad_epochs"]
        self.stopped, self.best_state = meta["stopped_early"], best_state
