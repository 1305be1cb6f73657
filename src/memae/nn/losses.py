"""The maths shared by the networks and detectors: losses, scores and the Gaussian
reparameterisation, in one place."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "attention_entropy",
    "clamp_logvar",
    "gaussian_kl",
    "gaussian_nll",
    "l2_norm",
    "latent_l1",
    "location_l2_error",
    "reparameterize",
    "squared_error",
]

_ENTROPY_EPS = 1e-12  # inside log(w + eps): finite value *and* finite gradient at w = 0
LOGVAR_RANGE = (-30.0, 20.0)  # exp() stays finite in float32 and the KL's gradient bounded


def squared_error(x: Tensor, x_hat: Tensor) -> Tensor:
    """Per-sample mean squared reconstruction error, shape ``(B,)``.

    The mean (not the sum) over features/pixels keeps the scale independent of
    the input size; as a score it ranks samples exactly as ``||x - x_hat||^2`` does.
    ``mse_loss`` computes ``(x_hat - x)^2`` in one pass instead of two, with the same
    values and gradients as ``(x - x_hat).pow(2)`` bit for bit (only signs differ
    before the square).
    """
    return F.mse_loss(x_hat, x, reduction="none").flatten(1).mean(dim=1)


def location_l2_error(x: Tensor, x_hat: Tensor) -> Tensor:
    """Per-sample mean over locations of the error's Euclidean norm across channels, ``(B,)``.

    For ``(B, C, *S)`` input: ``mean_s ||x[:, :, s] - x_hat[:, :, s]||_2``, the score the
    official MemAE code gives a video clip (``script_testing.py``:
    ``torch.mean(torch.sum(r**2, dim=1)**0.5)`` over each clip's voxels); for one
    channel it is the mean absolute error. A ``(B, F)`` table is one location: the
    row's L2 error, which ranks rows as :func:`squared_error` does.
    """
    norms = (x - x_hat).pow(2).sum(dim=1).sqrt()
    return norms.flatten(1).mean(dim=1) if norms.dim() > 1 else norms


def latent_l1(z: Tensor) -> Tensor:
    """Mean absolute value of the code: the "AE-l1" sparsity penalty of the MemAE paper."""
    return z.abs().mean()


def l2_norm(x: Tensor) -> Tensor:
    """Per-sample Euclidean norm of a batch, ``(B,)``: ``||x_b||_2`` over all other axes.

    Plain, not squared; the latent-norm regularised AE's reconstruction term
    (``l2_norm(x - x_hat)``) and its latent penalty (``l2_norm(z)``).
    """
    return x.flatten(1).norm(dim=1)


def attention_entropy(attention: Tensor) -> Tensor:
    """Mean entropy of the rows of ``attention`` (the paper's Eq. (9)).

    ``0 * log 0`` is taken as 0 through ``log(w + 1e-12)``, which also keeps the
    gradient finite at ``w = 0`` (``torch.xlogy`` would give a NaN gradient there).
    """
    return -(attention * torch.log(attention + _ENTROPY_EPS)).sum(dim=-1).mean()


def clamp_logvar(logvar: Tensor) -> Tensor:
    """A posterior log-variance clamped to :data:`LOGVAR_RANGE`."""
    return logvar.clamp(*LOGVAR_RANGE)


def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """A draw of ``N(mu, exp(logvar))``, differentiable in both (``mu + eps * sigma``)."""
    eps = torch.randn(mu.shape, device=mu.device, dtype=mu.dtype, generator=generator)
    return mu + eps * (0.5 * logvar).exp()


def gaussian_nll(x: Tensor, x_hat: Tensor, log_scale: Tensor) -> Tensor:
    """Per-sample ``-log N(x; x_hat, exp(log_scale) I)``, ``(B,)``."""
    d = x[0].numel()
    sse = (x - x_hat).pow(2).flatten(1).sum(dim=1)
    return 0.5 * (sse * torch.exp(-log_scale) + d * (log_scale + math.log(2 * math.pi)))


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """Per-sample ``KL(N(mu, exp(logvar)) || N(0, I))`` summed over the code, ``(B,)``."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).sum(dim=1)
