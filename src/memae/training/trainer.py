"""The one training loop every detector uses.

Shuffled mini-batches under an optimiser (Adam by default), an optional validation
split with early stopping on an *unlabelled* criterion (or on a labelled
``monitor``), a tqdm progress bar, a hard stop on NaN/inf losses, and checkpoints
that can be resumed bit-exactly. The parts live in their own modules:
:mod:`~memae.training.config` (settings, result), :mod:`~memae.training.stopping`
(early stopping) and :mod:`~memae.training.checkpoint` (checkpoint files).

Exact resumption works because nothing random is carried from one epoch to the
next: the shuffling order and any stochastic layer of epoch ``e`` are seeded from
``(seed, e)``. A checkpoint therefore only needs the model, the optimizer state and
the early-stopping bookkeeping.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import update_bn
from torch.utils.data import DistributedSampler
from tqdm.auto import tqdm

from memae import distributed
from memae.training import checkpoint as ckpt
from memae.training.config import (
    PLATEAU_FACTOR,
    EpochCallback,
    LossFn,
    TrainConfig,
    TrainingError,
    TrainResult,
)
from memae.training.stopping import EarlyStopping

Monitor = Callable[[nn.Module], float]


def adam(model: nn.Module, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """The default optimiser: Adam over ``model``'s parameters.

    ``fused=True``: one kernel for all parameters instead of a Python loop over them
    (the models are small, so the per-tensor loop is a visible share of a step).
    """
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)


def train(
    model: nn.Module,
    data: Tensor | np.ndarray,
    loss_fn: LossFn,
    config: TrainConfig,
    *,
    transform: Callable[[Tensor], Tensor] | None = None,
    device: torch.device | str = "cpu",
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    resume: bool = True,
    callbacks: Sequence[EpochCallback] = (),
    monitor: Monitor | None = None,
    monitor_id: str = "",
    identity: str = "",
    optimizer: Callable[[nn.Module], torch.optim.Optimizer] | None = None,
) -> TrainResult:
    """Train ``model`` in place on the rows of ``data`` and return its history.

    Inside a ``torch.distributed`` process group of several processes (see
    :mod:`memae.distributed`) the model is wrapped in ``DistributedDataParallel``;
    each epoch's rows are split between the ranks by ``DistributedSampler`` and
    ``batch_size`` stays the *global* batch (each rank takes ``ceil(batch_size /
    world_size)`` rows a step), so the same settings train the same model whatever
    the number of processes. Losses and early-stopping decisions are reduced over
    the ranks; only rank 0 writes checkpoints.

    Parameters
    ----------
    model : nn.Module
        Trained in place; moved to ``device``.
    data : Tensor or ndarray
        Training samples ``(n, *sample_shape)``, float32. A numpy array (a
        ``np.memmap`` too) is read one batch at a time and never copied whole.
    loss_fn : callable
        ``loss_fn(model, batch)`` returning ``{"loss": ..., "validation": ...}`` (see
        :data:`memae.training.config.LossFn`); ``"validation"`` (default: ``"loss"``)
        is what the validation split monitors, recorded as ``val_loss``. It must use
        the model only through ``model(batch)``: under DDP ``model`` is the
        ``DistributedDataParallel`` wrapper (this module is the only place that wraps).
    config : TrainConfig
    transform : callable, optional
        Applied to every batch on the device before ``loss_fn`` (the preprocessing).
    device : torch.device or str
    checkpoint_dir : path, optional
        Write a checkpoint there every ``checkpoint_every`` epochs (and at the end).
        With several processes all ranks read it on resume, so it must be on storage
        they share.
    resume : bool
        If ``checkpoint_dir`` holds a checkpoint of this same run, continue from it.
        The result is identical to an uninterrupted run.
    callbacks : sequence of callables
        ``cb(epoch, losses)`` after every epoch (after any checkpoint is written).
    monitor : callable, optional
        ``monitor(model) -> float``, higher is better, called in eval mode after every
        epoch (for example the ROC-AUC on labelled validation data). When given, it
        replaces the validation loss for early stopping and for the weights kept; the
        validation loss (if any) is still recorded. Recorded as ``val_metric``.
    monitor_id : str
        Identifies the monitor's data in the checkpoint fingerprint.
    identity : str
        Identifies the model being trained beyond its shapes (for a detector: its class
        and every parameter that shapes training), in the checkpoint fingerprint.
    optimizer : callable, optional
        ``optimizer(model) -> torch.optim.Optimizer``, called once the model is on
        ``device``; by default :func:`adam` with ``config.lr`` and
        ``config.weight_decay``. Its state is checkpointed.

    Raises
    ------
    TrainingError
        If a loss becomes NaN or infinite, or a checkpoint cannot be used.
    """
    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
    device = torch.device(device)
    model.to(device)
    rows = _Rows(data, transform, device)
    train_idx, val_idx = split_rows(len(rows), config)
    if config.lr_schedule == "plateau" and val_idx is None and monitor is None:
        raise ValueError(
            "lr_schedule='plateau' lowers the learning rate when the validation quantity "
            "stops improving: it needs a validation split (validation_fraction > 0) or "
            "labelled validation data"
        )
    # PreciseBN's rows: with a validation split the training rows are already in a seeded
    # random order; without one they are in file order, which may be sorted (video)
    bn_idx = train_idx if val_idx is not None else _shuffled(train_idx, config.seed)
    opt = (optimizer or partial(adam, lr=config.lr, weight_decay=config.weight_decay))(model)
    run = _Run(
        model, opt, config, checkpoint_dir, device, math.ceil(len(train_idx) / config.batch_size)
    )
    if checkpoint_dir is not None:
        run.run_id = ckpt.fingerprint(model, data, config) + identity + monitor_id
        if resume:
            run.resume()
    if not distributed.all_agree(run.start_epoch):
        raise TrainingError(
            f"the ranks found different checkpoints in {checkpoint_dir}; with several "
            "processes the checkpoint directory must be on storage every rank can read"
        )
    par = _parallel(model, device, len(train_idx), val_idx, config)
    bar = tqdm(
        total=run.epochs,
        initial=run.start_epoch,
        desc="fit",
        unit="epoch",
        disable=config.verbose == 0 or run.stop.stopped or distributed.get_rank() != 0,
        leave=False,
    )
    devices = [device.index or 0] if device.type == "cuda" else []
    # fork_rng: the seeding below must not leak into the caller's global RNG state.
    with torch.random.fork_rng(devices=devices), bar:
        for epoch in range(run.start_epoch, run.epochs):
            if run.stop.stopped:
                break
            order = _epoch_order(epoch, train_idx, par.sampler, config)
            loss = _train_epoch(par.step_model, rows, order, par.batch_size, loss_fn, opt)
            losses = {"epoch": epoch + 1, "loss": _finite_train_loss(loss, epoch)}
            precise_bn(model, rows, bn_idx, config.batch_size, config.precise_bn_batches)
            losses.update(_validate(model, rows, par.val_idx, loss_fn, par.batch_size, monitor))
            run.end_epoch(epoch + 1, losses, monitor is not None, checkpoint_every)
            bar.update(1)
            bar.set_postfix({k: f"{v:.4g}" for k, v in losses.items() if k != "epoch"})
            for cb in callbacks:
                cb(epoch + 1, losses)
    return run.finish()


class _Run:
    """A run's bookkeeping: history, early stopping, checkpoints and resumption."""

    def __init__(
        self,
        model: nn.Module,
        opt: torch.optim.Optimizer,
        config: TrainConfig,
        checkpoint_dir: str | os.PathLike | None,
        device: torch.device,
        steps_per_epoch: int,
    ) -> None:
        self.model, self.opt, self.config, self.device = model, opt, config, device
        self.epochs = config.max_epochs(steps_per_epoch)  # the cap in passes
        self.dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.result = TrainResult()
        # patience counts epochs of at least MIN_STEPS_PER_EPOCH steps (TrainConfig.patience)
        patience, self.plateau_patience = config.patience_epochs(steps_per_epoch)
        self.stop = EarlyStopping(patience, config.tol)
        self.run_id, self.start_epoch = "", 0

    def resume(self) -> None:
        """Continue from this run's checkpoint, if there is one."""
        found = ckpt.read(self.dir, self.run_id)
        if found is None:
            return
        meta, tensors = found
        best = ckpt.restore(tensors, self.model, self.opt, self.device)
        self.stop.restore(meta, best)
        self.start_epoch = meta["epoch"]
        self.result.history, self.result.selection = meta["history"], meta.get("selection")
        # the optimiser's tensors hold no learning rate: a schedule's is in the meta
        for group, lr in zip(self.opt.param_groups, meta.get("lr", ()), strict=False):
            group["lr"] = lr

    def end_epoch(
        self, epoch: int, losses: dict[str, float], labelled: bool, checkpoint_every: int
    ) -> None:
        """Early stopping on this epoch's quantity, the learning-rate schedule, the
        history and the checkpoint."""
        if "val_metric" in losses or "val_loss" in losses:
            self.result.selection = "labelled" if labelled else "unlabelled"
            if labelled:  # ties of the labelled metric go to the lower unlabelled loss
                tiebreak = losses.get("val_loss", losses.get("loss"))
                self.stop.update(-losses["val_metric"], epoch, self.model, tiebreak)
            else:
                self.stop.update(losses["val_loss"], epoch, self.model)
        if self.config.lr_schedule == "plateau":
            losses["lr"] = self.opt.param_groups[0]["lr"]  # the rate this epoch trained at
            bad = self.stop.bad_epochs
            if bad and bad % self.plateau_patience == 0 and not self.stop.stopped:
                for group in self.opt.param_groups:
                    group["lr"] *= PLATEAU_FACTOR
        self.result.history.append(losses)
        done = epoch == self.epochs or self.stop.stopped
        due = epoch % checkpoint_every == 0 or done
        if due and self.dir is not None and distributed.get_rank() == 0:
            meta = {
                "fingerprint": self.run_id,
                "epoch": epoch,
                **self.stop.meta(),
                "selection": self.result.selection,
                "history": self.result.history,
                "lr": [group["lr"] for group in self.opt.param_groups],
            }
            ckpt.write(self.dir, self.model, self.opt, self.stop.best_state, meta)

    def finish(self) -> TrainResult:
        """Install the best weights (if validated) and report."""
        if self.stop.best_state is not None:
            self.model.load_state_dict(self.stop.best_state)
        self.model.eval()
        self.result.best_epoch = self.stop.best_epoch
        self.result.stopped_early = self.stop.stopped
        return self.result


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7919 + 17) % (2**63 - 1)


