"""DAGMM (Zong et al., ICLR 2018): the MemAE paper's KDDCUP99 reference, as one detector."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from memae.constraints import Interval, Real, non_negative, positive_int
from memae.detectors.base import BaseDetector, ReconstructionMixin, shared_params
from memae.nn import squared_error
from memae.nn.dagmm import (
    DAGMMNet,
    covariance_penalty,
    gmm_params,
    sample_energy,
)
from memae.preprocessing import Preprocessing
from memae.training.config import LRSchedule


class DAGMM(ReconstructionMixin, BaseDetector, model_key="dagmm"):
    r"""Deep Autoencoding Gaussian Mixture Model: score = sample energy.

    A compression network (the backbone's autoencoder) gives each sample a code and
    two reconstruction features (relative Euclidean distance, cosine similarity); an
    estimation network assigns their concatenation ``z`` to ``n_components``
    Gaussians (:mod:`memae.nn.dagmm`). Both train jointly on

    .. math:: \operatorname{mean}\|x - x'\|^2 + \lambda_1 \operatorname{mean} E(z)
              + \lambda_2 P(\Sigma)

    with the mixture estimated on each batch (paper Eq. 7; the reconstruction error
    is the mean over features, as in the common PyTorch port). After training, the
    mixture is estimated once on every training row and kept as fitted state (the
    network's buffers ``phi``, ``mu``, ``cov``, saved with the weights); a sample's
    anomaly score is its energy ``E(z)`` under that mixture.

    Parameters
    ----------
    n_components : int, default=4
        ``K``, the paper's choice for KDDCUP99.
    energy_weight : float, default=0.1
        ``lambda_1``.
    covariance_weight : float, default=0.005
        ``lambda_2``, the weight of the diagonal penalty ``sum 1 / Sigma_jj``.
    estimation_hidden : int, default=10
        Units of the estimation network's hidden layer (tanh).
    dropout : float, default=0.5
        Dropout after that layer.
    backbone, hidden_dims, latent_dim, activation, kernel_sizes, preprocessing, \
categorical, min_frequency, log1p, epochs, \
batch_size, lr, weight_decay, validation_fraction, patience, contamination, device, \
precision, random_state, verbose
        As in :class:`memae.AutoEncoder` (the code layer is linear; ``activation``
        defaults to the paper's tanh). The unlabelled validation split monitors the
        whole objective. ``latent_dim`` defaults to 8: the paper's 1-d KDDCUP99 code is
        the ``kdd`` preset's; with 1-d codes on 16-D isotropic data (memae's sanity sets)
        the mixture collapses to one component and a mean shift is missed (AUC 0.22).

    Attributes
    ----------
    See :class:`memae.detectors.base.BaseDetector`. The fitted mixture is
    ``network_.gmm()``.

    Examples
    --------
    >>> from memae import DAGMM
    >>> det = DAGMM.from_preset("kdd", random_state=0).fit(X_train)  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        n_components: int = 4,
        energy_weight: float = 0.1,
        covariance_weight: float = 0.005,
        estimation_hidden: int = 10,
        dropout: float = 0.5,
        backbone: str = "auto",
        hidden_dims: Sequence[int] = (64, 32),
        latent_dim: int = 8,
        activation: str = "tanh",
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
        self.n_components = n_components
        self.energy_weight = energy_weight
        self.covariance_weight = covariance_weight
        self.estimation_hidden = estimation_hidden
        self.dropout = dropout

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_components": [positive_int()],
        "energy_weight": [non_negative()],
        "covariance_weight": [non_negative()],
        "estimation_hidden": [positive_int()],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def _build_network(self, sample_shape: tuple[int, ...]) -> nn.Module:
        bb = self._backbone(sample_shape, linear_code=True)
        return DAGMMNet(
            bb.encoder,
            bb.decoder,
            math.prod(bb.code_shape),
            int(self.n_components),
            int(self.estimation_hidden),
            float(self.dropout),
        )

    def _loss(self, model: nn.Module, batch: Tensor) -> dict[str, Tensor]:
        out = model(batch)
        gmm = gmm_params(out.z, out.gamma)
        energy = sample_energy(out.z, gmm).mean()
        recon = squared_error(batch, out.reconstruction).mean()
        loss = (
            recon
            + self.energy_weight * energy
            + self.covariance_weight * covariance_penalty(gmm.cov)
        )
        return {"loss": loss}

    @torch.inference_mode()
    def _after_training(self, arr: Any) -> None:
        """Estimate the mixture on every training row: weights and means in a first
        pass, centred covariances in a second (float64 sums over the batches)."""
        net = self.network_
        k, d = net.mu.shape
        weight, first = torch.zeros(k, dtype=torch.float64), torch.zeros(k, d, dtype=torch.float64)
        for _, batch in self._batches(arr, None):
            out = net(batch)
            gamma, z = out.gamma.double().cpu(), out.z.double().cpu()
            weight += gamma.sum(dim=0)
            first += gamma.T @ z
        mu = first / weight.clamp_min(1e-12)[:, None]
        second = torch.zeros(k, d, d, dtype=torch.float64)
        for _, batch in self._batches(arr, None):
            out = net(batch)
            gamma, z = out.gamma.double().cpu(), out.z.double().cpu()
            centred = z[None, :, :] - mu[:, None, :]
            second += torch.einsum("bk,kbi,kbj->kij", gamma, centred, centred)
        net.phi.copy_(weight / len(arr))
        net.mu.copy_(mu)
        net.cov.copy_(second / weight.clamp_min(1e-12)[:, None, None])

    def _score_batch(self, model: nn.Module, batch: Tensor) -> Tensor:
        return sample_energy(model(batch).z, model.gmm())
