"""The one training loop every detector uses.

Adam over shuffled mini-batches, an optional validation split with early stopping
on the *unlabelled* reconstruction loss, a tqdm progress bar, a hard stop on
NaN/inf losses, and checkpoints that can be resumed bit-exactly.

Exact resumption works because nothing random is carried from one epoch to the
next: the shuffling order and any stochastic layer of epoch ``e`` are seeded from
``(seed, e)``. A checkpoint therefore only needs the model, the optimizer state and
the early-stopping bookkeeping.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler
from tqdm.auto import tqdm

from memae import distributed

LossFn = Callable[[nn.Module, Tensor], dict[str, Tensor]]
"""``loss_fn(model, batch) -> {"loss": scalar to minimise, "recon": reconstruction loss}``."""

EpochCallback = Callable[[int, dict[str, float]], None]

CHECKPOINT_WEIGHTS = "checkpoint.safetensors"
CHECKPOINT_STATE = "checkpoint.json"


class TrainingError(RuntimeError):
    """Training cannot go on (for example the loss became NaN or infinite)."""


@dataclass(frozen=True)
class TrainConfig:
    """Settings of :func:`train`.

    Parameters
    ----------
    epochs : int
        Maximum number of passes over the training rows.
    batch_size : int
        Mini-batch size (the last, smaller batch of an epoch is kept).
    lr : float
        Adam learning rate.
    weight_decay : float
        Adam's L2 weight decay.
    validation_fraction : float
        Share of the rows held out (at random, once) to monitor the reconstruction
        loss. ``0`` trains on everything and returns the last iterate.
    patience : int or None
        With a validation split: stop after this many epochs without improvement and
        restore the best weights. ``None`` never stops early (the best weights are
        still restored).
    seed : int
        Seeds the split, the shuffling and stochastic layers.
    verbose : int
        ``0``: silent; ``1``: a progress bar over epochs.
    tol : float
        An epoch improves on the best validation loss only if it is lower by more
        than ``tol * |best|`` (scikit-learn's ``tol``): a loss that creeps down by
        ever smaller amounts counts as converged.
    """

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0
    validation_fraction: float = 0.0
    patience: int | None = None
    seed: int = 0
    verbose: int = 0
    tol: float = 1e-4

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
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


@dataclass
class TrainResult:
    """What :func:`train` reports: per-epoch losses and where it stopped."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    resumed_from_epoch: int = 0
    #: what chose ``best_epoch``: "labelled" (the ``monitor``), "unlabelled" (the
    #: validation loss) or None (no validation: the last epoch)
    selection: str | None = None


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7919 + 17) % (2**63 - 1)


def _fingerprint(model: nn.Module, data: Tensor | np.ndarray, config: TrainConfig) -> str:
    """Identifies a run, so a checkpoint is never resumed with other data or settings."""
    h = hashlib.sha256()
    settings = {k: v for k, v in asdict(config).items() if k != "verbose"}
    h.update(json.dumps(settings, sort_keys=True).encode())
    for name, p in model.state_dict().items():
        h.update(f"{name}:{tuple(p.shape)}".encode())
    h.update(str(tuple(data.shape)).encode())
    # Block by block (data may be a memory map or lazy clips), at most 16M values each.
    rows = max(1, (1 << 24) // max(1, int(np.prod(data.shape[1:]))))
    for start in range(0, len(data), rows):
        block = data[start : start + rows]
        if isinstance(block, Tensor):
            block = block.detach().cpu().contiguous().numpy()
        h.update(np.ascontiguousarray(block).tobytes())
    return h.hexdigest()


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


def _split(n: int, config: TrainConfig) -> tuple[Tensor, Tensor | None]:
    if config.validation_fraction == 0:
        return torch.arange(n), None
    n_val = max(1, round(n * config.validation_fraction))
    if n - n_val < 1:
        raise ValueError(
            f"validation_fraction={config.validation_fraction} leaves no training rows"
        )
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(config.seed))
    return perm[n_val:], perm[:n_val]


