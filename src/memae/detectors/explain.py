"""Per-feature (per-pixel, per-voxel) contributions to a detector's anomaly score.

A detector whose score is a sum over features, plus perhaps a term of its code,
defines ``_feature_batch(model, batch) -> (per_feature, remainder)`` in the network's
layout, with ``per_feature.flatten(1).sum(1) + remainder == score``:

- AE, MemAE, and the ``"reconstruction"`` scores of VAE / CompactVAE: the squared error
  of each feature divided by the feature count (the score is their mean); remainder 0;
  AE and MemAE with ``score_method="location_l2"``: each location's error norm over
  its channels, shared among them by their squared errors (:func:`location_l2_parts`);
- LatentNormAE: ``e_j^2 / ||e||_2`` (they sum to ``||e||_2``), remainder ``beta ||z||_2``;
- VAE ``"elbo"``: each feature's Gaussian negative log-likelihood averaged over the same
  seeded posterior draws as the score, remainder the KL term;
- CompactVAE ``"joint"``: each feature's Gaussian negative log-likelihood, remainder the
  hole score of the code.

Scores of the code alone (CompactVAE ``"hole"``, DAGMM's mixture energy) have no
per-feature part, and say so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn


class ExplainMixin:
    """``feature_scores``: what each input feature adds to the score.

    Expects :class:`memae.BaseDetector`'s ``_check_input``, ``_batches`` and
    ``scaler_``.
    """

    def _feature_batch(self, model: nn.Module, batch: Tensor) -> tuple[Tensor, Tensor]:
        """Per-feature contributions ``(B, *network_shape)`` and the rest ``(B,)``."""
        raise ValueError(
            f"{type(self).__name__}'s score has no per-feature decomposition "
            "(it scores the code, not the input's features)"
        )

    @torch.inference_mode()
    def feature_scores(
        self, X: Any, batch_size: int | None = None, *, return_remainder: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Each feature's (pixel's) contribution to each row's anomaly score.

        Parameters
        ----------
        X : array-like, as for ``decision_function``
        return_remainder : bool
            Also return the part of the score no feature carries (see the module
            docs: 0 for reconstruction scores, ``beta ||z||`` for LatentNormAE, ...).

        Returns
        -------
        scores : ndarray of shape ``X.shape`` (float64)
            ``(n_samples, n_features)`` for tables (with categorical columns: one
            value per input column, its one-hot parts summed), a map in the input's
            layout for images ``(N, H, W[, C])`` and clips. Per row,
            ``scores.sum() + remainder == decision_function`` (to float32 rounding).
        remainder : ndarray of shape (n_samples,), only with ``return_remainder``
        """
        arr = self._check_input(X)
        out = np.empty((len(arr), *self.sample_shape_), dtype=np.float64)
        rest = np.empty(len(arr), dtype=np.float64)
        for start, batch in self._batches(arr, batch_size):
            per_feature, remainder = self._feature_batch(self.network_, batch)
            per_feature = self.scaler_.to_input_layout(per_feature)
            out[start : start + len(batch)] = per_feature.double().cpu().numpy()
            rest[start : start + len(batch)] = remainder.double().cpu().numpy()
        encoder = getattr(self, "encoder_", None)
        if encoder is not None:  # one-hot parts summed back to their column
            out = encoder.sum_groups(out)
        return (out, rest) if return_remainder else out


def squared_error_parts(x: Tensor, x_hat: Tensor) -> tuple[Tensor, Tensor]:
    """``(x - x_hat)^2 / d`` per feature (they sum to the mean squared error), and 0."""
    d = x[0].numel()
    return (x - x_hat).pow(2) / d, torch.zeros(len(x), device=x.device)


def location_l2_parts(x: Tensor, x_hat: Tensor) -> tuple[Tensor, Tensor]:
    """Per feature, its location's share of :func:`memae.nn.losses.location_l2_error`, and 0.

    A location's error norm ``||e_s||`` divided by the number of locations is split
    over its channels in proportion to ``e_c^2`` (``e_c^2 / ||e_s||``, 0 where the
    location's error is 0), so the parts sum to the score.
    """
    sq = (x - x_hat).pow(2)
    norms = sq.sum(dim=1, keepdim=True).sqrt()
    locations = norms[0].numel()
    parts = torch.where(norms > 0, sq / norms.clamp_min(torch.finfo(sq.dtype).tiny), 0.0)
    return parts / locations, torch.zeros(len(x), device=x.device)


def gaussian_nll_parts(x: Tensor, x_hat: Tensor, log_scale: Tensor) -> Tensor:
    """Each feature's ``-log N(x_j; x_hat_j, exp(log_scale))`` (they sum to
    :func:`memae.nn.losses.gaussian_nll`; ``log_scale`` is one scalar)."""
    return 0.5 * ((x - x_hat).pow(2) * torch.exp(-log_scale) + log_scale + np.log(2 * np.pi))
