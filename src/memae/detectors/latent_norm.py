"""The latent-norm regularised autoencoder ("Toll", Ghafourian et al., IEEE TNNLS 2024)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import Tensor, nn

from memae.constraints import non_negative
from memae.detectors.base import BaseDetector, ReconstructionMixin, shared_params
from memae.nn import AutoEncoderNet, l2_norm
from memae.preprocessing import Preprocessing
from memae.training.config import LRSchedule


class LatentNormAE(ReconstructionMixin, BaseDetector, model_key="latentnorm"):
    r"""Autoencoder whose code is pulled towards the origin; score = error + code norm.

    Ghafourian et al., "Targeted collapse regularized autoencoder for anomaly
    detection: black hole at the center" (IEEE TNNLS 2024; official code
    github.com/Soltanilara/Toll). Training minimises, over a batch,

    .. math:: \operatorname{mean}_b \|x_b - \hat x_b\|_2 + \beta \operatorname{mean}_b \|z_b\|_2

    with plain (not squared) Euclidean norms over all features / pixels and, for a
    convolutional code map, over the whole map. Normal data learns to sit near the
    centre of the latent space while staying reconstructable; anomalies land
    farther out, so the anomaly score has the same form per sample:
    ``||x - x_hat||_2 + beta * ||z||_2``. The code layer is linear (the encoder's last
    layer has no batch norm or activation, as in the official networks), so the
    penalty acts on ``z`` itself. The unlabelled validation split (if any) monitors
    the reconstruction term ``mean ||x - x_hat||_2``: the full objective would pick
    the epoch whose codes have collapsed the most.

    Parameters
    ----------
    beta : float, default=1.0
        Weight of the latent norm (the official code uses 1000 for MNIST, 10 for
        CIFAR-10 and Arrhythmia).
    backbone, hidden_dims, latent_dim, activation, kernel_sizes, preprocessing, \
categorical, min_frequency, log1p, epochs, \
batch_size, lr, weight_decay, validation_fraction, patience, contamination, device, \
precision, random_state, verbose
        As in :class:`memae.AutoEncoder`.

    Attributes
    ----------
    See :class:`memae.detectors.base.BaseDetector`.

    Notes
    -----
    The official code keeps the checkpoint with the best AUROC on a labelled
    validation set that contains anomalies. memae never looks at labels: it keeps
    the last epoch, or the epoch with the lowest objective on an unlabelled split
    of the training data (``validation_fraction > 0``).

    Presets: ``from_preset("toll-mnist" | "toll-cifar10" | "toll-arrhythmia")`` hold the
    official code's training set-ups on memae's backbones (last iterate, no labelled
    checkpoint choice); ``from_preset("mnist" | "cifar10" | "kdd")`` use the MemAE
    presets' networks and budgets with the official beta, for comparisons with the AE.

    Examples
    --------
    >>> from memae import LatentNormAE
    >>> det = LatentNormAE(beta=10.0, epochs=5, random_state=0).fit(X_train)  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        beta: float = 1.0,
        backbone: str = "auto",
        hidden_dims: Sequence[int] = (64, 32),
        latent_dim: int = 8,
        activation: str = "relu",
        kernel_sizes: Sequence[int] | None = None,
        preprocessing: Preprocessing = "standard",
        categorical: str | Sequence[str] | None = "auto",
        min_frequency: float | None = None,
        log1p: bool | Sequence[str] = False,
        epochs: int | Literal["auto"] = "auto",
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        validation_fraction: float = 0.1,
        patience: int | None = 10,
        lr_schedule: LRSchedule = "constant",
        contamination: float = 0.1,
        device: str = "auto",
        precision: str = "auto",
        random_state: int | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(**shared_params(locals()))
        self.beta = beta

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {"beta": [non_negative()]}

    def _build_network(self, sample_shape: tuple[int, ...]) -> nn.Module:
        # The code layer is linear (no batch norm, no activation), as in the official
        # networks: beta must act on z itself. With batch norm + ReLU on the code, the
        # norm penalty is met by driving the batch-norm offset negative, so the ReLU
        # outputs exact zeros and the code carries nothing (issue 23).
        bb = self._backbone(sample_shape, linear_code=True)
        return AutoEncoderNet(bb.encoder, bb.decoder)

    def _terms(self, model: nn.Module, batch: Tensor) -> tuple[Tensor, Tensor]:
        """Per-sample ``||x - x_hat||_2`` and ``||z||_2``, each ``(B,)``."""
        out = model(batch)
        return l2_norm(batch - out.reconstruction), l2_norm(out.code)

    def _loss(self, model: nn.Module, batch: Tensor) -> dict[str, Tensor]:
        recon, norm = self._terms(model, batch)
        recon = recon.mean()
        # The validation split monitors the reconstruction term only: the full
        # objective would favour the epoch whose codes have collapsed the most.
        return {"loss": recon + self.beta * norm.mean(), "validation": recon}

    def _score_batch(self, model: nn.Module, batch: Tensor) -> Tensor:
        recon, norm = self._terms(model, batch)
        return recon + self.beta * norm

    def _nan_propagates(self) -> bool:
        """``||x - x_hat||_2`` reads every input value, and ``beta ||z||`` (never
        negative) cannot cancel a non-finite error."""
        return True

    def _feature_batch(self, model: nn.Module, batch: Tensor) -> tuple[Tensor, Tensor]:
        # e_j^2 / ||e|| sum to ||e||; the code's beta ||z|| is the remainder
        out = model(batch)
        err = batch - out.reconstruction
        norm = l2_norm(err).clamp_min(1e-30).reshape((-1,) + (1,) * (batch.dim() - 1))
        return err.pow(2) / norm, self.beta * l2_norm(out.code)

    @torch.inference_mode()
    def codes(self, X: Any, batch_size: int | None = None) -> np.ndarray:
        """The codes ``z`` of ``X``, flattened: ``(n_samples, code size)`` float32.

        Their Euclidean norms are the ``||z||_2`` of the loss and the score.
        """
        arr = self._check_input(X)
        out = [self.network_(b).code.flatten(1).cpu() for _, b in self._batches(arr, batch_size)]
        return torch.cat(out).numpy()
