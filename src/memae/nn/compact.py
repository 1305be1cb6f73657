"""Compact latent spaces: the sphere as R^(m-1) plus a point at infinity, and Lipschitz encoders.

Building blocks of :class:`memae.CompactVAE` (after Glazunov and Zarras, UAI 2023).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memae.nn.losses import clamp_logvar, reparameterize

__all__ = [
    "CompactVAENet",
    "CompactVAEOutput",
    "GroupSort",
    "LipschitzLinear",
    "inverse_stereographic",
    "lipschitz_mlp",
    "spectral_norm",
    "sphere_log_area",
]


# ------------------------------------------------------------ one-point compactification
def inverse_stereographic(h: Tensor, scale: float = 1.0) -> Tensor:
    """``R^(m-1) -> S^(m-1) \\ {pole}``: the inverse stereographic projection of ``h / scale``.

    ``u = h / scale`` maps to ``(2 u, |u|^2 - 1) / (|u|^2 + 1)``: the origin to the
    south pole ``(0, ..., 0, -1)``, the sphere ``|u| = 1`` to the equator, and points
    far out, in any direction, to the north pole ``(0, ..., 0, 1)``, the point at
    infinity of the one-point (Alexandroff) compactification of R^(m-1). Unlike a
    radial projection ``h / |h|``, it keeps how far out ``h`` is. Shapes: ``(B, m-1)``
    to ``(B, m)``.
    """
    u = h / scale
    sq = u.pow(2).sum(dim=-1, keepdim=True)
    return torch.cat([2 * u, sq - 1], dim=-1) / (sq + 1)


def sphere_log_area(m: int) -> float:
    """``log`` of the surface area of the unit sphere S^(m-1) in R^m."""
    return math.log(2) + (m / 2) * math.log(math.pi) - math.lgamma(m / 2)


# ------------------------------------------------------------------ Lipschitz encoders
class GroupSort(nn.Module):
    """GroupSort with groups of 2 ("MaxMin", Anil et al. 2019): 1-Lipschitz, norm-preserving.

    ``(B, 2k) -> (B, 2k)``: each pair of features becomes ``(max, min)``.
    """

    def forward(self, x: Tensor) -> Tensor:
        a, b = x.unflatten(-1, (-1, 2)).unbind(-1)
        return torch.stack([torch.maximum(a, b), torch.minimum(a, b)], dim=-1).flatten(-2)


class _SpectralNorm(torch.autograd.Function):
    """The largest singular value of a matrix, from the eigen-decomposition of its Gram.

    ``sigma = sqrt(lambda_max(G))`` with ``G = W W^T`` or ``W^T W``, whichever is
    smaller; the gradient is ``u v^T`` for the top singular pair, read off the same
    decomposition. The same value and gradient as ``torch.linalg.matrix_norm(W, 2)``
    (to float rounding) at a lower cost: the SVD, with the singular vectors its
    backward pass needs, becomes a symmetric eigen-decomposition of the smaller Gram
    (the Lipschitz encoder's first layer on MNIST is ``(512, 784)``). Always float32
    or wider, outside autocast, so the bound does not depend on the precision setting.
    """

    @staticmethod
    def forward(ctx, weight: Tensor) -> Tensor:  # type: ignore[override]
        w = weight.float() if weight.dtype in (torch.float16, torch.bfloat16) else weight
        left = w.shape[0] <= w.shape[1]  # decompose the smaller Gram
        gram = w @ w.T if left else w.T @ w
        evals, evecs = torch.linalg.eigh(gram)
        sigma = evals[-1].clamp_min(0).sqrt()
        top = evecs[:, -1]  # the top left (or right) singular vector
        other = (w.T @ top if left else w @ top) / sigma.clamp_min(1e-12)
        u, v = (top, other) if left else (other, top)
        ctx.save_for_backward(u, v)
        ctx.dtype = weight.dtype
        return sigma.to(weight.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        u, v = ctx.saved_tensors
        return (grad.to(u.dtype) * torch.outer(u, v)).to(ctx.dtype)


def spectral_norm(weight: Tensor) -> Tensor:
    """``torch.linalg.matrix_norm(weight, 2)`` (the largest singular value), computed from
    the Gram's eigen-decomposition (:class:`_SpectralNorm`), outside autocast."""
    with torch.autocast(weight.device.type, enabled=False):
        return _SpectralNorm.apply(weight)


class LipschitzLinear(nn.Linear):
    """``nn.Linear`` whose weight is divided by its exact spectral norm (1-Lipschitz).

    The norm is the largest singular value computed at every call
    (:func:`spectral_norm`, equal to ``torch.linalg.matrix_norm(W, 2)``), not a
    power-iteration estimate, so the bound holds exactly, at the cost of one small
    symmetric eigen-decomposition per layer and step.
    """

    def effective_weight(self) -> Tensor:
        return self.weight / spectral_norm(self.weight).clamp_min(1e-12)

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
        the posterior's centre in eval mode).
    code : Tensor
        ``(B, m)``, the compact code that was decoded (a point of S^(m-1) or of
        ``(-1, 1)^m``).
    mu : Tensor
        ``(B, m)``, the compact image of the posterior's centre.
    chart_mu : Tensor
        ``(B, k)``, the posterior mean in the space the Gaussian posterior lives in:
        R^(m-1) before the projection (sphere), R^m before ``tanh`` (lipschitz).
    logvar : Tensor
        ``(B, k)``, the posterior's log-variance there.
    log_scale : Tensor
        The decoder's learned ``log sigma^2`` (scalar).
    """

    reconstruction: Tensor
    code: Tensor
    mu: Tensor
    chart_mu: Tensor
    logvar: Tensor
    log_scale: Tensor


class CompactVAENet(nn.Module):
    """A Gaussian VAE whose codes are mapped into a compact set before decoding.

    The posterior is ``N(h(x), diag exp(logvar(x)))`` with an ``N(0, I)`` prior (exact
    KL); a draw (or, in eval mode, the mean) is then sent into a compact space:

    ``sphere``: ``h`` lives in R^(m-1) and is mapped onto S^(m-1) by
    :func:`inverse_stereographic` (scaled by ``sqrt(m - 1)``, so that codes of typical
    prior norm land near the equator). Inputs whose ``h`` is far out land near the
    north pole, where the prior, pushed onto the sphere, has vanishing mass: the pole
    stays vacant in training and catches what is far away.
    ``lipschitz``: ``trunk`` is a 1-Lipschitz MLP on the flattened input whose output
    times ``lipschitz`` is ``h`` in R^m; the code is ``tanh(h)`` (1-Lipschitz), so it
    is ``lipschitz``-Lipschitz in the (preprocessed) input and lies in ``(-1, 1)^m``.

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
        ``m``, the ambient dimension of the compact code.
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
            chart = m - 1
            self.chart_scale = math.sqrt(chart)
            self.direction: nn.Module = nn.Linear(feature_dim, chart)
        else:
            if feature_dim != m:
                raise ValueError(f"the Lipschitz trunk must end in {m} features, got {feature_dim}")
            chart = m
            self.direction = nn.Identity()
        self.spread = nn.Linear(feature_dim, chart)  # the variance need not be Lipschitz
        self.expand: nn.Module = (
            nn.Identity()
            if tuple(decoder_in) == (m,)
            else nn.Sequential(nn.Linear(m, math.prod(decoder_in)), nn.Unflatten(1, decoder_in))
        )
        self.decoder = decoder
        self.log_scale = nn.Parameter(torch.zeros(()))
        self.register_buffer("reference", torch.zeros(0, m))

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior ``(mean, logvar)`` in the chart, each ``(B, k)``."""
        h = self.trunk(x).flatten(1)
        mean = self.direction(h) if self.compactification == "sphere" else self.lipschitz * h
        return mean, clamp_logvar(self.spread(h))

    def compact(self, h: Tensor) -> Tensor:
        """Map chart points ``(B, k)`` into the compact code space ``(B, m)``."""
        if self.compactification == "sphere":
            return inverse_stereographic(h, self.chart_scale)
        return torch.tanh(h)

    def forward(self, x: Tensor) -> CompactVAEOutput:
        mean, logvar = self.encode(x)
        h = reparameterize(mean, logvar) if self.training else mean
        mu = self.compact(mean)
        z = self.compact(h) if self.training else mu
        return CompactVAEOutput(self.decoder(self.expand(z)), z, mu, mean, logvar, self.log_scale)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The number of reference codes is only known from the file.
        ref = state_dict.get(prefix + "reference")
        if ref is not None:
            self.reference = torch.empty_like(ref, device=self.reference.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
