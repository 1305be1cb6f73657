"""The plain autoencoder baseline (the MemAE paper's "AE" and "AE-l1")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from torch import Tensor, nn

from memae.constraints import non_negative
from memae.detectors.base import (
    RECONSTRUCTION_SCORES,
    BaseDetector,
    ReconstructionMixin,
    shared_params,
)
from memae.nn import AutoEncoderNet, latent_l1, squared_error
from memae.preprocessing import Preprocessing
from memae.training.config import LRSchedule


class AutoEncoder(ReconstructionMixin, BaseDetector, model_key="ae"):
    """Autoencoder anomaly detector: score = reconstruction error.

    The same network as :class:`memae.MemAE` without the memory, i.e. the MemAE
    paper's "AE" baseline; ``l1_weight > 0`` adds an L1 penalty on the code, the
    paper's "AE-l1" sparse-latent baseline.

    Parameters
    ----------
    backbone : str, default="auto"
        Encoder/decoder family; ``"auto"`` picks ``"mlp"`` for tabular data,
        ``"conv2d"`` for images and ``"conv3d"`` for video clips ``(N, C, T, H, W)``.
    hidden_dims : sequence of int, default=(64, 32)
        Widths (``"mlp"``) or channel counts (``"conv2d"``, ``"conv3d"``) of the
        encoder's hidden layers; the decoder mirrors them.
    latent_dim : int, default=8
        Size of the code (channels of the code map for the convolutional backbones).
    activation : str, default="relu"
        ``"tanh"``, ``"relu"``, ``"leaky_relu"``, ``"elu"``, ``"gelu"`` or ``"sigmoid"``.
    kernel_sizes : sequence of int, optional
        Convolutional backbones: kernel size of each encoder layer (default 3).
    l1_weight : float, default=0.0
        Weight of ``mean |z|`` in the loss ("AE-l1").
    score_method : {"squared", "location_l2"}, default="squared"
        The per-sample reconstruction error used as the score. ``"squared"``: the
        mean squared error over every value, the paper's ``||x - x_hat||_2^2`` (up to
        the constant count). ``"location_l2"``: the error's Euclidean norm across
        channels at every location (pixel, voxel), averaged over locations; the
        official MemAE code scores video clips this way (``script_testing.py``), and
        for one channel it is the mean absolute error. It changes the ranking only
        for images and clips (a table row is one location, whose L2 error ranks rows
        as the squared error does). Training is the same; only scores differ.
    preprocessing : {"standard", "minmax", "image", "image-standard", None}, \
default="standard"
        Scaling fitted on the training data: per feature (``"standard"``,
        ``"minmax"``) or, for images, ``"image"`` (pixels [0, 255] -> [-1, 1]) or
        ``"image-standard"`` (one mean and standard deviation over all pixels).
    categorical : "auto", list of str or None, default="auto"
        Tables with text columns (:mod:`memae.encoding`): ``"auto"`` one-hot encodes
        a DataFrame's text, ``category`` and boolean columns, a list names the
        columns to encode, ``None`` encodes none. The categories are those of the
        training rows, saved with the model; an unseen value at scoring time is
        counted in a warning and encoded as the infrequent category (or all zeros).
    min_frequency : int, float or None, default=None
        Categories rarer than this count (or share of the rows, when below 1) are
        grouped into one infrequent category per column.
    log1p : bool or list of str, default=False
        ``log(1 + x)`` on heavy-tailed numeric columns before ``preprocessing``:
        the columns listed, or with True every numeric column whose training values
        are all >= 0.
    epochs : int or "auto", default="auto"
        Maximum number of epochs: a generous cap, training normally ends earlier
        by ``patience`` (``stopped_early_`` says which). ``"auto"``: 500 epochs of
        at least 10 optimiser steps, the unit ``patience`` counts in; that is 500
        passes over the training rows where they make 10 or more batches, and
        ``500 * ceil(10 / batches)`` passes where they make fewer (5,000 on a table
        of one batch). An int caps the passes at exactly that number.
    batch_size : int, default=256
    lr : float, default=1e-3
        Adam learning rate.
    weight_decay : float, default=0.0
    validation_fraction : float, default=0.1
        Share of training rows held out to early-stop on their (unlabelled)
        reconstruction loss; ``0`` trains on all rows for ``epochs`` epochs.
    patience : int or None, default=10
        Epochs without validation improvement (by more than a relative 1e-4)
        before stopping; the weights of the best epoch are kept. An epoch counts as
        at least 10 optimiser steps: with fewer batches an epoch, the wait is
        stretched to ``patience * ceil(10 / steps)`` epochs.
    lr_schedule : {"constant", "plateau"}, default="constant"
        ``"plateau"`` multiplies the learning rate by 0.1 after ``patience // 2``
        epochs without validation improvement (reduce-on-plateau; needs
        ``validation_fraction > 0``); ``history_`` then records each epoch's ``lr``.
        The presets keep ``"constant"``: on the KDD preset the lower rate ended at a
        higher validation loss (README, Presets).
    contamination : float, default=0.1
        Expected share of anomalies in the training data; sets ``threshold_``.
    device : str, default="auto"
        ``"auto"`` uses CUDA when available.
    precision : {"auto", "fp32", "bf16"}, default="auto"
        ``"bf16"`` runs the encoder and decoder under bf16 autocast
        (:mod:`memae.nn.precision`); the memory, losses, scores and weights stay
        float32. ``"auto"`` is bf16 for conv backbones on CUDA devices and CPUs with
        native bf16 (AVX512-BF16 / AMX), float32 elsewhere and for MLP backbones.
        Conv inputs go ``channels_last`` under bf16 and, on CPU, in float32 too.
    random_state : int or None, default=None
        Seed; a repeated CPU fit with the same seed is bit-identical.
    verbose : int, default=0
        ``1`` shows a progress bar.

    Attributes
    ----------
    See :class:`memae.detectors.base.BaseDetector`.

    Examples
    --------
    >>> from memae import AutoEncoder
    >>> det = AutoEncoder(epochs=5, random_state=0).fit(X_train)  # doctest: +SKIP
    >>> det.predict(X_test)  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        backbone: str = "auto",
        hidden_dims: Sequence[int] = (64, 32),
        latent_dim: int = 8,
        activation: str = "relu",
        kernel_sizes: Sequence[int] | None = None,
        l1_weight: float = 0.0,
        score_method: Literal["squared", "location_l2"] = "squared",
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
        self.l1_weight = l1_weight
        self.score_method = score_method

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "l1_weight": [non_negative()],
        "score_method": [RECONSTRUCTION_SCORES],
    }
    _score_only_params: ClassVar[frozenset[str]] = frozenset({"score_method"})

    def _build_network(self, sample_shape: tuple[int, ...]) -> nn.Module:
        bb = self._backbone(sample_shape)
        return AutoEncoderNet(bb.encoder, bb.decoder)

    def _loss(self, model: nn.Module, batch: Tensor) -> dict[str, Tensor]:
        out = model(batch)
        recon = squared_error(batch, out.reconstruction).mean()
        loss = recon + self.l1_weight * latent_l1(out.code) if self.l1_weight else recon
        return {"loss": loss, "validation": recon}
