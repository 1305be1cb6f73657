"""Encoder/decoder pairs, chosen by name rather than by a class per data type.

A backbone builder takes the shape of one sample and returns an ``(encoder,
decoder)`` pair of ``nn.Module``s plus the number of channels of the code (the
memory's item size). Builders are registered in :data:`BACKBONES`; image and video
backbones plug in here, and every detector picks one with its ``backbone``
parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import NamedTuple

from torch import nn

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
}


class Backbone(NamedTuple):
    """An encoder/decoder pair and the channel size of the code between them."""

    encoder: nn.Module
    decoder: nn.Module
    code_dim: int


def make_activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}"
        ) from None


def _mlp(widths: Sequence[int], activation: str) -> nn.Sequential:
    """Linear layers ``widths[0] -> ... -> widths[-1]``, activation after all but the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(pairwise(widths)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(make_activation(activation))
    return nn.Sequential(*layers)


def mlp_backbone(
    sample_shape: tuple[int, ...],
    hidden_dims: Sequence[int],
    latent_dim: int,
    activation: str,
) -> Backbone:
    """Fully connected ``d - hidden_dims - latent_dim`` encoder and its mirror image.

    Every layer but the encoder's last (the code) and the decoder's last (the
    reconstruction) is followed by ``activation``, as in the MemAE/DAGMM KDD
    networks. Shapes: encoder ``(B, d) -> (B, latent_dim)``, decoder the reverse.
    """
    if len(sample_shape) != 1:
        raise ValueError(f"the 'mlp' backbone needs tabular samples (d,), got {sample_shape}")
    widths = [sample_shape[0], *hidden_dims, latent_dim]
    if min(widths) < 1:
        raise ValueError(f"layer widths must be >= 1, got {widths}")
    make_activation(activation)  # fail early on an unknown name
    return Backbone(_mlp(widths, activation), _mlp(widths[::-1], activation), latent_dim)


BackboneBuilder = Callable[..., Backbone]
BACKBONES: dict[str, BackboneBuilder] = {"mlp": mlp_backbone}


def resolve_backbone(name: str, sample_shape: tuple[int, ...]) -> str:
    """Map ``"auto"`` to a concrete backbone for samples of ``sample_shape``."""
    if name != "auto":
        if name not in BACKBONES:
            raise ValueError(f"unknown backbone {name!r}; choose from {['auto', *BACKBONES]}")
        return name
    if len(sample_shape) == 1:
        return "mlp"
    raise ValueError(
        f"no backbone for samples of shape {sample_shape} yet; memae currently supports "
        "tabular data of shape (n_samples, n_features)"
    )


def build_backbone(name: str, sample_shape: tuple[int, ...], **params) -> Backbone:
    """Build backbone ``name`` (or ``"auto"``) for samples of ``sample_shape``."""
    return BACKBONES[resolve_backbone(name, sample_shape)](sample_shape, **params)
