"""Compact latent spaces: the hypersphere (Power Spherical posterior) and Lipschitz encoders.

Building blocks of :class:`memae.CompactVAE` (after Glazunov and Zarras, UAI 2023).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "CompactVAENet",
    "CompactVAEOutput",
    "GroupSort",
    "LipschitzLinear",
    "lipschitz_mlp",
    "power_spherical_kl_uniform",
    "power_spherical_log_normaliser",
    "power_spherical_rsample",
    "sphere_log_area",
]


# ------------------------------------------------------------- Power Spherical posterior
def power_spherical_log_normaliser(kappa: Tensor, m: int) -> Tensor:
    """``log C(kappa)`` of the Power Spherical density ``C (1 + mu^T x)^kappa`` on S^(m-1).

    De Cao and Aziz (2020): ``C = [2^(a+b) pi^b Gamma(a) / Gamma(a+b)]^-1`` with
    ``a = (m-1)/2 + kappa`` and ``b = (m-1)/2``.
    """
    a, b = (m - 1) / 2 + kappa, (m - 1) / 2
    return -((a + b) * math.log(2) + b * math.log(math.pi) + torch.lgamma(a) - torch.lgamma(a + b))


def sphere_log_area(m: int) -> float:
    """``log`` of the surface area of the unit sphere S^(m-1) in R^m."""
    return math.log(2) + (m / 2) * math.log(math.pi) - math.lgamma(m / 2)


def power_spherical_kl_uniform(kappa: Tensor, m: int) -> Tensor:
    """``KL(PowerSpherical(mu, kappa) || Uniform(S^(m-1)))`` (log area - entropy), per kappa."""
    a, b = (m - 1) / 2 + kappa, (m - 1) / 2
    # E[log(1 + mu^T x)] = log 2 + psi(a) - psi(a + b), since (1 + t) / 2 ~ Beta(a, b).
    entropy = -power_spherical_log_normaliser(kappa, m) - kappa * (
        math.log(2) + torch.digamma(a) - torch.digamma(a + b)
    )
    return sphere_log_area(m) - entropy


def power_spherical_rsample(mu: Tensor, kappa: Tensor) -> Tensor:
    """One reparameterised draw per row from ``PowerSpherical(mu, kappa)``.

    ``mu`` ``(B, m)`` unit rows, ``kappa`` ``(B,)``. The cosine ``t = 2 z - 1`` with
    ``z ~ Beta(a, b)``, a uniform direction ``v`` on S^(m-2), then the Householder
    reflection that maps the first axis onto ``mu``. Uses the global torch RNG.
    """
    m = mu.shape[-1]
    b = torch.full_like(kappa, (m - 1) / 2)
    z = torch.distributions.Beta((m - 1) / 2 + kappa, b).rsample()
    t = (2 * z - 1).unsqueeze(-1)
    v = F.normalize(torch.randn(mu.shape[0], m - 1, device=mu.device, dtype=mu.dtype), dim=-1)
    y = torch.cat([t, (1 - t.pow(2)).clamp_min(0).sqrt() * v], dim=-1)
    e1 = torch.zeros_like(mu)
    e1[:, 0] = 1
    u = F.normalize(e1 - mu + 1e-12, dim=-1)
    return y - 2 * (y * u).sum(-1, keepdim=True) * u


# ------------------------------------------------------------------ Lipschitz encoders
class GroupSort(nn.Module):
    """GroupSort with groups of 2 ("MaxMin", Anil et al. 2019): 1-Lipschitz, norm-preserving.

    ``(B, 2k) -> (B, 2k)``: each pair of features becomes ``(max, min)``.
    """

    def forward(self, x: Tensor) -> Tensor:
        a, b = x.unflatten(-1, (-1, 2)).unbind(-1)
        return torch.stack([torch.maximum(a, b), torch.minimum(a, b)], dim=-1).flatten(-2)


class LipschitzLinear(nn.Linear):
    """``nn.Linear`` whose weight is divided by its exact spectral norm (1-Lipschitz).

    The norm is the largest singular value computed at every call
    (``torch.linalg.matrix_norm(W, 2)``), not a power-iteration estimate, so the bound
    holds exactly, at the cost of one small SVD per layer and step.
    """

    def effective_weight(self) -> Tensor:
        return self.weight / torch.linalg.matrix_norm(self.weight, ord=2).clamp_min(1e-12)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.effective_weight(), self.bias)


def lipschitz_mlp(widths: list[int]) -> nn.Sequential:
    """1-Lipschitz ``widths[0] -> ... -> widths[-1]``: unit-norm layers, GroupSort between.

    Hidden widths must be even (GroupSort pairs features).
    """
    layers: list[nn.Module] = []
    for i in range(len(widths) - 1):
        layers.append(LipschitzLinear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            if widths[i + 1] % 2:
                raise ValueError(f"GroupSort needs even hidden widths, got {widths[1:-1]}")
            layers.append(GroupSort())
    return nn.Sequential(*layers)


# ---------------------------------------------------------------------------- network
class CompactVAEOutput(NamedTuple):
    """Result of :class:`CompactVAENet`.

    Attributes
    ----------
    reconstruction : Tensor
        Decoder mean, the input's shape (from a posterior draw in training mode, from
        the posterior's centre ``mu`` in eval mode).
    code : Tensor
        ``(B, m)``, the code that was decoded.
    mu : Tensor
        ``(B, m)``, the posterior's centre: a unit vector (sphere) or a point of the
        open cube ``(-1, 1)^m`` (lipschitz).
    spread : Tensor
        ``(B,)`` concentration ``kappa`` (sphere) or ``(B, m)`` ``logvar`` (lipschitz).
    log_scale : Tensor
        The decoder's learned ``log sigma^2`` (scalar).
    """

    reconstruction: Tensor
    code: Tensor
    mu: Tensor
    spread: Tensor
    log_scale: Tensor


class CompactVAENet(nn.Module):
    """A VAE whose posterior centres live in a compact set.

    ``sphere``: ``trunk(x)`` (the backbone's encoder, flattened) feeds a head whose
    output is normalised onto S^(m-1) (``mu``) and a concentration head
    (``kappa = 1 + softplus``); the posterior is Power Spherical, the prior uniform.
    ``lipschitz``: ``trunk`` is a 1-Lipschitz MLP on the flattened input whose output,
    times ``lipschitz``, goes through ``tanh`` (1-Lipschitz), so ``mu`` is
    ``lipschitz``-Lipschitz in the (preprocessed) input and lies in ``(-1, 1)^m``; a
    Gaussian posterior around it and an ``N(0, I)`` prior.

    Parameters
    ----------
    trunk : nn.Module
        ``(B, *sample) -> (B, *features)``; flattened to ``feature_dim`` features.
    decoder : nn.Module
        The backbone's decoder, fed ``(B, *decoder_in)``.
    feature_dim : int
        Number of trunk features.
    decoder_in : tuple of int
        Shape the decoder expects; a ``Linear(m, prod(decoder_in))`` maps the code to
        it unless ``decoder_in == (m,)``.
    latent_dim : int
        ``m``, the ambient dimension of the code.
    compactification : {"sphere", "lipschitz"}
    lipschitz : float
        The encoder's Lipschitz constant (``lipschitz`` only; then ``trunk`` must be
        1-Lipschitz and end in ``m`` features).

    Notes
    -----
    ``reference`` is a buffer of training codes (``mu``) set after training for the
    hole score; it is saved with the weights and resized on loading.
    """

    def __init__(
        self,
        trunk: nn.Module,
        decoder: nn.Module,
        feature_dim: int,
        decoder_in: tuple[int, ...],
        latent_dim: int,
        compactification: str,
        lipschitz: float = 1.0,
    ):
        super().__init__()
        m = latent_dim
        self.compactification = compactification
        self.lipschitz = float(lipschitz)
        self.trunk = trunk
        if compactification == "sphere":
            self.direction = nn.Linear(feature_dim, m)
            self.spread = nn.Linear(feature_dim, 1)
        else:
            if feature_dim != m:
                raise ValueError(f"the Lipschitz trunk must end in {m} features, got {feature_dim}")
            self.direction = nn.Identity()
            self.spread = nn.Linear(feature_dim, m)  # the variance need not be Lipschitz
        self.expand: nn.Module = (
            nn.Identity()
            if tuple(decoder_in) == (m,)
            else nn.Sequential(nn.Linear(m, math.prod(decoder_in)), nn.Unflatten(1, decoder_in))
        )
        self.decoder = decoder
        self.log_scale = nn.Parameter(torch.zeros(()))
        self.register_buffer("reference", torch.zeros(0, m))

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(mu, spread)``: ``(B, m)`` and ``(B,)`` kappa or ``(B, m)`` logvar."""
        h = self.trunk(x).flatten(1)
        if self.compactification == "sphere":
            mu = F.normalize(self.direction(h), dim=-1)
            return mu, 1.0 + F.softplus(self.spread(h)).squeeze(-1)
        return torch.tanh(self.lipschitz * h), self.spread(h).clamp(-30.0, 20.0)

    def forward(self, x: Tensor) -> CompactVAEOutput:
        mu, spread = self.encode(x)
        z = mu
        if self.training:
            if self.compactification == "sphere":
                z = power_spherical_rsample(mu, spread)
            else:
                z = mu + torch.randn_like(mu) * (0.5 * spread).exp()
        return CompactVAEOutput(self.decoder(self.expand(z)), z, mu, spread, self.log_scale)

    def kl(self, mu: Tensor, spread: Tensor) -> Tensor:
        """Per-sample KL of the posterior from the prior, ``(B,)``."""
        if self.compactification == "sphere":
            return power_spherical_kl_uniform(spread, mu.shape[-1])
        return 0.5 * (mu.pow(2) + spread.exp() - 1.0 - spread).sum(dim=1)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The number of reference codes is only known from the file.
        ref = state_dict.get(prefix + "reference")
        if ref is not None:
            self.reference = torch.empty_like(ref, device=self.reference.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
