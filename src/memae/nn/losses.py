"""Loss terms and per-sample scores shared by the detectors."""

from __future__ import annotations

from torch import Tensor

from memae.nn.memory import attention_entropy

__all__ = ["attention_entropy", "l2_norm", "latent_l1", "squared_error"]


def squared_error(x: Tensor, x_hat: Tensor) -> Tensor:
    """Per-sample mean squared reconstruction error, shape ``(B,)``.

    The mean (not the sum) over features/pixels keeps the scale independent of
    the input size; as a score it ranks samples exactly as ``||x - x_hat||^2`` does.
    """
    return (x - x_hat).pow(2).flatten(1).mean(dim=1)


def latent_l1(z: Tensor) -> Tensor:
    """Mean absolute value of the code: the "AE-l1" sparsity penalty of the MemAE paper."""
    return z.abs().mean()


def l2_norm(x: Tensor) -> Tensor:
    """Per-sample Euclidean norm of a batch, ``(B,)``: ``||x_b||_2`` over all other axes.

    Plain, not squared; the latent-norm regularised AE's reconstruction term
    (``l2_norm(x - x_hat)``) and its latent penalty (``l2_norm(z)``).
    """
    return x.flatten(1).norm(dim=1)
