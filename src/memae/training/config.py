"""The trainer's settings, its result and its error."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Integral
from typing import Literal

from torch import Tensor, nn

LossFn = Callable[[nn.Module, Tensor], dict[str, Tensor]]
"""``loss_fn(model, batch) -> {"loss": objective, "validation": criterion (optional)}``.

``"loss"`` is the scalar minimised. ``"validation"`` is what the validation split
monitors (recorded as ``val_loss``), when it differs from the objective: for example
the reconstruction term alone of an objective with a regulariser. Other entries are
ignored by the trainer.
"""

EpochCallback = Callable[[int, dict[str, float]], None]


class TrainingError(RuntimeError):
    """Training cannot go on (for example the loss became NaN or infinite)."""


#: batches of training rows from which batch norm statistics are recomputed after
#: every epoch (:attr:`TrainConfig.precise_bn_batches`)
PRECISE_BN_BATCHES = 16

LRSchedule = Literal["constant", "plateau"]
#: the learning-rate schedules of :attr:`TrainConfig.lr_schedule`
LR_SCHEDULES: tuple[str, ...] = ("constant", "plateau")
#: ``"plateau"``: the factor applied to the learning rate at each plateau
PLATEAU_FACTOR = 0.1
#: patience counts epochs of at least this many optimiser steps (see ``TrainConfig.patience``)
MIN_STEPS_PER_EPOCH = 10
#: ``epochs="auto"``: at most this many epochs of at least :data:`MIN_STEPS_PER_EPOCH` steps
AUTO_EPOCHS = 500


@dataclass(frozen=True)
class TrainConfig:
    """Settings of :func:`memae.training.train`.

    Parameters
    ----------
    epochs : int or "auto"
        Maximum number of passes over the training rows. ``"auto"``: at most
        :data:`AUTO_EPOCHS` (500) epochs counted as :attr:`patience` counts them, in
        epochs of at least :data:`MIN_STEPS_PER_EPOCH` (10) optimiser steps: 500
        passes where an epoch has 10 or more batches, ``500 * ceil(10 / steps)``
        passes where it has fewer (5,000 on a table of one batch; :meth:`max_epochs`).
        An int is taken as given.
    batch_size : int
        Mini-batch size (the last, smaller batch of an epoch is kept).
    lr : float
        Adam learning rate.
    weight_decay : float
        Adam's L2 weight decay.
    validation_fraction : float
        Share of the rows held out (at random, once) to monitor the validation
        criterion. ``0`` trains on everything and returns the last iterate.
    patience : int or None
        With a validation split: stop after this many epochs without improvement and
        restore the best weights. ``None`` never stops early (the best weights are
        still restored). An epoch counts here as at least :data:`MIN_STEPS_PER_EPOCH`
        (10) optimiser steps: where an epoch has fewer (fewer than 10 batches of
        training rows), the wait is stretched to ``patience * ceil(10 / steps)``
        epochs (:meth:`patience_epochs`). On a table of a few hundred rows an epoch is
        one step, and 10 steps without improvement stopped VAEs at their initial
        validation loss (issue 23).
    seed : int
        Seeds the split, the shuffling and stochastic layers.
    verbose : int
        ``0``: silent; ``1``: a progress bar over epochs.
    tol : float
        An epoch improves on the best validation loss only if it is lower by more
        than ``tol * |best|`` (scikit-learn's ``tol``): a loss that creeps down by
        ever smaller amounts counts as converged.
    precise_bn_batches : int
        After every epoch, the batch norm layers' running statistics are recomputed
        for the epoch's final weights, as plain averages over this many batches of a
        seeded random sample of the training rows, the same every epoch (PreciseBN;
        ``torch.optim.swa_utils.update_bn``), so that validation
        and scoring normalise by the statistics of the weights they use. ``0`` keeps
        PyTorch's exponential running averages, which lag behind the weights; where a
        layer's input has a large mean and a small spread (the decoder's first layer
        of a MemAE reading near-uniform attention) that lag wrecks eval-mode outputs
        (issue 23). Networks without batch norm are not affected.
    lr_schedule : {"constant", "plateau"}
        ``"constant"`` keeps ``lr``. ``"plateau"`` (reduce-on-plateau) multiplies
        every parameter group's learning rate by :data:`PLATEAU_FACTOR` (0.1) each time
        the quantity early stopping watches has not improved (by the ``tol`` rule) for
        :attr:`plateau_patience` epochs in a row, so a run at its default
        ``patience=10`` gets one lower rate to improve at before it stops; an
        improvement restarts the count. It needs a validation split or a labelled
        ``monitor``. The rate lives in the optimiser's state, so checkpoints resume it.
    """

    epochs: int | Literal["auto"]
    batch_size: int
    lr: float
    weight_decay: float = 0.0
    validation_fraction: float = 0.0
    patience: int | None = None
    seed: int = 0
    verbose: int = 0
    tol: float = 1e-4
    precise_bn_batches: int = PRECISE_BN_BATCHES
    lr_schedule: LRSchedule = "constant"

    def __post_init__(self) -> None:
        whole = isinstance(self.epochs, Integral) and not isinstance(self.epochs, bool)
        if self.epochs != "auto" and not (whole and self.epochs >= 1):
            raise ValueError(f"epochs must be an int >= 1 or 'auto', got {self.epochs!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(
                f"validation_fraction must be in [0, 1), got {self.validation_fraction}"
            )
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be >= 1 or None, got {self.patience}")
        if not self.tol >= 0:
            raise ValueError(f"tol must be >= 0, got {self.tol}")
        if self.precise_bn_batches < 0:
            raise ValueError(f"precise_bn_batches must be >= 0, got {self.precise_bn_batches}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"lr_schedule must be one of {', '.join(map(repr, LR_SCHEDULES))}, "
                f"got {self.lr_schedule!r}"
            )

    @property
    def plateau_patience(self) -> int:
        """``"plateau"``: epochs without improvement before the rate drops, half of
        ``patience`` (at least 1; 5 without early stopping)."""
        return 5 if self.patience is None else max(1, self.patience // 2)

    def validation_rows(self, n_rows: int) -> int:
        """Rows of ``n_rows`` the validation split takes: none at fraction 0, else at
        least one."""
        if self.validation_fraction == 0:
            return 0
        return max(1, round(n_rows * self.validation_fraction))

    def steps_per_epoch(self, n_rows: int) -> int:
        """Optimiser steps of one epoch over ``n_rows`` rows, after the validation split."""
        return math.ceil((n_rows - self.validation_rows(n_rows)) / self.batch_size)

    def max_epochs(self, steps_per_epoch: int) -> int:
        """The cap in passes: ``epochs`` itself, or for ``"auto"`` :data:`AUTO_EPOCHS`
        stretched as :meth:`patience_epochs` stretches the patience."""
        if self.epochs != "auto":
            return self.epochs
        return AUTO_EPOCHS * _stretch(steps_per_epoch)

    def patience_epochs(self, steps_per_epoch: int) -> tuple[int | None, int]:
        """``(patience, plateau_patience)`` in epochs of ``steps_per_epoch`` steps: both
        stretched by ``ceil(MIN_STEPS_PER_EPOCH / steps_per_epoch)`` where an epoch is
        shorter than :data:`MIN_STEPS_PER_EPOCH` steps, unchanged otherwise."""
        k = _stretch(steps_per_epoch)
        patience = None if self.patience is None else self.patience * k
        return patience, self.plateau_patience * k


def _stretch(steps_per_epoch: int) -> int:
    """Passes that make one epoch of at least :data:`MIN_STEPS_PER_EPOCH` steps."""
    return max(1, math.ceil(MIN_STEPS_PER_EPOCH / max(1, steps_per_epoch)))


@dataclass
class TrainResult:
    """What :func:`memae.training.train` reports: per-epoch losses and where it stopped."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    #: what chose ``best_epoch``: "labelled" (the ``monitor``), "unlabelled" (the
    #: validation loss) or None (no validation: the last epoch)
    selection: str | None = None