def _flatten_optimizer(opt: torch.optim.Optimizer) -> dict[str, Tensor]:
    out = {}
    for pid, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            out[f"optim.{pid}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    return out


def _restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, Tensor]) -> None:
    sd = opt.state_dict()
    state: dict[int, dict[str, Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = value
    sd["state"] = state
    opt.load_state_dict(sd)


def _write_checkpoint(
    directory: Path,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    best_state: dict[str, Tensor] | None,
    meta: dict,
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if best_state is not None:
        tensors.update({f"best.{k}": v.detach().cpu().contiguous() for k, v in best_state.items()})
    tensors.update(_flatten_optimizer(opt))
    # Write-then-rename so that a run killed mid-write leaves the previous checkpoint.
    tmp_w = directory / (CHECKPOINT_WEIGHTS + ".tmp")
    tmp_s = directory / (CHECKPOINT_STATE + ".tmp")
    save_file(tensors, str(tmp_w))
    tmp_s.write_text(json.dumps(meta))
    os.replace(tmp_w, directory / CHECKPOINT_WEIGHTS)
    os.replace(tmp_s, directory / CHECKPOINT_STATE)


def _read_checkpoint(directory: Path, fingerprint: str) -> tuple[dict, dict[str, Tensor]] | None:
    state_path, weights_path = directory / CHECKPOINT_STATE, directory / CHECKPOINT_WEIGHTS
    if not state_path.exists():
        return None
    try:
        meta = json.loads(state_path.read_text())
        tensors = load_file(str(weights_path))
    except Exception as exc:  # corrupt or half-written checkpoint
        raise TrainingError(f"cannot read the checkpoint in {directory}: {exc}") from exc
    if meta.get("fingerprint") != fingerprint:
        raise TrainingError(
            f"the checkpoint in {directory} belongs to another run (different data, settings "
            "or network); delete it or use another checkpoint directory"
        )
    return meta, tensors


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
    monitor: Callable[[nn.Module], float] | None = None,
    monitor_id: str = "",
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
        ``loss_fn(model, batch)`` returning ``{"loss": ..., "recon": ...}``; ``"recon"``
        (the unlabelled reconstruction loss) is what the validation split monitors.
        It must use the model only through ``model(batch)``: under DDP ``model`` is
        the ``DistributedDataParallel`` wrapper.
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
    rank, world = distributed.get_rank(), distributed.get_world_size()
    train_idx, val_idx = _split(len(rows), config)
    # fused=True: one kernel for all parameters instead of a Python loop over them (the
    # models are small, so the per-tensor loop is a visible share of a step).
    opt = torch.optim.Adam(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True
    )

    result = TrainResult()
    best_val, best_state, bad_epochs, start_epoch = math.inf, None, 0, 0
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    fingerprint = _fingerprint(model, data, config) + monitor_id if ckpt_dir is not None else ""
    if ckpt_dir is not None and resume:
        found = _read_checkpoint(ckpt_dir, fingerprint)
        if found is not None:
            meta, tensors = found
            model.load_state_dict(
                {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True
            )
            _restore_optimizer(opt, tensors)
            best = {k[5:]: v.to(device) for k, v in tensors.items() if k.startswith("best.")}
            best_state = best or None
            best_val = meta["best_val"] if meta["best_val"] is not None else math.inf
            bad_epochs, start_epoch = meta["bad_epochs"], meta["epoch"]
            result.history, result.best_epoch = meta["history"], meta["best_epoch"]
            result.stopped_early = meta["stopped_early"]
            result.selection = meta.get("selection")
            result.resumed_from_epoch = start_epoch
    if not distributed.all_agree(start_epoch):
        raise TrainingError(
            f"the ranks found different checkpoints in {ckpt_dir}; with several processes "
            "the checkpoint directory must be on storage every rank can read"
        )

    def checkpoint(epoch: int) -> None:
        if ckpt_dir is None or rank != 0:
            return
        meta = {
            "fingerprint": fingerprint,
            "epoch": epoch,
            "best_val": None if math.isinf(best_val) else best_val,
            "best_epoch": result.best_epoch,
            "bad_epochs": bad_epochs,
            "stopped_early": result.stopped_early,
            "selection": result.selection,
            "history": result.history,
        }
        _write_checkpoint(ckpt_dir, model, opt, best_state, meta)

    n_train = len(train_idx)
    if world > 1:
        # Parameters (memory items included) are broadcast from rank 0 here and their
        # gradients averaged at every step, so the ranks keep identical weights.
        ids = [device.index] if device.type == "cuda" else None
        if device.type == "cuda":
            # Batch statistics over the global batch (conv backbones); SyncBatchNorm needs
            # CUDA, so on CPU each rank normalises by its own share of the batch.
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        step_model: nn.Module = DistributedDataParallel(model, device_ids=ids)
        sampler = DistributedSampler(
            range(n_train), num_replicas=world, rank=rank, shuffle=True, seed=config.seed
        )
        bs = -(-config.batch_size // world)
        if val_idx is not None:  # each rank scores its share of the validation rows
            val_idx = val_idx[rank::world]
    else:
        step_model, sampler, bs = model, None, config.batch_size
    devices = [device.index or 0] if device.type == "cuda" else []
    bar = tqdm(
        total=config.epochs,
        initial=start_epoch,
        desc="fit",
        unit="epoch",
        disable=config.verbose == 0 or result.stopped_early or rank != 0,
        leave=False,
    )
    # fork_rng: the seeding below must not leak into the caller's global RNG state.
    with torch.random.fork_rng(devices=devices), bar:
        for epoch in range(start_epoch, config.epochs):
            if result.stopped_early:
                break
            # Stochastic layers draw from a per-rank stream; the shuffle is shared.
            torch.manual_seed(_epoch_seed(config.seed, epoch) + rank)
            if sampler is None:
                gen = torch.Generator().manual_seed(_epoch_seed(config.seed, epoch))
                order = train_idx[torch.randperm(n_train, generator=gen)]
            else:
                sampler.set_epoch(epoch)
                order = train_idx[torch.tensor(list(sampler), dtype=torch.long)]
            step_model.train()
            loss_sum = torch.zeros((), device=device, dtype=torch.float64)
            for start in range(0, len(order), bs):
                batch = rows.take(order[start : start + bs])
                loss = _train_loss(loss_fn, step_model, batch)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_sum.add_(loss.detach(), alpha=len(batch))
            count = torch.tensor(float(len(order)), dtype=torch.float64, device=device)
            total = distributed.all_reduce_sum(torch.stack([loss_sum, count]))
            train_loss = float(total[0] / total[1])
            if not math.isfinite(train_loss):
                raise TrainingError(
                    f"the training loss became {train_loss} in epoch {epoch + 1}; lower the "
                    "learning rate or check the input scaling (preprocessing)"
                )
            losses = {"epoch": epoch + 1, "loss": train_loss}
            quantity = None  # what early stopping minimises this epoch
            if val_idx is not None:
                val_sum = _loss_sum(model, rows, val_idx, loss_fn, bs)
                quantity = losses["val_recon"] = _finite_mean(distributed.all_reduce_sum(val_sum))
            if monitor is not None:
                model.eval()
                losses["val_metric"] = float(monitor(model))
                quantity = -losses["val_metric"]
            if quantity is not None:
                result.selection = "unlabelled" if monitor is None else "labelled"
                if math.isinf(best_val) or quantity < best_val - config.tol * abs(best_val):
                    best_val, bad_epochs, result.best_epoch = quantity, 0, epoch + 1
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    bad_epochs += 1
                    if config.patience is not None and bad_epochs >= config.patience:
                        result.stopped_early = True
            result.history.append(losses)
            bar.update(1)
            bar.set_postfix({k: f"{v:.4g}" for k, v in losses.items() if k != "epoch"})
            done = epoch + 1 == config.epochs or result.stopped_early
            if (epoch + 1) % checkpoint_every == 0 or done:
                checkpoint(epoch + 1)
            for cb in callbacks:
                cb(epoch + 1, losses)

    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return result


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


@torch.no_grad()
def _loss_sum(
    model: nn.Module, rows: _Rows, idx: Tensor, loss_fn: LossFn, batch_size: int
) -> Tensor:
    """``[sum of loss_fn(...)["recon"] * batch rows, rows]`` over ``idx`` in eval mode."""
    model.eval()
    total = torch.zeros(2, dtype=torch.float64)
    for start in range(0, len(idx), batch_size):
        batch = rows.take(idx[start : start + batch_size])
        total[0] += float(loss_fn(model, batch)["recon"]) * len(batch)
        total[1] += len(batch)
    return total


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
    """Mean of ``loss_fn(...)["recon"]`` over ``data`` in eval mode (no gradient)."""
    device = next(model.parameters()).device
    total = _loss_sum(
        model, _Rows(data, transform, device), torch.arange(len(data)), loss_fn, batch_size
    )
    return _finite_mean(total)
