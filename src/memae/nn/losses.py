"""Loss terms and per-sample scores shared by the detectors."""

from __future__ import annotations

from torch import Tensor

from memae.nn.memory import attention_entropy

__all__ = ["attention_entropy", "latent_l1", "squared_error"]


def squared_error(x: Tensor, x_hat: Tensor) -> Tensor:
    """Per-sample mean squared reconstruction error, shape ``(B,)``.

    The mean (not the sum) over features/pixels keeps the scale independent of
    the input size; as a score it ranks samples exactly as ``||x - x_hat||^2`` does.
    """
    return (x - x_hat).pow(2).flatten(1).mean(dim=1)


def latent_l1(z: Tensor) -> Tensor:
    """Mean absolute value of the code: the "AE-l1" sparsity penalty of the MemAE paper."""
    return z.abs().mean()
