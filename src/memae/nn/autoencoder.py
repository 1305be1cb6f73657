"""The pure torch autoencoder, with or without a memory between encoder and decoder."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn

from memae.nn.memory import Memory


class AutoEncoderOutput(NamedTuple):
    """Result of :class:`AutoEncoderNet`.

    Attributes
    ----------
    reconstruction : Tensor
        ``x_hat``, same shape as the input.
    code : Tensor
        ``z``, the encoder's output (the memory query).
    attention : Tensor or None
        The memory's addressing weights ``(Q, N)``; ``None`` without a memory.
    entropy : Tensor or None
        The entropy of every row of ``attention``, ``(Q,)``; ``None`` without a memory.
    """

    reconstruction: Tensor
    code: Tensor
    attention: Tensor | None
    entropy: Tensor | None = None


class AutoEncoderNet(nn.Module):
    """``x -> encoder -> [memory] -> decoder -> x_hat``.

    Parameters
    ----------
    encoder, decoder : nn.Module
        From a backbone (:func:`memae.nn.build_backbone`).
    memory : Memory, optional
        If given, the decoder sees the memory read-out instead of the code (MemAE);
        without it this is the plain autoencoder baseline.

    Shapes
    ------
    ``x``: ``(B, *sample_shape)``; the code: whatever the encoder yields, ``(B, C)``
    or ``(B, C, *S)``.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, memory: Memory | None = None):
        super().__init__()
        self.encoder = encoder
        self.memory = memory
        self.decoder = decoder

    def forward(self, x: Tensor) -> AutoEncoderOutput:
        z = self.encoder(x)
        if self.memory is None:
            return AutoEncoderOutput(self.decoder(z), z, None)
        read = self.memory(z)
        return AutoEncoderOutput(self.decoder(read.output), z, read.attention, read.entropy)
