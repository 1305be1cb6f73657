"""A Gaussian variational autoencoder baseline with the KL term on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from memae.constraints import StrOptions, non_negative, positive_int
from memae.detectors.base import BaseDetector, ReconstructionMixin, shared_params
from memae.detectors.explain import gaussian_nll_parts, squared_error_parts
from memae.nn import VAENet, gaussian_kl, gaussian_nll, squared_error
from memae.preprocessing import Preprocessing
from memae.training.config import LRSchedule


class VAE(ReconstructionMixin, BaseDetector, model_key="vae"):
    r"""Variational autoencoder anomaly detector (Kingma and Welling, 2014).

    Training minimises the negative (beta-)ELBO per sample, averaged over the batch,

    .. math:: -\log p(x \mid z) + \beta\, \mathrm{KL}(q(z \mid x) \,\|\, \mathcal N(0, I)),
              \quad z \sim q(z \mid x) = \mathcal N(\mu(x), \operatorname{diag} \sigma^2(x)),

    with a Gaussian decoder ``N(x_hat, s^2 I)`` whose single ``log s^2`` is learned
    (see :class:`memae.nn.VAENet`). The KL term is on by default (``beta=1``);
    PyOD's VAE, by contrast, clamps it to zero by default. The unlabelled
    validation split monitors the same objective at ``z = mu``.

    Parameters
    ----------
    beta : float, default=1.0
        Weight of the KL term (1 = the ELBO; 0 = an autoencoder with noise).
    score_method : {"reconstruction", "elbo"}, default="reconstruction"
        ``"reconstruction"``: mean squared error of the reconstruction from the
        posterior mean ``mu`` (deterministic, as the AE's score). ``"elbo"``: the
        negative ELBO (``beta = 1``) estimated with ``n_samples`` codes drawn from
        ``q(z|x)``; the draws come from a generator seeded with ``seed_`` for every
        scoring batch, so scores are repeatable for a given ``batch_size``.
    n_samples : int, default=10
        ``k``, the number of codes per input for ``score_method="elbo"``.
    backbone, hidden_dims, latent_dim, activation, kernel_sizes, preprocessing, \
categorical, min_frequency, log1p, epochs, \
batch_size, lr, weight_decay, validation_fraction, patience, contamination, device, \
precision, random_state, verbose
        As in :class:`memae.AutoEncoder`; ``latent_dim`` is the size (channels) of
        ``mu`` and ``sigma``.

    Attributes
    ----------
    See :class:`memae.detectors.base.BaseDetector`.
    """

    def __init__(
        self,
        *,
        beta: float = 1.0,
        score_method: Literal["reconstruction", "elbo"] = "reconstruction",
        n_samples: int = 10,
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
        self.score_method = score_method
        self.n_samples = n_samples

    # ``score`` shadowed the estimator method scikit-learn calls ``score`` (issue 22)
    _renamed_params: ClassVar[dict[str, str]] = {"score": "score_method"}

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "beta": [non_negative()],
        "score_method": [StrOptions({"reconstruction", "elbo"})],
        "n_samples": [positive_int()],
    }

    def _build_network(self, sample_shape: tuple[int, ...]) -> nn.Module:
        bb = self._backbone(sample_shape)
        return VAENet(bb.encoder, bb.decoder, bb.code_dim, len(bb.code_shape) - 1)

    def _loss(self, model: nn.Module, batch: Tensor) -> dict[str, Tensor]:
        out = model(batch)
        nll = gaussian_nll(batch, out.reconstruction, out.log_scale)
        loss = (nll + self.beta * gaussian_kl(out.mu, out.logvar)).mean()
        return {"loss": loss}

    def _nan_propagates(self) -> bool:
        """Both scores sum ``(x - x_hat)^2`` over every input value (the negative ELBO
        scales it by a positive factor and adds terms that cannot cancel a non-finite
        sum)."""
        return True

    def _score_batch(self, model: nn.Module, batch: Tensor) -> Tensor:
        if self.score_method == "reconstruction":
            return squared_error(batch, model(batch).reconstruction)
        return self.negative_elbo(model, batch, int(self.n_samples))

    def _feature_batch(self, model: nn.Module, batch: Tensor) -> tuple[Tensor, Tensor]:
        if self.score_method == "reconstruction":
            return squared_error_parts(batch, model(batch).reconstruction)
        # the same seeded draws as negative_elbo; the KL term is the remainder
        gen = torch.Generator(device=batch.device).manual_seed(self.seed_)
        parts = torch.zeros_like(batch)
        k = int(self.n_samples)
        for _ in range(k):
            out = model(batch, generator=gen)
            parts += gaussian_nll_parts(batch, out.reconstruction, out.log_scale)
        return parts / k, gaussian_kl(out.mu, out.logvar)

    def negative_elbo(self, model: nn.Module, batch: Tensor, k: int) -> Tensor:
        """``-ELBO`` per sample: mean over ``k`` posterior draws of ``-log p(x|z)`` plus KL."""
        gen = torch.Generator(device=batch.device).manual_seed(self.seed_)
        nll = torch.zeros(len(batch), device=batch.device)
        for _ in range(k):
            out = model(batch, generator=gen)
            nll += gaussian_nll(batch, out.reconstruction, out.log_scale)
        return nll / k + gaussian_kl(out.mu, out.logvar)