class _Rows:
    """Batches of preprocessed rows from a tensor or a (memory-mapped) numpy array.

    Rows are gathered and transformed one batch at a time, so the training set is
    never copied as a whole (a memory-mapped file stays on disk / in the page cache).
    """

    def __init__(self, data: Tensor | np.ndarray, transform, device: torch.device) -> None:
        self.device = device
        self.transform = transform
        self.data = data.to(device) if isinstance(data, Tensor) else data

    def __len__(self) -> int:
        return len(self.data)

    def take(self, idx: Tensor) -> Tensor:
        if isinstance(self.data, Tensor):
            batch = self.data[idx.to(self.device)]
        else:
            batch = torch.from_numpy(self.data[idx.cpu().numpy()]).to(self.device)
        return self.transform(batch) if self.transform is not None else batch


def _shuffled(idx: Tensor, seed: int) -> Tensor:
    return idx[torch.randperm(len(idx), generator=torch.Generator().manual_seed(seed))]


def split_rows(n: int, config: TrainConfig) -> tuple[Tensor, Tensor | None]:
    """``(training rows, validation rows or None)`` of ``n`` rows, drawn from ``config.seed``."""
    n_val = config.validation_rows(n)
    if n_val == 0:
        return torch.arange(n), None
    if n - n_val < 1:
        raise ValueError(
            f"validation_fraction={config.validation_fraction} leaves no training rows "
            f"of n_samples={n}"
        )
    perm = _shuffled(torch.arange(n), config.seed)
    return perm[n_val:], perm[:n_val]


