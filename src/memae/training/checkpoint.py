"""Checkpoints of a training run: model, optimiser, best weights and bookkeeping.

A checkpoint is a safetensors file (tensors) and a JSON file (the epoch, the
early-stopping state, the history, a fingerprint of the run and the checksum of the
tensors file), both written to a temporary name, flushed and renamed, so a run killed
mid-write leaves the previous one. The fingerprint (the detector class and its
training parameters, the trainer settings, network shapes, data, labelled monitor)
keeps a checkpoint from being resumed by another run; the checksum catches a damaged
file or a torn pair.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes
from torch import Tensor, nn

from memae.io import write_atomic
from memae.training.config import TrainConfig, TrainingError

CHECKPOINT_WEIGHTS = "checkpoint.safetensors"
CHECKPOINT_STATE = "checkpoint.json"


def fingerprint(model: nn.Module, data: Tensor | np.ndarray, config: TrainConfig) -> str:
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


def write(
    directory: Path,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    best_state: dict[str, Tensor] | None,
    meta: dict[str, Any],
) -> None:
    """Save a checkpoint to ``directory`` (each file written then renamed)."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if best_state is not None:
        tensors.update({f"best.{k}": v.detach().cpu().contiguous() for k, v in best_state.items()})
    tensors.update(_flatten_optimizer(opt))
    blob = save_bytes(tensors)
    # The state names the weights' checksum: a torn pair (new weights, old state: a
    # kill between the two renames) or a damaged file is refused on resume.
    state = json.dumps({**meta, "weights_sha256": hashlib.sha256(blob).hexdigest()}).encode()
    for name, data in ((CHECKPOINT_WEIGHTS, blob), (CHECKPOINT_STATE, state)):
        write_atomic(directory / name, data)  # temporary file, fsync, rename


def read(directory: Path, run_id: str) -> tuple[dict[str, Any], dict[str, Tensor]] | None:
    """``(meta, tensors)`` of the checkpoint in ``directory``, or None if there is none.

    Raises TrainingError if it is unreadable or belongs to another run.
    """
    state_path, weights_path = directory / CHECKPOINT_STATE, directory / CHECKPOINT_WEIGHTS
    if not state_path.exists():
        return None
    try:
        meta = json.loads(state_path.read_text())
        blob = weights_path.read_bytes()
    except Exception as exc:  # corrupt or half-written checkpoint
        raise TrainingError(f"cannot read the checkpoint in {directory}: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("fingerprint") != run_id:
        raise TrainingError(
            f"the checkpoint in {directory} belongs to another run (another detector, "
            "different data, settings or network); delete it, use another checkpoint "
            "directory, or pass resume=False to start afresh"
        )
    if meta.get("weights_sha256") != hashlib.sha256(blob).hexdigest():
        raise TrainingError(
            f"the checkpoint in {directory} is damaged or torn (its weights do not match the "
            "checksum in its state file); delete it or pass resume=False to start afresh"
        )
    _check_meta(meta, directory)
    try:
        return meta, load_bytes(blob)
    except Exception as exc:
        raise TrainingError(f"cannot read the checkpoint in {directory}: {exc}") from None


def _check_meta(meta: dict[str, Any], directory: Path) -> None:
    """The bookkeeping a resume relies on has the right types and ranges."""
    ok = (
        isinstance(meta.get("epoch"), int)
        and meta["epoch"] >= 0
        and isinstance(meta.get("history"), list)
        and len(meta["history"]) == meta["epoch"]
        and isinstance(meta.get("bad_epochs"), int)
        and meta["bad_epochs"] >= 0
        and isinstance(meta.get("stopped_early"), bool)
        and (meta.get("best_val") is None or isinstance(meta["best_val"], (int, float)))
        and isinstance(meta.get("lr", []), list)
        and all(isinstance(lr, (int, float)) and lr > 0 for lr in meta.get("lr", []))
    )
    if not ok:
        raise TrainingError(f"the checkpoint state in {directory} is invalid (edited?)")


def restore(
    tensors: dict[str, Tensor], model: nn.Module, opt: torch.optim.Optimizer, device: torch.device
) -> dict[str, Tensor] | None:
    """Load a checkpoint's model and optimiser state; return its best weights (if any)."""
    model.load_state_dict(
        {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True
    )
    _restore_optimizer(opt, tensors)
    best = {k[5:]: v.to(device) for k, v in tensors.items() if k.startswith("best.")}
    return best or None


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
