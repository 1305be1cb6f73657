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

from memae.nn.precision import Stack

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


def _mlp(widths: Sequence[int], activation: str) -> Stack:
    """Linear layers ``widths[0] -> ... -> widths[-1]``, activation after all but the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(pairwise(widths)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(make_activation(activation))
    return Stack(*layers)


def mlp_backbone(
    sample_shape: tuple[int, ...],
    hidden_dims: Sequence[int],
    latent_dim: int,
    activation: str,
    kernel_sizes: Sequence[int] | None = None,
    linear_code: bool = True,
) -> Backbone:
    """Fully connected ``d - hidden_dims - latent_dim`` encoder and its mirror image.

    Every layer but the encoder's last (the code) and the decoder's last (the
    reconstruction) is followed by ``activation``, as in the MemAE/DAGMM KDD
    networks: the code is always linear (``linear_code`` is accepted for a uniform
    signature). Shapes: encoder ``(B, d) -> (B, latent_dim)``, decoder the reverse.
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


_CONV = {
    2: (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d),
    3: (nn.Conv3d, nn.ConvTranspose3d, nn.BatchNorm3d),
}


def _conv_backbone(
    sample_shape: tuple[int, ...],
    hidden_dims: Sequence[int],
    latent_dim: int,
    activation: str,
    kernel_sizes: Sequence[int] | None,
    strides: Sequence[tuple[int, ...]],
    mirror: bool,
    linear_code: bool = False,
) -> Backbone:
    """Strided convolutions down, 3-kernel transposed convolutions up, in 2 or 3 dimensions.

    Encoder channels ``(*hidden_dims, latent_dim)``. With ``mirror`` the decoder's
    channels are the encoder's reversed (``latent, hidden[-1], ..., hidden[0], C_in``,
    the official video network); without, they skip ``hidden[0]``
    (``latent, ..., hidden[1], C_in``, the paper's MNIST network). With
    ``linear_code`` the encoder's last convolution is not followed by batch norm and
    the activation, so the code is a linear function of the last hidden map.
    """
    dims = len(sample_shape) - 1
    conv, conv_t, norm = _CONV[dims]
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
    for i, (c_in, c_out, k, s) in enumerate(
        zip(channels[:-1], channels[1:], kernels, strides, strict=True)
    ):
        enc.append(conv(c_in, c_out, k, s, k // 2))
        if not (linear_code and i == n - 1):
            enc += [norm(c_out), make_activation(activation)]
        sizes.append(tuple(_conv_out(a, k, b) for a, b in zip(sizes[-1], s, strict=True)))
    dec: list[nn.Module] = []
    c_in = latent_dim
    outs = [*(channels[n - 1 : 0 : -1] if mirror else channels[n:1:-1]), channels[0]]
    for i, c_out in enumerate(outs):
        src, dst, stride = sizes[n - i], sizes[n - i - 1], strides[n - 1 - i]
        # ConvT(k3, s, p1) maps a to (a - 1) * s + 1 + output_padding.
        pads = tuple(d - (a - 1) * t - 1 for a, d, t in zip(src, dst, stride, strict=True))
        if not all(0 <= p < t for p, t in zip(pads, stride, strict=True)):
            raise ValueError(f"cannot mirror the encoder's sizes {sizes} with strides {strides}")
        dec.append(conv_t(c_in, c_out, 3, stride, 1, output_padding=pads))
        if i < n - 1:
            dec += [norm(c_out), make_activation(activation)]
        c_in = c_out
    return Backbone(Stack(*enc), Stack(*dec), latent_dim, (latent_dim, *sizes[-1]))


def conv2d_backbone(
    sample_shape: tuple[int, ...],
    hidden_dims: Sequence[int],
    latent_dim: int,
    activation: str,
    kernel_sizes: Sequence[int] | None = None,
    stride: int = 2,
    linear_code: bool = False,
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
    strides = [(stride, stride)] * (len(hidden_dims) + 1)
    layers = (sample_shape, hidden_dims, latent_dim, activation, kernel_sizes, strides)
    return _conv_backbone(*layers, mirror=False, linear_code=linear_code)


def conv3d_backbone(
    sample_shape: tuple[int, ...],
    hidden_dims: Sequence[int],
    latent_dim: int,
    activation: str,
    kernel_sizes: Sequence[int] | None = None,
    linear_code: bool = False,
) -> Backbone:
    """Spatio-temporal 3-D convolutional encoder/decoder for clips of frames.

    The official MemAE video network (donggong1/memae-anomaly-detection,
    ``AutoEncoderCov3DMem``): encoder ``Conv3d(k3)`` layers with channels
    ``(*hidden_dims, latent_dim)``, the first with stride ``(1, 2, 2)`` (time kept)
    and the rest with stride 2, each followed by batch norm and ``activation``; the
    decoder mirrors it with ``ConvTranspose3d(k3)`` layers (channels
    ``latent, hidden[-1], ..., hidden[0], C_in``), batch norm and ``activation``
    after every layer but the last. For Ped2: ``hidden_dims=(96, 128, 256)``,
    ``latent_dim=256``, LeakyReLU(0.2).

    Shapes: encoder ``(B, C, T, H, W) -> (B, latent_dim, T / 2^(L-1), H / 2^L, W / 2^L)``
    (rounded up); decoder the reverse, back to exactly ``(B, C, T, H, W)``.
    """
    if len(sample_shape) != 4:
        raise ValueError(
            f"the 'conv3d' backbone needs clips (C, T, H, W), got samples of shape {sample_shape}"
        )
    strides = [(1, 2, 2)] + [(2, 2, 2)] * len(hidden_dims)
    layers = (sample_shape, hidden_dims, latent_dim, activation, kernel_sizes, strides)
    return _conv_backbone(*layers, mirror=True, linear_code=linear_code)


BackboneBuilder = Callable[..., Backbone]
BACKBONES: dict[str, BackboneBuilder] = {
    "mlp": mlp_backbone,
    "conv2d": conv2d_backbone,
    "conv3d": conv3d_backbone,
}


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
    if len(sample_shape) == 4:
        return "conv3d"
    raise ValueError(
        f"no backbone for samples of shape {sample_shape}; memae supports tabular data "
        "(n_samples, n_features), images (N, H, W), (N, H, W, C) or (N, C, H, W) and "
        "video clips (N, C, T, H, W)"
    )


def build_backbone(name: str, sample_shape: tuple[int, ...], **params) -> Backbone:
    """Build backbone ``name`` (or ``"auto"``) for samples of ``sample_shape``."""
    return BACKBONES[resolve_backbone(name, sample_shape)](sample_shape, **params)