@dataclass
class _Parallel:
    """How the steps run: the (wrapped) model, the sampler, the per-rank batch."""

    step_model: nn.Module
    sampler: DistributedSampler | None
    batch_size: int
    val_idx: Tensor | None


def _parallel(
    model: nn.Module,
    device: torch.device,
    n_train: int,
    val_idx: Tensor | None,
    config: TrainConfig,
) -> _Parallel:
    """The one place where a model is wrapped in ``DistributedDataParallel``.

    In a single process nothing is wrapped. With several, parameters (memory items
    included) are broadcast from rank 0 and their gradients averaged at every step,
    so the ranks keep identical weights; each rank scores its share of the
    validation rows.
    """
    world = distributed.get_world_size()
    if world == 1:
        return _Parallel(model, None, config.batch_size, val_idx)
    ids = [device.index] if device.type == "cuda" else None
    if device.type == "cuda":
        # Batch statistics over the global batch (conv backbones); SyncBatchNorm needs
        # CUDA, so on CPU each rank normalises by its own share of the batch.
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    rank = distributed.get_rank()
    sampler = DistributedSampler(
        range(n_train), num_replicas=world, rank=rank, shuffle=True, seed=config.seed
    )
    val = None if val_idx is None else val_idx[rank::world]
    return _Parallel(
        DistributedDataParallel(model, device_ids=ids), sampler, -(-config.batch_size // world), val
    )


def _epoch_order(
    epoch: int, train_idx: Tensor, sampler: DistributedSampler | None, config: TrainConfig
) -> Tensor:
    """This epoch's training rows in order; also seeds its stochastic layers."""
    # Stochastic layers draw from a per-rank stream; the shuffle is shared.
    torch.manual_seed(_epoch_seed(config.seed, epoch) + distributed.get_rank())
    if sampler is None:
        gen = torch.Generator().manual_seed(_epoch_seed(config.seed, epoch))
        return train_idx[torch.randperm(len(train_idx), generator=gen)]
    sampler.set_epoch(epoch)
    return train_idx[torch.tensor(list(sampler), dtype=torch.long)]


def _train_epoch(
    step_model: nn.Module,
    rows: _Rows,
    order: Tensor,
    batch_size: int,
    loss_fn: LossFn,
    opt: torch.optim.Optimizer,
) -> float:
    """One pass over ``order``; the mean training loss over every rank's rows."""
    step_model.train()
    loss_sum = torch.zeros((), device=rows.device, dtype=torch.float64)
    for start in range(0, len(order), batch_size):
        batch = rows.take(order[start : start + batch_size])
        loss = _train_loss(loss_fn, step_model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum.add_(loss.detach(), alpha=len(batch))
    count = torch.tensor(float(len(order)), dtype=torch.float64, device=rows.device)
    total = distributed.all_reduce_sum(torch.stack([loss_sum, count]))
    return float(total[0] / total[1])


def precise_bn(model: nn.Module, rows: _Rows, idx: Tensor, batch_size: int, batches: int) -> None:
    """Recompute ``model``'s batch norm running statistics from the first ``batches``
    batches of the rows ``idx`` (PreciseBN): each layer's running mean and variance
    become the plain averages of its batch statistics under the current weights.

    The same rows on every rank, so distributed ranks agree. A last batch of one row
    is left out (batch norm needs two values per channel). No-op without batch norm.
    """
    if batches == 0 or not any(isinstance(m, _BatchNorm) for m in model.modules()):
        return
    n = min(len(idx), batches * batch_size)
    chunks = [idx[s : min(s + batch_size, n)] for s in range(0, n, batch_size)]
    chunks = [c for c in chunks if len(c) > 1]
    if chunks:
        with torch.no_grad():
            update_bn((rows.take(c) for c in chunks), model)


def _finite_train_loss(loss: float, epoch: int) -> float:
    if not math.isfinite(loss):
        raise TrainingError(
            f"the training loss became {loss} in epoch {epoch + 1}; lower the "
            "learning rate or check the input scaling (preprocessing)"
        )
    return loss


def _validate(
    model: nn.Module,
    rows: _Rows,
    val_idx: Tensor | None,
    loss_fn: LossFn,
    batch_size: int,
    monitor: Monitor | None,
) -> dict[str, float]:
    """``val_loss`` (with a validation split) and ``val_metric`` (with a monitor)."""
    out = {}
    if val_idx is not None:
        val_sum = _loss_sum(model, rows, val_idx, loss_fn, batch_size)
        out["val_loss"] = _finite_mean(distributed.all_reduce_sum(val_sum))
    if monitor is not None:
        model.eval()
        out["val_metric"] = float(monitor(model))
    return out


def _train_loss(loss_fn: LossFn, model: nn.Module, batch: Tensor) -> Tensor:
    """``loss_fn(model, batch)["loss"]``, with batch norm's one-value error made clear."""
    try:
        return loss_fn(model, batch)["loss"]
    except ValueError as err:
        # torch's message names neither the sample count nor a remedy.
        if "more than 1 value per channel" not in str(err):
            raise
        raise ValueError(
            f"a training batch of {len(batch)} sample(s) leaves batch norm a single value "
            "per channel (the inputs are too small for this backbone's downsampling); "
            "use more training samples, a larger batch_size or larger inputs"
        ) from None


def validation_value(losses: dict[str, Tensor]) -> Tensor:
    """What a validation split monitors: ``"validation"``, else ``"loss"``."""
    return losses.get("validation", losses["loss"])


@torch.no_grad()
def _loss_sum(
    model: nn.Module, rows: _Rows, idx: Tensor, loss_fn: LossFn, batch_size: int
) -> Tensor:
    """``[sum of the validation value * batch rows, rows]`` over ``idx`` in eval mode.

    The sum stays on the device (float64, as the host sum was): no host sync per batch.
    """
    model.eval()
    value_sum = torch.zeros((), dtype=torch.float64, device=rows.device)
    for start in range(0, len(idx), batch_size):
        batch = rows.take(idx[start : start + batch_size])
        value_sum.add_(validation_value(loss_fn(model, batch)).detach(), alpha=len(batch))
    count = torch.tensor(float(len(idx)), dtype=torch.float64, device=rows.device)
    return torch.stack([value_sum, count])


def _finite_mean(total: Tensor) -> float:
    """``total[0] / total[1]`` from :func:`_loss_sum`; a NaN/inf validation loss stops training."""
    value = float(total[0] / total[1])
    if not math.isfinite(value):
        raise TrainingError(f"the validation loss became {value}")
    return value


def evaluate_loss(
    model: nn.Module,
    data: Tensor | np.ndarray,
    loss_fn: LossFn,
    batch_size: int,
    transform: Callable[[Tensor], Tensor] | None = None,
) -> float:
    """Mean validation value (``"validation"``, else ``"loss"``) over ``data`` in eval
    mode (no gradient)."""
    device = next(model.parameters()).device
    total = _loss_sum(
        model, _Rows(data, transform, device), torch.arange(len(data)), loss_fn, batch_size
    )
    return _finite_mean(total)
