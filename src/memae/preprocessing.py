"""Per-feature scaling fitted on the training rows and applied batch by batch."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

Preprocessing = Literal["standard", "minmax"] | None

_IN_MEMORY_ELEMENTS = 50_000_000  # above this, statistics are computed block by block
_BLOCK_ROWS = 1 << 16


def _blockwise_stats(X: np.ndarray, method: Preprocessing) -> tuple[np.ndarray, np.ndarray]:
    """Two passes over row blocks, never holding more than one float64 block."""
    blocks = range(0, len(X), _BLOCK_ROWS)
    if method == "minmax":
        lo = np.min([X[s : s + _BLOCK_ROWS].min(axis=0) for s in blocks], axis=0)
        hi = np.max([X[s : s + _BLOCK_ROWS].max(axis=0) for s in blocks], axis=0)
        return lo.astype(np.float64), hi.astype(np.float64) - lo
    total = sum(X[s : s + _BLOCK_ROWS].astype(np.float64).sum(axis=0) for s in blocks)
    mean = total / len(X)
    sq = sum(((X[s : s + _BLOCK_ROWS] - mean) ** 2).sum(axis=0) for s in blocks)
    return mean, np.sqrt(sq / len(X))


class Scaler:
    """``x -> (x - offset) * scale``, fitted on training data only.

    ``"standard"``: offset = mean, scale = 1/std; ``"minmax"``: offset = min,
    scale = 1/(max - min); ``None``: identity. Constant features get scale 1.
    Statistics are float32 so that transforming in batches (in torch, on the model's
    device) gives exactly the same numbers as transforming everything at once.
    """

    def __init__(self, offset: np.ndarray, scale: np.ndarray) -> None:
        self.offset = np.asarray(offset, dtype=np.float32)
        self.scale = np.asarray(scale, dtype=np.float32)
        self.identity = bool((self.offset == 0).all() and (self.scale == 1).all())
        self._cache: dict[torch.device, tuple[Tensor, Tensor]] = {}

    @classmethod
    def fit(cls, X: np.ndarray, method: Preprocessing) -> Scaler:
        shape = X.shape[1:]
        if method is None:
            return cls(np.zeros(shape), np.ones(shape))
        if method not in ("standard", "minmax"):
            raise ValueError(f"preprocessing must be 'standard', 'minmax' or None, got {method!r}")
        if method == "standard" and X.size <= _IN_MEMORY_ELEMENTS:
            X64 = X.astype(np.float64, copy=False)
            offset, spread = X64.mean(axis=0), X64.std(axis=0)
        else:  # large (maybe memory-mapped) input, or min/max, which blocks do not change
            offset, spread = _blockwise_stats(X, method)
        spread = np.where(spread > 1e-12, spread, 1.0)
        return cls(offset, 1.0 / spread)

    def __call__(self, x: Tensor) -> Tensor:
        if self.identity:
            return x
        if x.device not in self._cache:
            self._cache[x.device] = (
                torch.from_numpy(self.offset).to(x.device),
                torch.from_numpy(self.scale).to(x.device),
            )
        offset, scale = self._cache[x.device]
        return (x - offset) * scale

    def to_config(self) -> dict[str, list[float]]:
        return {"offset": self.offset.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_config(cls, cfg: dict, n_features: int) -> Scaler:
        offset, scale = np.asarray(cfg["offset"]), np.asarray(cfg["scale"])
        if offset.shape != (n_features,) or scale.shape != (n_features,):
            raise ValueError(f"preprocessing statistics do not have {n_features} entries")
        if not (np.isfinite(offset).all() and np.isfinite(scale).all()):
            raise ValueError("preprocessing statistics are not finite")
        return cls(offset, scale)
