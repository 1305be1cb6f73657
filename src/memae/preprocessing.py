"""Per-feature scaling fitted on the training rows and applied batch by batch."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

Preprocessing = Literal["standard", "minmax"] | None


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
        X64 = X.astype(np.float64, copy=False) if X.size <= 50_000_000 else X
        if method == "standard":
            offset, spread = X64.mean(axis=0), X64.std(axis=0)
        elif method == "minmax":
            offset = X64.min(axis=0)
            spread = X64.max(axis=0) - offset
        else:
            raise ValueError(f"preprocessing must be 'standard', 'minmax' or None, got {method!r}")
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
