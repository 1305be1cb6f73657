"""Mixed precision for the backbones: bf16 autocast where the hardware has it.

The time of a fit or a scoring pass is spent in the encoder's and the decoder's
convolutions and linear layers. Those run inside :class:`Stack`, an ``nn.Sequential``
that can enter ``torch.autocast(dtype=torch.bfloat16)`` and hands its output back as
float32. Everything after it stays float32: the memory addressing (softmax,
shrinkage, renormalisation), the compactification, the mixture model, every loss
and score reduction, and the saved weights (autocast never changes a parameter's
dtype). A ``Stack`` has the state-dict keys of an ``nn.Sequential``, so model files
are the same with or without it.

A ``Stack`` also hands image and clip batches to its convolutions in the
``channels_last`` memory format (weights unchanged) under bf16 on any device, and in
float32 on CPU, and keeps every convolution's output in it: a 1-channel batch (MNIST,
Ped2's gray clips) is contiguous in both layouts, and until 2026-12-08 the first
convolution then handed the whole encoder the channels-first layout. On a native-bf16
AMD EPYC a float32 training step was 1.04-1.14x as fast and a scoring pass 1.01-1.33x;
with oneDNN and ATen limited to AVX2 (a stand-in for CPUs without AVX-512) the 2-D
presets gained 1.14-1.24x in training and the 3-D ``ped2-cpu`` was level
(0.98-0.99x); bf16 gained up to 1.07x (``python benchmarks/precision.py --layout``,
measured before the 1-channel encoders went ``channels_last``; issue 20). Float32 on
CUDA keeps the contiguous layout (not measured there). The layout changes float32
results at the rounding level only.
"""

from __future__ import annotations

from functools import cache

import torch
from torch import Tensor, nn
from torch.nn.modules.conv import _ConvNd

PRECISIONS = ("auto", "fp32", "bf16")


class Stack(nn.Sequential):
    """``nn.Sequential`` that runs under bf16 autocast when ``amp_dtype`` is set, and
    feeds 4-D / 5-D inputs in ``channels_last`` memory format when ``channels_last`` is."""

    amp_dtype: torch.dtype | None = None
    channels_last: bool = False

    def forward(self, x: Tensor) -> Tensor:
        fmt = None
        if self.channels_last and x.dim() in (4, 5):
            fmt = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
            x = x.contiguous(memory_format=fmt)
        if self.amp_dtype is None:
            return self._layers(x, fmt)
        with torch.autocast(device_type=x.device.type, dtype=self.amp_dtype):
            out = self._layers(x, fmt)
        return out.float()

    def _layers(self, x: Tensor, fmt: torch.memory_format | None) -> Tensor:
        for module in self:
            x = module(x)
            # A 1-channel input (MNIST, Ped2's gray frames) is contiguous in both layouts,
            # and a convolution given one keeps the default layout: without this its
            # output, and every layer after it, would stay channels-first.
            if fmt is not None and isinstance(module, _ConvNd):
                x = x.contiguous(memory_format=fmt)
        return x


@cache
def native_bf16_cpu() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX)."""
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def autocast_dtype(precision: str, device: torch.device, conv: bool = True) -> torch.dtype | None:
    """The autocast dtype of ``precision`` on ``device`` (None: plain float32).

    ``"auto"`` is bf16 for conv backbones (``conv``) on CUDA devices that support it
    and on CPUs with native bf16, float32 elsewhere (emulated bf16 would be slower) and
    for the tabular MLPs: on a native-bf16 CPU bf16 did not make the KDD MLP's training
    step faster, and it cost detection (DAGMM's sanity ROC-AUC on far-out points 0.937
    against 0.998 in float32). ``"bf16"`` is bf16 anywhere.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if not conv:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if device.type == "cpu" and native_bf16_cpu() else None


def channels_last(dtype: torch.dtype | None, device: torch.device) -> bool:
    """Whether conv inputs go ``channels_last`` for autocast ``dtype`` on ``device``:
    under bf16 anywhere, and in float32 on CPU (faster in both, measured on CPU)."""
    return dtype is not None or device.type == "cpu"


def set_precision(
    module: nn.Module, dtype: torch.dtype | None, channels_last: bool | None = None
) -> None:
    """Make every :class:`Stack` inside ``module`` autocast to ``dtype`` (None: off), with
    ``channels_last`` conv inputs (default: under bf16 only)."""
    for m in module.modules():
        if isinstance(m, Stack):
            m.amp_dtype = dtype
            m.channels_last = dtype is not None if channels_last is None else channels_last
