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
    """An encoder/decoder pair, the channel size of the code and the code's full shape."""

    encoder: nn.Module
    decoder: nn.Module
    code_dim: int
    code_shape: tuple[int, ...]


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
    kernel_sizes: Sequence[int] | None = None,
) -> Backbone:
    """Fully connected ``d - hidden_dims - latent_dim`` encoder and its mirror image.

    Every layer but the encoder's last (the code) and the decoder's last (the
    reconstruction) is followed by ``activation``, as in the MemAE/DAGMM KDD
    networks. Shapes: encoder ``(B, d) -> (B, latent_dim)``, decoder the reverse.
    """
    if len(sample_shape) != 1:
        raise ValueError(f"the 'mlp' backbone needs tabular samples (d,), got {sample_shape}")
    if kernel_sizes is not None:
        raise ValueError("kernel_sizes applies to convolutional backbones only")
    widths = [sample_shape[0], *hidden_dims, latent_dim]
    if min(widths) < 1:
        raise ValueError(f"layer widths must be >= 1, got {widths}")
    make_activation(activation)  # fail early on an unknown name
    encoder, decoder = _mlp(widths, activation), _mlp(widths[::-1], activation)
    return Backbone(encoder, decoder, latent_dim, (latent_dim,))


def _conv_out(size: int, kernel: int, stride: int) -> int:
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


def conv2d_backbone(
    sample_shape: tuple[int, ...],
    hidden_dims: Sequence[int],
    latent_dim: int,
    activation: str,
    kernel_sizes: Sequence[int] | None = None,
    stride: int = 2,
) -> Backbone:
    """Strided-convolution encoder and transposed-convolution decoder for images.

    The MemAE paper's image networks (Sec. 4.2): encoder ``Conv(k_i, s2, c_i)`` for
    ``c = (*hidden_dims, latent_dim)`` with padding ``k // 2``; decoder
    ``ConvT(k3, s2, c)`` for ``c = (latent_dim, ..., hidden_dims[1], C_in)``, i.e. for
    MNIST ``Conv(1,2,16)-Conv(3,2,32)-Conv(3,2,64)`` and
    ``ConvT(3,2,64)-ConvT(3,2,32)-ConvT(3,2,1)``. Batch norm and ``activation``
    follow every layer but the decoder's last, whose output is the reconstruction.
    The decoder's output paddings are chosen so that every feature map, and the
    output, has exactly the size of its encoder counterpart (odd sizes included).

    Shapes: encoder ``(B, C, H, W) -> (B, latent_dim, h, w)`` with ``h = H / 2^L``
    rounded up; decoder the reverse.
    """
    if len(sample_shape) != 3:
        raise ValueError(f"the 'conv2d' backbone needs images (C, H, W), got {sample_shape}")
    channels = [sample_shape[0], *hidden_dims, latent_dim]
    n = len(channels) - 1
    kernels = list(kernel_sizes) if kernel_sizes is not None else [3] * n
    if len(kernels) != n:
        raise ValueError(f"kernel_sizes needs {n} entries (one per encoder layer), got {kernels}")
    if min(channels) < 1 or min(kernels) < 1:
        raise ValueError(f"channels and kernel sizes must be >= 1, got {channels}, {kernels}")
    make_activation(activation)
    sizes = [tuple(sample_shape[1:])]
    enc: list[nn.Module] = []
    for c_in, c_out, k in zip(channels[:-1], channels[1:], kernels, strict=True):
        enc += [nn.Conv2d(c_in, c_out, k, stride, k // 2), nn.BatchNorm2d(c_out)]
        enc.append(make_activation(activation))
        sizes.append(tuple(_conv_out(s, k, stride) for s in sizes[-1]))
    dec: list[nn.Module] = []
    c_in = latent_dim
    for i in range(n):
        c_out = channels[n - i] if i < n - 1 else channels[0]
        src, dst = sizes[n - i], sizes[n - i - 1]
        pads = tuple(d - ((s - 1) * stride - 2 + 3) for s, d in zip(src, dst, strict=True))
        if not all(0 <= p < stride for p in pads):
            raise ValueError(f"cannot mirror the encoder's sizes {sizes} with stride {stride}")
        dec.append(nn.ConvTranspose2d(c_in, c_out, 3, stride, 1, output_padding=pads))
        if i < n - 1:
            dec += [nn.BatchNorm2d(c_out), make_activation(activation)]
        c_in = c_out
    return Backbone(nn.Sequential(*enc), nn.Sequential(*dec), latent_dim, (latent_dim, *sizes[-1]))


BackboneBuilder = Callable[..., Backbone]
BACKBONES: dict[str, BackboneBuilder] = {"mlp": mlp_backbone, "conv2d": conv2d_backbone}


def resolve_backbone(name: str, sample_shape: tuple[int, ...]) -> str:
    """Map ``"auto"`` to a concrete backbone for samples of ``sample_shape``."""
    if name != "auto":
        if name not in BACKBONES:
            raise ValueError(f"unknown backbone {name!r}; choose from {['auto', *BACKBONES]}")
        return name
    if len(sample_shape) == 1:
        return "mlp"
    if len(sample_shape) == 3:
        return "conv2d"
    raise ValueError(
        f"no backbone for samples of shape {sample_shape}; memae supports tabular data "
        "(n_samples, n_features) and images (N, H, W), (N, H, W, C) or (N, C, H, W)"
    )


def build_backbone(name: str, sample_shape: tuple[int, ...], **params) -> Backbone:
    """Build backbone ``name`` (or ``"auto"``) for samples of ``sample_shape``."""
    return BACKBONES[resolve_backbone(name, sample_shape)](sample_shape, **params)
