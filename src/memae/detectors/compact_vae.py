"""A VAE with a compact latent space and the vacant-hole score (after Glazunov and Zarras)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import Tensor, nn

from memae.clips import ClipWindows
from memae.constraints import StrOptions, non_negative, positive, positive_int
from memae.detectors.base import BaseDetector, ReconstructionMixin, shared_params
from memae.detectors.explain import gaussian_nll_parts, squared_error_parts
from memae.nn import gaussian_kl, gaussian_nll, squared_error
from memae.nn.compact import CompactVAENet, lipschitz_mlp, sphere_log_area
from memae.preprocessing import Preprocessing
from memae.training.config import LRSchedule

_CHUNK = 1024  # query rows per distance block in the hole score


class CompactVAE(ReconstructionMixin, BaseDetector, model_key="compactvae"):
    r"""VAE whose latent space is compact, scored by how empty the training codes are nearby.

    After Glazunov and Zarras, "Vacant Holes for Unsupervised Detection of the
    Outliers in Compact Latent Representation" (UAI 2023). **Only the paper's abstract
    was available, so this design is memae's own.** The abstract argues that the
    classical VAE's latent assumption is flawed, that making the encoder's image
    compact fixes it, either by the one-point (Alexandroff) compactification, i.e. a
    latent on a sphere, or by a fixed Lipschitz constant on the encoder, and that
    outliers then land in vacant "holes" of the compact latent space.

    Compactifications
    -----------------
    Both keep a Gaussian posterior ``N(h(x), diag exp(logvar(x)))`` with an ``N(0, I)``
    prior (exact KL) in a chart, and decode from the chart point's compact image.

    ``"sphere"`` (default)
        The one-point compactification of R^(m-1): ``h`` in R^(m-1) is mapped onto
        the sphere S^(m-1) in R^m by the inverse stereographic projection
        (:func:`memae.nn.compact.inverse_stereographic`, scaled so that codes of
        typical prior norm land near the equator). Far-out inputs, in any direction,
        approach the north pole, the point at infinity, which the prior pushed onto
        the sphere leaves vacant. A radial projection ``h / |h|`` would discard how
        far out an input is, and a ReLU encoder is nearly scale-invariant, so far-away
        inputs would land among the normal codes (memae before issue 23).
    ``"lipschitz"``
        ``mu(x) = tanh(L f(x))`` with ``f`` a 1-Lipschitz MLP on the flattened,
        preprocessed input (layers divided by their exact spectral norm, GroupSort
        activations), so ``mu`` is ``L``-Lipschitz and bounded in (-1, 1)^m. The
        decoder is the backbone's.

    Training minimises ``-log p(x|z) + beta KL(q(h|x) || N(0, I))`` with the
    calibrated Gaussian decoder of :class:`memae.VAE`.

    Hole score
    ----------
    With ``score_method="hole"``, the score of ``x`` is the estimated log ratio
    of the prior to the training codes' (aggregated posterior's) density at its code
    ``z = mu(x)``:

    .. math:: s(x) = \log p(z) - \log \hat q(z), \qquad
              \hat q(z) = \frac{k}{n\, V_d\, r_k(z)^d}

    where ``r_k(z)`` is the Euclidean (chordal, on the sphere) distance to the k-th
    nearest of ``n`` reference codes (``mu`` of up to ``n_reference`` training rows
    drawn with the seed), ``V_d`` the volume of the unit d-ball and ``d`` the latent's
    dimension (``m - 1`` on the sphere, ``m`` otherwise), the k-nearest-neighbour
    density estimate (Loftsgaarden and Quesenberry, 1965). A compact latent leaves no
    room at infinity for an outlier's code to escape to, so an outlier's code lands
    somewhere in the compact space; if the training codes do not cover that spot, it
    is a hole: ``q_hat`` is small and ``s`` is large. On the sphere ``p`` is the
    uniform (area) measure, so ``s`` orders inputs as the k-NN distance does and the
    vacant pole scores high. In the cube ``p`` is the ``N(0, I)`` density at ``z``.
    Training rows that are themselves reference codes are scored leave-one-out in
    ``decision_scores_`` (and so ``labels_`` and ``threshold_``): a code does not count
    as its own neighbour. ``decision_function`` cannot know whether a new input is a
    training row, so for those rows it counts their own code, which lowers their hole
    score (it can rise by at most ``log(n / (n - 1))``, the density's ``n``): with
    ``score_method="hole"``, ``predict(X_train)`` flags fewer training rows than
    ``labels_``. Rows outside ``reference_rows_`` score the same both ways.

    A code alone cannot show an anomaly that the encoder does not see: points off
    the low-dimensional set the training rows lie on are encoded among the normal
    codes (the encoder learns to ignore directions without variance). So the default,
    ``score_method="joint"``, adds the decoder's negative log-likelihood of ``x`` given its
    code, also in nats (the calibrated Gaussian decoder, from ``mu``):

    .. math:: s(x) = -\log p(x \mid z) + \log p(z) - \log \hat q(z)

    i.e. minus the log of ``p(x|z) q_hat(z) / p(z)``. ``score_method="reconstruction"``
    gives the mean squared error of the reconstruction from ``mu`` instead, for
    comparison.

    Parameters
    ----------
    compactification : {"sphere", "lipschitz"}, default="sphere"
        See above.
    lipschitz : float, default=1.0
        ``L``, the encoder's Lipschitz constant (``"lipschitz"`` only).
    beta : float, default=1.0
        Weight of the KL term.
    score_method : {"joint", "hole", "reconstruction"}, default="joint"
        See above.
    n_neighbors : int, default=5
        ``k`` of the hole score.
    n_reference : int, default=10000
        At most this many training codes are kept (in the model file) for the hole score.
    trunk_dims : sequence of int, optional
        Hidden widths (even) of the Lipschitz MLP encoder. Default: ``hidden_dims`` for
        tabular data, ``(512, 256)`` for images and clips.
    backbone, hidden_dims, latent_dim, activation, kernel_sizes, preprocessing, \
categorical, min_frequency, log1p, epochs, \
batch_size, lr, weight_decay, validation_fraction, patience, contamination, device, \
precision, random_state, verbose
        As in :class:`memae.AutoEncoder`. ``latent_dim`` is ``m``; a convolutional
        backbone's code map is flattened and projected to it (and back for the decoder).

    Attributes
    ----------
    See :class:`memae.detectors.base.BaseDetector`. The reference codes are the
    buffer ``network_.reference`` ``(n, m)``.
    reference_rows_ : ndarray of int64
        The training rows whose codes are the reference codes (sorted); saved with
        the model (empty for files saved before memae recorded it).
    """

    def __init__(
        self,
        *,
        compactification: Literal["sphere", "lipschitz"] = "sphere",
        lipschitz: float = 1.0,
        beta: float = 1.0,
        score_method: Literal["joint", "hole", "reconstruction"] = "joint",
        n_neighbors: int = 5,
        n_reference: int = 10000,
        trunk_dims: Sequence[int] | None = None,
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
        self.compactification = compactification
        self.lipschitz = lipschitz
        self.beta = beta
        self.score_method = score_method
        self.n_neighbors = n_neighbors
        self.n_reference = n_reference
        self.trunk_dims = trunk_dims

    # ``score`` shadowed the estimator method scikit-learn calls ``score`` (issue 22)
    _renamed_params: ClassVar[dict[str, str]] = {"score": "score_method"}

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "beta": [non_negative()],
        "compactification": [StrOptions({"sphere", "lipschitz"})],
        "lipschitz": [positive()],
        "n_neighbors": [positive_int()],
        "n_reference": [positive_int()],
        "score_method": [StrOptions({"joint", "hole", "reconstruction"})],
        "trunk_dims": ["array-like", None],
    }

    def _check_params(self) -> None:
        super()._check_params()
        if int(self.n_reference) <= int(self.n_neighbors):
            raise ValueError(
                f"need 1 <= n_neighbors < n_reference, got {self.n_neighbors}, {self.n_reference}"
            )
        if self.compactification == "sphere" and self.latent_dim < 2:
            raise ValueError("the sphere needs latent_dim >= 2 (S^(m-1) in R^m)")

    # ---------------------------------------------------------------------- network
    def _build_network(self, sample_shape: tuple[int, ...]) -> nn.Module:
        bb = self._backbone(sample_shape)
        m = self.latent_dim
        if self.compactification == "sphere":
            trunk, features = bb.encoder, math.prod(bb.code_shape)
        else:
            tabular = len(sample_shape) == 1
            dims = self.trunk_dims or (self.hidden_dims if tabular else (512, 256))
            trunk = nn.Sequential(nn.Flatten(1), lipschitz_mlp([math.prod(sample_shape), *dims, m]))
            features = m
        return CompactVAENet(
            trunk, bb.decoder, features, bb.code_shape, m, self.compactification, self.lipschitz
        )

    def _loss(self, model: nn.Module, batch: Tensor) -> dict[str, Tensor]:
        out = model(batch)
        kl = gaussian_kl(out.chart_mu, out.logvar)
        loss = (gaussian_nll(batch, out.reconstruction, out.log_scale) + self.beta * kl).mean()
        return {"loss": loss}

    # ------------------------------------------------------------------------ score
    def _after_training(self, arr: Any) -> None:
        n = len(arr)
        if n <= int(self.n_neighbors):
            raise ValueError(
                f"the hole score needs more than n_neighbors={self.n_neighbors} training "
                f"samples, got {n}"
            )
        rng = np.random.default_rng(self.seed_)
        rows = np.sort(rng.choice(n, size=min(int(self.n_reference), n), replace=False))
        ref = arr.select(rows) if isinstance(arr, ClipWindows) else arr[rows]
        self.network_.reference = self._codes(ref)
        self.reference_rows_ = rows

    def _get_state(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        fitted, tensors = super()._get_state()
        tensors["fitted.reference_rows"] = torch.from_numpy(np.asarray(self.reference_rows_))
        return fitted, tensors

    def _set_state(self, fitted: dict[str, Any], tensors: dict[str, Tensor]) -> None:
        super()._set_state(fitted, tensors)
        rows = tensors.get("fitted.reference_rows", torch.zeros(0, dtype=torch.int64))
        self.reference_rows_ = rows.numpy().astype(np.int64)

    def codes(self, X: Any, batch_size: int | None = None) -> np.ndarray:
        """Posterior centres ``mu(x)`` of ``X``, ``(n_samples, latent_dim)`` float32.

        Unit vectors for ``"sphere"``, points of ``(-1, 1)^m`` for ``"lipschitz"``.
        """
        arr = self._check_input(X)
        return self._codes(arr, batch_size).cpu().numpy()

    @torch.inference_mode()
    def _codes(self, arr: Any, batch_size: int | None = None) -> Tensor:
        net = self.network_
        return torch.cat([net.compact(net.encode(b)[0]) for _, b in self._batches(arr, batch_size)])

    def _nan_propagates(self) -> bool:
        """The joint and reconstruction scores sum ``(x - x_hat)^2`` over every input
        value (the hole term added to the joint one cannot cancel a non-finite sum); the
        hole score reads the code alone, which a bounded encoder may keep finite."""
        return self.score_method != "hole"

    def _score_batch(self, model: nn.Module, batch: Tensor, own: Tensor | None = None) -> Tensor:
        out = model(batch)
        if self.score_method == "reconstruction":
            return squared_error(batch, out.reconstruction)
        hole = self._hole(out.mu, own)
        if self.score_method == "hole":
            return hole
        return gaussian_nll(batch, out.reconstruction, out.log_scale) + hole

    def _feature_batch(self, model: nn.Module, batch: Tensor) -> tuple[Tensor, Tensor]:
        out = model(batch)
        if self.score_method == "reconstruction":
            return squared_error_parts(batch, out.reconstruction)
        if self.score_method == "hole":
            return super()._feature_batch(model, batch)  # the code alone: no features
        parts = gaussian_nll_parts(batch, out.reconstruction, out.log_scale)
        return parts, self._hole(out.mu)

    @torch.inference_mode()
    def _training_scores(self, share: Any, start: int) -> np.ndarray:
        if self.score_method == "reconstruction":
            return self._scores(share)
        # Leave-one-out for rows that are reference codes themselves.
        own = torch.from_numpy(np.isin(np.arange(start, start + len(share)), self.reference_rows_))
        out = np.empty(len(share), dtype=np.float64)
        for i, batch in self._batches(share, None):
            mask = own[i : i + len(batch)].to(batch.device)
            out[i : i + len(batch)] = self._score_batch(self.network_, batch, mask).double().cpu()
        return out

    @torch.inference_mode()
    def _hole(self, mu: Tensor, own: Tensor | None = None) -> Tensor:
        """``log p(z) - log q_hat(z)`` per row of ``mu``; ``own`` rows skip their own code."""
        ref = self.network_.reference
        n, m = ref.shape
        k = int(self.n_neighbors)
        sphere = self.compactification == "sphere"
        d = m - 1 if sphere else m
        # An exported graph has a free batch size: one block, no Python loop over it.
        # (cdist's default picks its algorithm by size, which an exported graph cannot.)
        exporting = torch.compiler.is_exporting()
        starts = [0] if exporting else range(0, len(mu), _CHUNK)
        mode = "use_mm_for_euclid_dist" if exporting else "use_mm_for_euclid_dist_if_necessary"
        radii = []
        for i in starts:
            block = mu if exporting else mu[i : i + _CHUNK]
            # Distances in float64: cdist's float32 matrix-product form loses digits on
            # nearby points and gives a row alone a different value than in a batch.
            near = torch.cdist(block.double(), ref.double(), compute_mode=mode)
            near = near.topk(min(k + 1, n), largest=False).values
            r = near[:, k - 1]
            if own is not None:
                r = torch.where(own[i : i + _CHUNK], near[:, k], r)
            radii.append(r)
        r = torch.cat(radii).clamp_min(1e-8)  # duplicates of a reference code: r = 0
        n_eff = n - own.to(r.dtype) if own is not None else torch.full_like(r, n)
        log_ball = (d / 2) * math.log(math.pi) - math.lgamma(d / 2 + 1)
        log_q = math.log(k) - n_eff.log() - log_ball - d * r.log()
        if sphere:
            log_p = torch.full_like(r, -sphere_log_area(m))
        else:
            log_p = -0.5 * mu.pow(2).sum(dim=1) - (m / 2) * math.log(2 * math.pi)
        return (log_p - log_q).float()
