"""MemAE: the memory-augmented autoencoder of Gong et al. (ICCV 2019)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import Tensor, nn

from memae.constraints import Interval, Real, StrOptions, non_negative, positive, positive_int
from memae.detectors.base import (
    RECONSTRUCTION_SCORES,
    BaseDetector,
    ReconstructionMixin,
    shared_params,
)
from memae.nn import AutoEncoderNet, Memory, squared_error
from memae.nn.memory import Addressing
from memae.preprocessing import Preprocessing, network_shape
from memae.training.config import LRSchedule


class MemAE(ReconstructionMixin, BaseDetector, model_key="memae"):
    """Memory-augmented autoencoder anomaly detector (Gong et al., ICCV 2019).

    The encoder's code addresses a learned memory of ``memory_size`` prototype items
    (:class:`memae.nn.Memory`); the decoder reconstructs from the sparse convex
    combination of items it reads, so inputs unlike the normal training data are
    reconstructed poorly. Loss = mean squared reconstruction error +
    ``entropy_weight`` * mean entropy of the addressing weights. Score = per-sample
    reconstruction error.

    ``shrink_threshold=0`` gives the paper's "MemAE-nonSpar" variant.

    Parameters
    ----------
    memory_size : int, default=50
        ``N``, the number of memory items.
    shrink_threshold : float or None, default=None
        Hard-shrinkage threshold ``lam``; ``None`` means ``1 / memory_size`` (the
        paper recommends ``[1/N, 3/N]``), ``0`` disables shrinkage.
    addressing : {"cosine", "dot"}, default="cosine"
        Similarity used for addressing: the paper's cosine (with ``temperature``) or
        the official code's plain inner product.
    temperature : float, default=1.0
        Divides cosine similarities before the softmax; 1 is the paper's plain
        cosine. See :class:`memae.nn.Memory`.
    entropy_weight : float, default=0.0002
        ``alpha``, weight of the addressing-entropy loss (paper value).
    memory_layout : {"location", "flat"}, default="location"
        For convolutional codes ``(B, C, h, w)`` or ``(B, C, t, h, w)``:
        ``"location"`` addresses the memory with every location's ``C``-vector
        separately (items of size ``C``, as the official code does); ``"flat"`` uses
        the whole flattened code as one query (items of size ``C * h * w``).
        Irrelevant for tabular data.
    score_method : {"squared", "location_l2"}, default="squared"
        The paper's mean squared error, or the official code's video score: the
        error's norm across channels at every location, averaged (for one channel,
        the mean absolute error). As in :class:`memae.AutoEncoder`.
    backbone, hidden_dims, latent_dim, activation, kernel_sizes, preprocessing, \
categorical, min_frequency, log1p, epochs, \
batch_size, lr, weight_decay, validation_fraction, patience, contamination, device, \
precision, random_state, verbose
        As in :class:`memae.AutoEncoder`.

    Examples
    --------
    >>> det = MemAE.from_preset("kdd", random_state=0)
    >>> det.memory_size, det.latent_dim
    (50, 3)
    """

    def __init__(
        self,
        *,
        memory_size: int = 50,
        shrink_threshold: float | None = None,
        addressing: Addressing = "cosine",
        temperature: float = 1.0,
        entropy_weight: float = 0.0002,
        memory_layout: Literal["location", "flat"] = "location",
        score_method: Literal["squared", "location_l2"] = "squared",
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
        self.memory_size = memory_size
        self.shrink_threshold = shrink_threshold
        self.addressing = addressing
        self.temperature = temperature
        self.entropy_weight = entropy_weight
        self.memory_layout = memory_layout
        self.score_method = score_method

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "memory_size": [positive_int()],
        "shrink_threshold": [Interval(Real, 0, 1, closed="both"), None],
        "addressing": [StrOptions({"cosine", "dot"})],
        "temperature": [positive()],
        "entropy_weight": [non_negative()],
        "memory_layout": [StrOptions({"location", "flat"})],
        "score_method": [RECONSTRUCTION_SCORES],
    }
    _score_only_params: ClassVar[frozenset[str]] = frozenset({"score_method"})

    def _build_network(self, sample_shape: tuple[int, ...]) -> nn.Module:
        bb = self._backbone(sample_shape)
        flat = self.memory_layout == "flat"
        memory = Memory(
            self.memory_size,
            math.prod(bb.code_shape) if flat else bb.code_dim,
            shrink_threshold=self.shrink_threshold,
            addressing=self.addressing,
            temperature=self.temperature,
            flatten=flat,
        )
        return AutoEncoderNet(bb.encoder, bb.decoder, memory)

    @torch.inference_mode()
    def decode_memory(self) -> np.ndarray:
        """Every memory item passed through the decoder, in the input's scale and layout.

        With per-location addressing of a feature map, item ``i`` is placed at every
        location of the code. Returns shape ``(memory_size, *sample_shape)``. The
        paper shows whole-code items that decode to prototypes of the normal class;
        when reconstructions mix several items, a single item need not look like one.
        """
        self._check_fitted()
        net = self.network_.eval()
        probe = torch.zeros((1, *network_shape(self.sample_shape_)), device=self.device_)
        code_shape = net.encoder(probe).shape[1:]
        items = net.memory.weight
        if net.memory.flatten:
            codes = items.reshape(-1, *code_shape)
        else:
            codes = items.reshape(*items.shape, *[1] * (len(code_shape) - 1))
            codes = codes.expand(-1, *code_shape)
        return self.scaler_.inverse(net.decoder(codes)).cpu().numpy()

    @torch.inference_mode()
    def attention(self, X: Any, batch_size: int | None = None) -> np.ndarray:
        """The memory addressing weights ``w_hat`` (after shrinkage) of every sample.

        Shows which memory items a sample is rebuilt from, and how sparse the
        addressing is (the number of non-zero weights per row).

        Returns
        -------
        ndarray of float32, shape ``(n_samples, memory_size)`` when each sample is one
        query (tabular input, or ``memory_layout="flat"``), else ``(n_samples,
        n_locations, memory_size)``: one row per code location, in the code map's order.
        """
        self._check_fitted()
        arr = self._check_input(X)
        parts = [
            self.network_(batch).attention.float().reshape(len(batch), -1, self.memory_size)
            for _, batch in self._batches(arr, batch_size)
        ]
        out = torch.cat(parts).cpu().numpy()
        return out[:, 0] if out.shape[1] == 1 else out

    def _loss(self, model: nn.Module, batch: Tensor) -> dict[str, Tensor]:
        out = model(batch)
        recon = squared_error(batch, out.reconstruction).mean()
        # out.entropy: the closed-form row entropies (= attention_entropy(out.attention))
        loss = recon + self.entropy_weight * out.entropy.mean()
        return {"loss": loss, "validation": recon}
