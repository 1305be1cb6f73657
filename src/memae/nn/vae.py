"""The pure torch Gaussian variational autoencoder."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from memae.nn.losses import clamp_logvar, reparameterize


class VAEOutput(NamedTuple):
    """Result of :class:`VAENet`.

    Attributes
    ----------
    reconstruction : Tensor
        The decoder's mean ``x_hat`` for the code used (a sample in training mode, the
        posterior mean ``mu`` in eval mode), same shape as the input.
    code : Tensor
        The code that was decoded.
    mu, logvar : Tensor
        Posterior ``q(z|x) = N(mu, diag(exp(logvar)))``, the code's shape.
    log_scale : Tensor
        The decoder's learned ``log sigma^2`` (a scalar), for :func:`gaussian_nll`.
    """

    reconstruction: Tensor
    code: Tensor
    mu: Tensor
    logvar: Tensor
    log_scale: Tensor


class VAENet(nn.Module):
    """``x -> encoder -> (mu, logvar) -> z -> decoder -> x_hat``, with a learned
    decoder variance.

    Parameters
    ----------
    encoder, decoder : nn.Module
        From a backbone (:func:`memae.nn.build_backbone`); the encoder's output has
        ``code_dim`` channels (features).
    code_dim : int
        Channels of the code; two heads (``Linear`` for a vector code, a 1x1
        convolution for a code map) turn the encoder's output into ``mu`` and
        ``logvar`` of that shape.
    code_ndim : int
        0 for a vector code ``(B, C)``, 1-3 for a ``(B, C, *S)`` map.

    Notes
    -----
    The likelihood is ``p(x|z) = N(x_hat, sigma^2 I)`` with one learned
    ``log sigma^2`` (:attr:`log_scale`), the "calibrated decoder" of Rybkin et al.
    (ICML 2021): a fixed ``sigma = 1`` on data scaled to unit variance or [-1, 1]
    over-weights the KL term and lets the posterior collapse. In training mode the
    code is sampled with the reparameterisation trick; in eval mode it is ``mu``.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, code_dim: int, code_ndim: int):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        if code_ndim == 0:
            self.mu, self.logvar = nn.Linear(code_dim, code_dim), nn.Linear(code_dim, code_dim)
        else:
            conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[code_ndim - 1]
            self.mu, self.logvar = conv(code_dim, code_dim, 1), conv(code_dim, code_dim, 1)
        self.log_scale = nn.Parameter(torch.zeros(()))

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.encoder(x)
        return self.mu(h), clamp_logvar(self.logvar(h))

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> VAEOutput:
        mu, logvar = self.encode(x)
        z = mu
        if self.training or generator is not None:
            z = reparameterize(mu, logvar, generator)
        return VAEOutput(self.decoder(z), z, mu, logvar, self.log_scale)
