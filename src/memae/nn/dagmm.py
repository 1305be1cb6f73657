"""DAGMM's networks and mixture maths (Zong et al., "Deep Autoencoding Gaussian
Mixture Model for Unsupervised Anomaly Detection", ICLR 2018).

The compression network (an autoencoder) gives each sample a low-dimensional code
``z_c`` and two reconstruction features, the relative Euclidean distance
``||x - x'|| / ||x||`` and the cosine similarity of ``x`` and ``x'``. Their
concatenation ``z`` feeds the estimation network, an MLP whose softmax output
``gamma`` gives the soft membership of ``z`` in ``K`` Gaussian components. The
mixture's parameters are estimated from ``gamma`` (paper Eq. 5) and a sample's
energy ``E(z) = -log sum_k phi_k N(z; mu_k, Sigma_k)`` (Eq. 6) is its anomaly score.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

COV_EPS = 1e-6  # added to every covariance's diagonal: keeps it invertible (a singular
# component otherwise gives an infinite energy; the official code adds the same kind of term)
_NORM_EPS = 1e-12


class GMM(NamedTuple):
    """Mixture weights ``phi (K,)``, means ``mu (K, d)``, covariances ``cov (K, d, d)``."""

    phi: Tensor
    mu: Tensor
    cov: Tensor


class DAGMMOutput(NamedTuple):
    reconstruction: Tensor
    code: Tensor
    z: Tensor  # [code, relative distance, cosine similarity], (B, d)
    gamma: Tensor  # soft memberships, (B, K)


class DAGMMNet(nn.Module):
    """Compression network (``encoder``/``decoder``) + estimation network.

    ``code_features`` is the number of entries of a (flattened) code; the estimation
    network is ``Linear(code_features + 2, hidden) - tanh - Dropout(dropout) -
    Linear(hidden, K) - softmax`` (the paper's KDDCUP99 set-up: 10 units, 0.5, K = 4).
    The mixture fitted on the training data after training is kept in the buffers
    ``phi``, ``mu`` and ``cov`` (saved with the weights).
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        code_features: int,
        n_components: int,
        hidden: int = 10,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        d = code_features + 2
        self.estimation = nn.Sequential(
            nn.Linear(d, hidden),
            nn.Tanh(),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_components),
            nn.Softmax(dim=1),
        )
        self.register_buffer("phi", torch.full((n_components,), 1.0 / n_components))
        self.register_buffer("mu", torch.zeros(n_components, d))
        self.register_buffer("cov", torch.eye(d).repeat(n_components, 1, 1))

    def forward(self, x: Tensor) -> DAGMMOutput:
        code = self.encoder(x)
        x_hat = self.decoder(code)
        flat, flat_hat = x.flatten(1), x_hat.flatten(1)
        distance = (flat - flat_hat).norm(dim=1) / flat.norm(dim=1).clamp_min(_NORM_EPS)
        cosine = F.cosine_similarity(flat, flat_hat, dim=1, eps=_NORM_EPS)
        z = torch.cat([code.flatten(1), distance[:, None], cosine[:, None]], dim=1)
        return DAGMMOutput(x_hat, code, z, self.estimation(z))

    def gmm(self) -> GMM:
        """The mixture fitted on the training data (the buffers)."""
        return GMM(self.phi, self.mu, self.cov)


def gmm_params(z: Tensor, gamma: Tensor) -> GMM:
    """The mixture estimated from ``z (B, d)`` and ``gamma (B, K)`` (paper Eq. 5),
    differentiable; covariances from centred rows, so they stay positive semi-definite."""
    weight = gamma.sum(dim=0)  # (K,)
    w = weight.clamp_min(_NORM_EPS)
    mu = (gamma.T @ z) / w[:, None]
    centred = z[None, :, :] - mu[:, None, :]  # (K, B, d)
    cov = torch.einsum("bk,kbi,kbj->kij", gamma, centred, centred) / w[:, None, None]
    return GMM(weight / len(z), mu, cov)


def sample_energy(z: Tensor, gmm: GMM) -> Tensor:
    """``E(z) = -log sum_k phi_k N(z; mu_k, Sigma_k + eps I)`` per row, ``(B,)``.

    Computed with a Cholesky factor and a log-sum-exp, so it stays finite where the
    paper's direct formula under- or overflows.
    """
    d = z.shape[1]
    chol = _cholesky(gmm.cov)  # (K, d, d)
    diff = (z[None, :, :] - gmm.mu[:, None, :]).transpose(1, 2)  # (K, d, B)
    white = torch.linalg.solve_triangular(chol, diff, upper=False)
    maha = white.pow(2).sum(dim=1)  # (K, B)
    log_det = 2 * chol.diagonal(dim1=1, dim2=2).log().sum(dim=1)  # (K,)
    log_norm = -0.5 * (maha + log_det[:, None] + d * math.log(2 * math.pi))
    log_phi = gmm.phi.clamp_min(_NORM_EPS).log()[:, None]
    return -torch.logsumexp(log_phi + log_norm, dim=0)


def _cholesky(cov: Tensor) -> Tensor:
    """Cholesky factors of ``cov + eps I``; the jitter grows tenfold (up to 1e-2) for a
    component that rounding left not positive definite."""
    d = cov.shape[-1]
    eye = torch.eye(d, device=cov.device, dtype=cov.dtype)
    sym = 0.5 * (cov + cov.transpose(-1, -2))
    eps = COV_EPS
    while True:
        chol, info = torch.linalg.cholesky_ex(sym + eps * eye)
        if not bool(info.any()) or eps >= 1e-2:
            break
        eps *= 10
    if bool(info.any()):
        raise FloatingPointError("a DAGMM mixture covariance is not positive definite")
    return chol


def covariance_penalty(cov: Tensor) -> Tensor:
    """The paper's ``P(Sigma) = sum_k sum_j 1 / Sigma_k[j, j]`` (punishes singular components)."""
    return (1.0 / (cov.diagonal(dim1=1, dim2=2) + COV_EPS)).sum()
