"""The estimator front end shared by every memae detector.

A detector owns preprocessing, seeding, device placement, the call into the shared
trainer, scoring in batches, the contamination threshold and its fitted state. A
concrete model only says how to build its network, what its loss is and how it
scores a batch (see :class:`memae.AutoEncoder`, :class:`memae.MemAE`), and
registers itself by subclassing (:mod:`memae.registry`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import Tensor, nn

from memae import distributed, io, registry
from memae.clips import ClipWindows
from memae.constraints import (
    Integral,
    Interval,
    Options,
    Real,
    StrOptions,
    check_params,
    non_negative,
    positive,
    positive_int,
)
from memae.detectors.decisions import DecisionMixin
from memae.detectors.explain import ExplainMixin, location_l2_parts, squared_error_parts
from memae.encoding import TableEncoder, wants_encoding
from memae.nn import Backbone, build_backbone, location_l2_error, squared_error
from memae.nn.precision import PRECISIONS, autocast_dtype, channels_last, set_precision
from memae.preprocessing import Preprocessing, Scaler, network_shape
from memae.readers import DEFAULT_CHUNKSIZE, iter_table
from memae.training import TrainConfig, adam, split_rows, train
from memae.training.config import LR_SCHEDULES, LRSchedule
from memae.validation import check_array, check_finite

#: labelled metrics for ``fit(validation_data=...)`` (higher is better)
SELECTION_METRICS = {"roc_auc": roc_auc_score, "average_precision": average_precision_score}

# Floats of input per scoring batch on CPU (2 MB). Smaller batches keep the activations
# near the caches: against 16 MB batches, this scored the KDD MLP 1.3-1.8x, the `mnist` and
# `ped2-cpu` conv networks 1.7x and `cifar10` 1.4-1.6x as fast on 2 cores
# (`python benchmarks/speed.py --scoring-batches`).
_INFERENCE_ELEMENTS = 1 << 19
# On a GPU, a scoring batch's input may take this share of the free memory (the
# activations of the deepest preset network take a few dozen times its input).
_CUDA_INPUT_SHARE = 1 / 64
_MAX_FEATURES = 1 << 28  # values per sample a model file may describe (a 16k x 16k image)
_SCORES_KEY = "fitted.decision_scores"  # the training scores' tensor in the model file
_CALIBRATION_KEY = "fitted.calibration_scores"  # held-out scores (memae.detectors.decisions)


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as given."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:i]', got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but CUDA is not available")
    return dev


def host_tensor(block: np.ndarray, pinned: bool) -> Tensor:
    """``block`` as a CPU tensor, copied at most once.

    A read-only block (a memory map) needs a copy, since torch tensors are writable. For
    a CUDA transfer the one copy goes straight into pinned (page-locked) memory, so that
    the non-blocking transfer runs asynchronously; a fresh buffer per batch (the caching
    host allocator reuses them) keeps a pending transfer from being overwritten.
    """
    if pinned:
        dtype = torch.from_numpy(np.empty(0, block.dtype)).dtype
        out = torch.empty(block.shape, dtype=dtype, pin_memory=True)
        np.copyto(out.numpy(), block, casting="no")
        return out
    return torch.from_numpy(block if block.flags.writeable else block.copy())


def shared_params(values: dict[str, Any]) -> dict[str, Any]:
    """The parameters :class:`BaseDetector` takes, picked from a subclass's ``locals()``.

    A subclass lists every parameter in its own signature (scikit-learn reads it) and
    passes the shared ones up with ``super().__init__(**shared_params(locals()))``.
    """
    return {name: values[name] for name in _SHARED if name in values}


def _is_abstract(cls: type) -> bool:
    """Whether ``cls`` leaves an abstract method undefined.

    ``__init_subclass__`` runs before ``ABCMeta`` sets ``__abstractmethods__``, so
    the methods are inspected directly.
    """
    return any(
        getattr(getattr(cls, name, None), "__isabstractmethod__", False) for name in dir(cls)
    )


class NotFittedError(SklearnNotFittedError):
    """The detector was used before ``fit`` (a scikit-learn ``NotFittedError``)."""


class BaseDetector(DecisionMixin, ExplainMixin, BaseEstimator, metaclass=ABCMeta):
    """Shared ``fit`` / ``decision_function`` / ``predict`` / ``save`` machinery.

    This is memae's extension point. A new detector is one subclass, in memae or
    in the user's own module, that defines:

    - ``__init__``: parameters only, scikit-learn style (list the shared ones that it
      exposes again and pass them up, e.g. ``super().__init__(**shared_params(locals()))``);
    - :meth:`_build_network` (a pure torch module), :meth:`_loss` and
      :meth:`_score_batch` (abstract: a class missing one cannot be instantiated);
    - optionally the hooks :meth:`_before_training`, :meth:`_configure_optimizer`,
      :meth:`_after_training`, :meth:`_training_scores`, :meth:`_check_params`, and
      :meth:`_get_state` / :meth:`_set_state` for fitted state beyond the weights.

    The class statement registers it (``class Mine(BaseDetector, model_key="mine")``;
    the key defaults to the lower-cased class name; ``register=False`` opts out, for a
    test double), after which ``fit``, ``save``,
    :func:`memae.load` and ``memae fit --model module:Class`` work with no edit to
    memae. Reconstruction models also mix in :class:`ReconstructionMixin`.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from memae import BaseDetector
    >>> class LinearAE(BaseDetector, model_key="linear-ae-doc"):
    ...     def __init__(self, *, latent_dim=2, epochs=5, random_state=None):
    ...         super().__init__(latent_dim=latent_dim, epochs=epochs, random_state=random_state)
    ...     def _build_network(self, sample_shape):
    ...         d = sample_shape[0]
    ...         return nn.Sequential(nn.Linear(d, self.latent_dim), nn.Linear(self.latent_dim, d))
    ...     def _loss(self, model, batch):
    ...         err = (model(batch) - batch).pow(2).mean()
    ...         return {"loss": err}
    ...     def _score_batch(self, model, batch):
    ...         return (model(batch) - batch).pow(2).sum(dim=1)
    >>> X = torch.randn(200, 5).numpy()
    >>> LinearAE(random_state=0).fit(X).decision_function(X[:3]).shape
    (3,)

    Fitted attributes
    -----------------
    network_ : nn.Module
        The trained torch model (in eval mode).
    n_features_in_ : int
    feature_names_in_ : list of str, only when fitted on a DataFrame
    encoder_ : memae.encoding.TableEncoder, only when fitted on a DataFrame with
        categorical columns (or ``log1p``): the one-hot encoding learned from the
        training rows, applied to every input and saved with the model
    decision_scores_ : ndarray of shape (n_samples,)
        Anomaly scores of the training rows (higher = more anomalous).
    threshold_ : float
        After ``fit``, the ``1 - contamination`` quantile of ``decision_scores_``;
        :meth:`set_threshold` sets it by a false-positive-rate target instead
        (``threshold_rule_`` says which rule set it).
    calibration_scores_ : ndarray
        Sorted scores of the held-out validation rows (no gradient step saw them), for
        :meth:`p_values` and ``set_threshold(fpr=...)``; see
        :mod:`memae.detectors.decisions`. :meth:`calibrate` replaces them.
    labels_ : ndarray of shape (n_samples,)
        0/1 labels of the training rows, ``decision_scores_ > threshold_``.
    history_ : list of dict
        Per-epoch training (and validation) losses; ``len(history_)`` epochs ran.
    best_epoch_ : int or None
        The epoch whose weights were kept (lowest validation loss), if validated.
    stopped_early_ : bool
        Whether training stopped because the validation loss (or labelled metric) had
        not improved for ``patience`` epochs (converged), rather than at the
        ``epochs`` maximum.
    selection_ : str or None
        What chose ``best_epoch_``: ``"unlabelled validation loss"``, ``"labelled
        roc_auc"`` / ``"labelled average_precision"`` (``fit(validation_data=...)``),
        or None (no validation: the last epoch).
    seed_ : int
        The seed actually used (drawn at random when ``random_state`` is None).
    device_ : torch.device
    """

    #: registry key: the CLI's ``--model`` value and the preset tables' column
    model_key: ClassVar[str] = ""

    #: parameters renamed since an older memae: ``{old: new}``, applied by
    #: :func:`memae.load` to model files that still use the old name
    _renamed_params: ClassVar[dict[str, str]] = {}

    #: declared types, ranges and choices of the parameters (:mod:`memae.constraints`);
    #: subclasses declare their own, merged with these
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "backbone": [str],
        "hidden_dims": ["array-like"],
        "latent_dim": [positive_int()],
        "activation": [str],
        "kernel_sizes": ["array-like", None],
        "preprocessing": [StrOptions({"standard", "minmax", "image", "image-standard"}), None],
        "categorical": [StrOptions({"auto"}), "array-like", None],
        "min_frequency": [
            Interval(Integral, 1, None, closed="left"),
            Interval(Real, 0, 1, closed="neither"),
            None,
        ],
        "log1p": ["boolean", "array-like"],
        "epochs": [positive_int(), StrOptions({"auto"})],
        "batch_size": [positive_int()],
        "lr": [positive()],
        "weight_decay": [non_negative()],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "patience": [positive_int(), None],
        "lr_schedule": [StrOptions(set(LR_SCHEDULES))],
        "contamination": [Interval(Real, 0, 0.5, closed="right")],
        "device": [str, torch.device],
        "precision": [StrOptions(set(PRECISIONS))],
        "random_state": [Interval(Integral, 0, None, closed="left"), None],
        "verbose": [Options(Integral, {0, 1, 2})],
    }

    def __init_subclass__(
        cls, model_key: str | None = None, register: bool = True, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        if model_key is not None:
            cls.model_key = model_key
        elif "model_key" not in cls.__dict__:
            cls.model_key = cls.__name__.lower()
        # An intermediate (abstract) base class is not a detector; ``register=False``
        # keeps a concrete helper class (a test double) out of the registry too.
        if register and not _is_abstract(cls):
            registry.register(cls, cls.model_key)

    def __init__(
        self,
        *,
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
        # Parameters shared by every detector; subclasses list them again in their own
        # signature (scikit-learn's get_params reads it) and pass them up
        # (``shared_params(locals())``).
        self.backbone = backbone
        self.hidden_dims = hidden_dims
        self.latent_dim = latent_dim
        self.activation = activation
        self.kernel_sizes = kernel_sizes
        self.preprocessing = preprocessing
        self.categorical = categorical
        self.min_frequency = min_frequency
        self.log1p = log1p
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.lr_schedule = lr_schedule
        self.contamination = contamination
        self.device = device
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags: an outlier detector, on dense non-negative-or-not floats."""
        tags = super().__sklearn_tags__()
        tags.estimator_type = "outlier_detector"
        tags.non_deterministic = self.random_state is None
        return tags

    # ----------------------------------------------------------------- to override
    @abstractmethod
    def _build_network(self, sample_shape: tuple[int, ...]) -> nn.Module:
        """A freshly initialised torch model for network-layout samples of ``sample_shape``.

        ``sample_shape`` is ``(d,)`` for tabular data and ``(C, H, W)`` for images
        (see :func:`memae.preprocessing.network_shape`).
        """

    @abstractmethod
    def _loss(self, model: nn.Module, batch: Tensor) -> dict[str, Tensor]:
        """``{"loss": objective}`` of a preprocessed batch, plus ``"validation"`` when
        the unlabelled validation criterion is another quantity (AE, MemAE and
        LatentNormAE: the reconstruction term alone). See :data:`memae.training.config.LossFn`.
        """

    @abstractmethod
    def _score_batch(self, model: nn.Module, batch: Tensor) -> Tensor:
        """Anomaly scores ``(B,)`` of a preprocessed batch (higher = more anomalous)."""

    def _before_training(self, arr: Any, network: nn.Module) -> None:
        """Hook: runs after the network is built and before the first epoch.

        ``arr`` holds the checked training samples (not yet preprocessed: see
        ``self.scaler_``). For example, a DeepSVDD centre would be computed here.
        """

    def _configure_optimizer(self, network: nn.Module) -> torch.optim.Optimizer:
        """Hook: the optimiser of ``network``'s parameters, called once it is on the
        device (default: :func:`memae.training.adam` with ``lr`` and ``weight_decay``)."""
        return adam(network, self.lr, self.weight_decay)

    def _backbone(self, sample_shape: tuple[int, ...], *, linear_code: bool = False) -> Backbone:
        """The encoder/decoder pair; ``linear_code``: no batch norm or activation on the code."""
        return build_backbone(
            self.backbone,
            sample_shape,
            hidden_dims=tuple(self.hidden_dims),
            latent_dim=self.latent_dim,
            activation=self.activation,
            kernel_sizes=None if self.kernel_sizes is None else tuple(self.kernel_sizes),
            linear_code=linear_code,
        )

    # ---------------------------------------------------------------------- presets
    @classmethod
    def from_preset(cls, name: str, **overrides: Any):
        """An unfitted detector configured as in the paper for ``name``.

        ``overrides`` replace preset values (for example ``epochs=5``). See
        :mod:`memae.presets` for every preset's values and their sources.
        """
        from memae.presets import preset_params

        return cls(**{**preset_params(name, cls.model_key), **overrides})

    # ------------------------------------------------------------------------- fit
    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        checkpoint_dir: str | os.PathLike | None = None,
        checkpoint_every: int = 1,
        resume: bool = True,
        callbacks: tuple = (),
        validation_data: tuple[Any, Any] | None = None,
        selection_metric: str = "roc_auc",
    ):
        """Train on ``X`` (assumed mostly normal) and set the threshold.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), images or video clips
            numpy array, pandas DataFrame or nested list; images as ``(N, H, W)``,
            ``(N, H, W, C)`` or ``(N, C, H, W)``, best as uint8 (kept compact and
            converted batch by batch; see ``preprocessing="image"``); clips as
            ``(N, C, T, H, W)`` or, without a copy per clip, a
            :class:`memae.clips.ClipWindows` (see :meth:`memae.datasets.Videos.windows`).
        y : ignored
            Present for scikit-learn API compatibility.
        checkpoint_dir : path, optional
            Save a checkpoint every ``checkpoint_every`` epochs; with ``resume=True``
            an interrupted fit continues from it and ends with the same weights.
        callbacks : tuple of callables
            ``cb(epoch, losses)`` after every epoch.
        validation_data : (X_val, y_val), optional
            A few labelled rows (``y_val`` 1 = anomaly, 0 = normal, both present).
            Early stopping and the weights kept then follow ``selection_metric`` on
            them, computed after every epoch (recorded as ``val_metric`` in
            ``history_``), instead of the unlabelled validation loss, which is still
            recorded (``val_loss``). Without it, nothing changes. Labelled selection
            is optimistic on ``X_val``: report results on other data.
        selection_metric : {"roc_auc", "average_precision"}, default="roc_auc"

        Returns
        -------
        self
        """
        self._check_params()
        if selection_metric not in SELECTION_METRICS:
            raise ValueError(
                f"selection_metric must be one of {sorted(SELECTION_METRICS)}, "
                f"got {selection_metric!r}"
            )
        arr, network = self._setup(X)
        monitor, monitor_id = None, ""
        if validation_data is not None:
            monitor, monitor_id = self._labelled_monitor(validation_data, selection_metric, arr)
        self._before_training(arr, network)
        try:
            result = train(
                network,
                arr,
                self._loss,
                self._train_config(),
                transform=self.scaler_,
                device=self.device_,
                optimizer=self._configure_optimizer,
                checkpoint_dir=checkpoint_dir,
                checkpoint_every=checkpoint_every,
                resume=resume,
                callbacks=callbacks,
                monitor=monitor,
                monitor_id=monitor_id,
                identity=self._identity(),
            )
        except BaseException:
            self.__dict__.pop("network_", None)  # a labelled monitor sets it while training
            raise
        self.network_ = network
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.stopped_early_ = result.stopped_early
        self.selection_ = {
            None: None,
            "unlabelled": "unlabelled validation loss",
            "labelled": f"labelled {selection_metric}",
        }[result.selection]
        self._after_training(arr)
        self._score_training_rows(arr)
        return self

    def _setup(self, X: Any) -> tuple[Any, nn.Module]:
        """Check ``X``; set the scaler, seed, device and input shape; build the network."""
        self.__dict__.pop("encoder_", None)
        if wants_encoding(X, self.categorical, self.log1p):
            self.encoder_ = TableEncoder.fit(
                X,
                categorical=self.categorical,
                min_frequency=self.min_frequency,
                log1p=self.log1p,
            )
            X = self.encoder_.transform(X)
        arr, names = check_array(X, estimator=type(self).__name__)
        if hasattr(self, "encoder_"):
            names = list(self.encoder_.columns)
        self.scaler_ = Scaler.fit(arr, self.preprocessing)  # also checks the image layout
        # Every rank of a multi-process fit uses rank 0's seed (drawn or given).
        self.seed_ = distributed.broadcast_int(self._draw_seed())
        self.device_ = distributed.local_device(resolve_device(self.device))
        # scikit-learn's meaning: the input's feature count (columns before one-hot encoding)
        self.n_features_in_ = (
            len(names) if hasattr(self, "encoder_") else int(np.prod(arr.shape[1:]))
        )
        self.sample_shape_ = tuple(arr.shape[1:])
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        # Build the network under a private RNG so initialisation depends on seed_ only.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed_)
            network = self._build_network(network_shape(self.sample_shape_))
        self._apply_precision(network)
        return arr, network

    def _apply_precision(self, network: nn.Module | None = None) -> None:
        """Set ``network``'s (default ``network_``) autocast dtype and conv input layout
        for ``precision`` on ``device_``."""
        net = self.network_ if network is None else network
        dtype = self._amp_dtype(net)
        set_precision(net, dtype, channels_last(dtype, self.device_))

    def _amp_dtype(self, network: nn.Module | None = None) -> torch.dtype | None:
        """The backbones' autocast dtype for ``precision`` on ``device_`` (None: fp32), for
        ``network`` (default ``network_``): ``"auto"`` keeps MLP-only networks float32."""
        net = self.network_ if network is None else network
        conv = any(isinstance(m, nn.modules.conv._ConvNd) for m in net.modules())
        return autocast_dtype(self.precision, self.device_, conv)

    #: parameters that change only the scores, never training (``score_method`` of AE
    #: and MemAE): left out of checkpoint fingerprints, so that a checkpoint resumes under
    #: another score, and one written before such a parameter existed still resumes
    #: (with labelled ``validation_data`` the kept epoch depends on the scores, and the
    #: monitor's id carries them)
    _score_only_params: ClassVar[frozenset[str]] = frozenset()

    def _identity(self) -> str:
        """A digest of the class and every parameter that can change training (all but
        ``verbose``, ``device``, ``contamination`` and :attr:`_score_only_params`), for
        checkpoint fingerprints."""
        skip = {"verbose", "device", "contamination", *self._score_only_params}
        params = {k: repr(v) for k, v in self.get_params(deep=False).items() if k not in skip}
        text = json.dumps([type(self).__module__, type(self).__qualname__, params], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def _train_config(self) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            validation_fraction=self.validation_fraction,
            patience=self.patience,
            lr_schedule=self.lr_schedule,
            seed=self.seed_,
            verbose=self.verbose,
        )

    def _labelled_monitor(
        self, validation_data: Any, selection_metric: str, arr: Any
    ) -> tuple[Callable[[nn.Module], float], str]:
        """The trainer's ``monitor`` (the labelled metric) and an id of its data."""
        X_val, y_val = self._check_validation_data(validation_data)
        metric = SELECTION_METRICS[selection_metric]
        digest = hashlib.sha256(np.ascontiguousarray(X_val).tobytes())
        digest.update(y_val.tobytes() + selection_metric.encode())
        # the labelled metric reads the scores: here a scoring-only parameter does shape
        # the run (which checkpoint is kept), so it joins the fingerprint through this id
        if self._score_only_params:
            digest.update(json.dumps(self._score_params(), sort_keys=True).encode())

        def monitor(model: nn.Module) -> float:
            return metric(y_val, self._validation_scores(model, arr, X_val))

        return monitor, digest.hexdigest()

    def _score_training_rows(self, arr: Any) -> None:
        """``decision_scores_``, ``threshold_`` and ``labels_`` of the training rows."""
        # With several processes each rank scores its share of the training rows.
        start, stop = distributed.shard_bounds(len(arr))
        share = arr.select(slice(start, stop)) if isinstance(arr, ClipWindows) else arr[start:stop]
        scores = self._training_scores(share, start)
        self.decision_scores_ = distributed.gather_rows(scores, len(arr))
        self._fitted_score_params_ = self._score_params()
        self._set_threshold()
        # The held-out validation rows, which no gradient step saw, calibrate p-values
        # and fpr thresholds (memae.detectors.decisions).
        _, val_idx = split_rows(len(arr), self._train_config())
        if val_idx is None:
            self.__dict__.pop("calibration_scores_", None)
        else:
            self.calibration_scores_ = np.sort(self.decision_scores_[val_idx.numpy()])

    def _after_training(self, arr: Any) -> None:
        """Hook: fitted state beyond the weights (``network_`` is set), before scoring."""

    def _check_validation_data(self, validation_data: Any) -> tuple[Any, np.ndarray]:
        """``(X_val, y_val)`` checked: the fitted sample shape, 0/1 labels of both kinds."""
        try:
            X_val, y_val = validation_data
        except (TypeError, ValueError):
            raise ValueError("validation_data must be a pair (X_val, y_val)") from None
        X_val, _ = check_array(
            self._encode(X_val, "X_val"),
            name="X_val",
            sample_shape=self.sample_shape_,
            feature_names=self._checked_names(),
            estimator=type(self).__name__,
        )
        y_val = np.asarray(y_val)
        if y_val.ndim != 1 or len(y_val) != len(X_val):
            raise ValueError(
                f"y_val must be 1-D with one label per row of X_val ({len(X_val)}), "
                f"got shape {y_val.shape}"
            )
        if not np.isin(y_val, (0, 1)).all():
            raise ValueError("y_val must hold 0 (normal) and 1 (anomaly) only")
        y_val = y_val.astype(np.int64)
        if y_val.min() == y_val.max():
            raise ValueError("y_val needs both normal (0) and anomalous (1) rows")
        return X_val, y_val

    def _validation_scores(self, model: nn.Module, arr: Any, X_val: Any) -> np.ndarray:
        """Scores of ``X_val`` by ``model`` in training (for a labelled selection metric).

        The scoring helpers read the fitted state, so ``model`` is installed as
        ``network_`` and :meth:`_after_training` runs (e.g. CompactVAE's reference
        codes); :meth:`fit` installs the kept weights at the end. Non-finite scores
        count as the worst possible metric.
        """
        self.network_ = model
        self._after_training(arr)
        try:
            return self._scores(X_val)
        except FloatingPointError:
            return np.zeros(len(X_val))  # every row tied: chance level, never preferred

    def _training_scores(self, share: Any, start: int) -> np.ndarray:
        """Scores of the training rows ``start, start + 1, ...`` (``decision_scores_``)."""
        return self._scores(share)

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit on ``X`` and return its 0/1 labels (``labels_``)."""
        return self.fit(X).labels_

    # --------------------------------------------------------------------- scoring
    def decision_function(self, X: Any, batch_size: int | None = None) -> np.ndarray:
        """Anomaly score of every row of ``X``; higher means more anomalous.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or images as in ``fit``
        batch_size : int, optional
            Rows per forward pass; by default about 512k input values per batch on CPU
            (2 MB), more on a GPU.

        Returns
        -------
        ndarray of shape (n_samples,), float64
        """
        # Where every input value enters the score, NaN/inf input shows in the scores, so
        # the input is checked only then: one pass over X fewer, 5-7% of a KDD scoring pass
        # (`python benchmarks/speed.py --nan-check`).
        lazy = self._nan_propagates()
        arr = self._check_input(X, names=True, finite=not lazy)
        return self._scores(arr, batch_size, unchecked=lazy)

    def iter_scores(
        self,
        X: Any,
        *,
        chunksize: int = DEFAULT_CHUNKSIZE,
        batch_size: int | None = None,
        label_column: str | None = None,
        key: str | None = None,
    ) -> Iterator[np.ndarray]:
        """Score input larger than memory, yielding the scores block by block.

        Parameters
        ----------
        X : path, array-like or iterable of chunks
            A .csv/.csv.gz/.npy/.npz/.parquet file (read ``chunksize`` rows at a time:
            NPY memory-mapped, Parquet by record batch, CSV by pandas' chunked
            reader), an in-memory array or DataFrame (sliced), or any iterator of
            2-D arrays / DataFrames (for example from a database cursor).
        chunksize : int
            Rows read at a time; with ``batch_size`` it bounds the memory used.
        batch_size : int, optional
            Rows per forward pass, as in :meth:`decision_function`.
        label_column, key : str, optional
            For file input: a column to drop; the array inside an .npz file.

        Yields
        ------
        ndarray of shape (n_block,), float64
            Scores in input order. Rows are regrouped into the same fixed-size
            forward batches as :meth:`decision_function` uses, so the concatenated
            blocks equal ``decision_function`` on the whole input exactly, whatever
            the chunk boundaries.
        """
        self._check_fitted()
        bs = batch_size or self._default_batch_size()
        names = self._checked_names()
        pieces: list[np.ndarray] = []  # validated rows not yet scored, fewer than bs
        held = seen = 0
        for chunk in _chunks(X, chunksize, label_column, key):
            name = f"X (the chunk from row {seen})"
            arr, _ = check_array(
                self._encode(chunk, name),
                name=name,
                sample_shape=self.sample_shape_,
                feature_names=names,
                estimator=f"this {type(self).__name__}",
            )
            seen += len(arr)
            pieces.append(arr)
            held += len(arr)
            if held >= bs:
                rows = np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
                n_full = held // bs * bs
                yield self._scores(rows[:n_full], bs)
                pieces, held = [rows[n_full:]], held - n_full
        if seen == 0:
            raise ValueError("X is empty: 0 samples")
        if held:
            yield self._scores(np.concatenate(pieces), bs)

    def score_samples(self, X: Any) -> np.ndarray:
        """Minus :meth:`decision_function` (scikit-learn's sign: lower = more abnormal)."""
        return -self.decision_function(X)

    def predict(self, X: Any) -> np.ndarray:
        """0 (normal) / 1 (anomaly) for every row: ``decision_function(X) > threshold_``."""
        self._check_fitted_scores()
        return (self.decision_function(X) > self.threshold_).astype(np.int64)

    def _default_batch_size(self) -> int:
        """Rows per scoring batch: about 2 MB of input on CPU (:data:`_INFERENCE_ELEMENTS`),
        and on a GPU as much as :data:`_CUDA_INPUT_SHARE` of its free memory."""
        elements = _INFERENCE_ELEMENTS
        if self.device_.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device_)
            elements = max(elements, int(free * _CUDA_INPUT_SHARE) // 4)
        return max(1, elements // int(np.prod(self.sample_shape_)))

    def _batches(self, arr: np.ndarray, batch_size: int | None) -> Iterator[tuple[int, Tensor]]:
        """``(start, preprocessed batch on the device)`` over ``arr``, in eval mode."""
        bs = batch_size or self._default_batch_size()
        self.network_.eval()
        self._apply_precision()
        pinned = self.device_.type == "cuda"
        for start in range(0, len(arr), bs):
            batch = host_tensor(arr[start : start + bs], pinned)
            yield start, self.scaler_(batch.to(self.device_, non_blocking=True))

    def _nan_propagates(self) -> bool:
        """Whether NaN or inf anywhere in a sample always makes its score non-finite (the
        score reads every input value); then ``decision_function`` checks the input for
        them only when a score is not finite."""
        return False

    @torch.inference_mode()
    def _scores(
        self, arr: np.ndarray, batch_size: int | None = None, unchecked: bool = False
    ) -> np.ndarray:
        """Scores of the checked ``arr``; with ``unchecked``, its values were not checked
        for NaN/inf (:meth:`_nan_propagates`): a non-finite score then checks them, and
        raises as :func:`memae.validation.check_array` does."""
        out = np.empty(len(arr), dtype=np.float64)
        if self.device_.type == "cpu":
            for start, batch in self._batches(arr, batch_size):
                scores = out[start : start + len(batch)]
                scores[:] = self._score_batch(self.network_, batch).double().numpy()
                if unchecked and not np.isfinite(scores).all():  # stop at the first bad batch
                    check_finite(arr)
                    unchecked = False  # finite input: the scores overflowed (below)
        else:  # on a GPU the scores stay there until the end: one host sync, not one a batch
            parts = [
                self._score_batch(self.network_, b).double()
                for _, b in self._batches(arr, batch_size)
            ]
            out[:] = torch.cat(parts).cpu().numpy()
        if not np.isfinite(out).all():
            if unchecked:
                check_finite(arr)
            raise FloatingPointError(self._non_finite_reason(arr, out))
        return out

    def _non_finite_reason(self, arr: Any, out: np.ndarray) -> str:
        """Why scores are NaN/inf: corrupt weights, or input beyond float32's range."""
        name = type(self).__name__
        if not all(torch.isfinite(t).all() for t in self.network_.state_dict().values()):
            return f"{name} produced non-finite scores: the model weights are corrupt"
        bad = np.flatnonzero(~np.isfinite(out))
        rows = np.asarray(arr[bad[:5]], dtype=np.float64).reshape(min(len(bad), 5), -1)
        return (
            f"{name} produced non-finite scores for {len(bad)} row(s) (first: {bad[:5].tolist()}):"
            f" the input is out of the range the model can compute on in float32 (largest "
            f"|value| in those rows: {np.abs(rows).max():.3g}); check the input's units/scale"
        )

    def _set_threshold(self) -> None:
        self.threshold_ = float(np.quantile(self.decision_scores_, 1.0 - self.contamination))
        self.threshold_rule_ = f"contamination={self.contamination:g}"
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(np.int64)

    # ----------------------------------------------------------------- model files
    def save(self, path: str | os.PathLike) -> None:
        """Write ``config.json`` and the weights (safetensors) to directory ``path``, atomically
        (see :func:`memae.io.save`).

        In a multi-process fit only rank 0 writes; the others wait until it is done.
        """
        self._check_fitted_scores()
        if distributed.is_main_process():
            io.save(self, path)
        distributed.barrier()

    def export(self, path: str | os.PathLike) -> Any:
        """Write preprocessing, network and score as one graph: ``model.onnx`` (ONNX,
        ``pip install 'memae[export]'``) or ``model.pt2`` (``torch.export``).

        The graph maps float32 input of the fitted layout to ``decision_function``'s
        scores; see :mod:`memae.export` for what cannot be exported. Returns the path.
        """
        from memae.export import export

        return export(self, path)

    def _get_state(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        """The fitted state: JSON-ready values and named CPU tensors.

        :mod:`memae.io` writes both and hands them back to :meth:`_set_state`. A
        subclass with more fitted state extends both methods (calling ``super()``).
        """
        self._check_fitted()
        fitted = {
            "n_features_in": self.n_features_in_,
            "sample_shape": list(self.sample_shape_),
            "feature_names_in": getattr(self, "feature_names_in_", None),
            "preprocessing": self.scaler_.to_config(),
            "encoding": self.encoder_.to_config() if hasattr(self, "encoder_") else None,
            "threshold": self.threshold_,
            "threshold_rule": self.threshold_rule_,
            "seed": self.seed_,
            "best_epoch": self.best_epoch_,
            "stopped_early": self.stopped_early_,
            "selection": self.selection_,
            "history": self.history_,
        }
        tensors = {
            f"network.{k}": v.detach().cpu().contiguous()
            for k, v in self.network_.state_dict().items()
        }
        tensors[_SCORES_KEY] = torch.from_numpy(np.ascontiguousarray(self.decision_scores_))
        if getattr(self, "calibration_scores_", None) is not None:
            tensors[_CALIBRATION_KEY] = torch.from_numpy(
                np.ascontiguousarray(self.calibration_scores_, dtype=np.float64)
            )
        return fitted, tensors

    def _set_state(self, fitted: dict[str, Any], tensors: dict[str, Tensor]) -> None:
        """Restore what :meth:`_get_state` returned (on a detector built from the params).

        Raises ValueError naming what does not fit (wrapped by :func:`memae.load`).
        """
        try:
            sample_shape = tuple(int(s) for s in fitted["sample_shape"])
            n_features = int(fitted["n_features_in"])
            encoder = _encoder_of(fitted, sample_shape, n_features)
            width = math.prod(sample_shape) if sample_shape else 0
            if encoder is None and (
                not sample_shape or min(sample_shape) < 1 or width != n_features
            ):
                raise ValueError(f"sample_shape {sample_shape} and n_features_in {n_features}")
            if width > _MAX_FEATURES:  # checked before a network is allocated
                raise ValueError(f"{n_features} features per sample is implausible")
            scaler = Scaler.from_config(fitted["preprocessing"], sample_shape)
            if not (np.asarray(scaler.scale) > 0).all():
                raise ValueError("the preprocessing scale must be positive")
            threshold = float(fitted["threshold"])
            if not math.isfinite(threshold):
                raise ValueError(f"the threshold must be finite, got {threshold}")
            seed = int(fitted["seed"])
            if not isinstance(fitted.get("history", []), list):
                raise ValueError("history must be a list")
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"invalid fitted state: {exc}") from None
        try:
            network = self._build_network(network_shape(sample_shape))
        except ValueError as exc:
            raise ValueError(f"describes no valid network: {exc}") from None
        state = {k[len("network.") :]: v for k, v in tensors.items() if k.startswith("network.")}
        try:
            network.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ValueError(
                f"the weights file does not fit the {type(self).__name__} network described "
                f"by the config: {exc}"
            ) from None
        scores = tensors.get(_SCORES_KEY)
        if scores is None or scores.dim() != 1:
            raise ValueError("the weights file lacks the training scores")
        calibration = tensors.get(_CALIBRATION_KEY)
        if calibration is not None and (
            calibration.dim() != 1 or not torch.isfinite(calibration).all()
        ):
            raise ValueError("the calibration scores must be a finite 1-D tensor")
        rule = fitted.get("threshold_rule", f"contamination={self.contamination:g}")
        if not isinstance(rule, str):
            raise ValueError("threshold_rule must be a string")
        self.scaler_ = scaler
        if encoder is None:
            self.__dict__.pop("encoder_", None)
        else:
            self.encoder_ = encoder
        self.device_ = resolve_device(self.device)
        self.network_ = network.to(self.device_).eval()
        self.n_features_in_ = n_features
        self.sample_shape_ = sample_shape
        if fitted.get("feature_names_in") is not None:
            self.feature_names_in_ = list(fitted["feature_names_in"])
        self.seed_ = seed
        self.best_epoch_ = fitted.get("best_epoch")
        self.stopped_early_ = bool(fitted.get("stopped_early", False))
        self.selection_ = fitted.get("selection")
        self.history_ = fitted.get("history", [])
        self.decision_scores_ = scores.numpy().astype(np.float64)
        self._fitted_score_params_ = self._score_params()  # save refuses changed ones
        self.threshold_ = threshold
        self.threshold_rule_ = rule
        self.labels_ = (self.decision_scores_ > threshold).astype(np.int64)
        if calibration is None:
            self.__dict__.pop("calibration_scores_", None)
        else:
            self.calibration_scores_ = calibration.numpy().astype(np.float64)

    # --------------------------------------------------------------------- helpers
    def _check_input(self, X: Any, *, names: bool = False, finite: bool = True) -> Any:
        """``X`` checked against the fitted sample shape (and column names if ``names``),
        and for NaN/inf unless not ``finite`` (see :meth:`_scores`)."""
        self._check_fitted()
        arr, _ = check_array(
            self._encode(X),
            sample_shape=self.sample_shape_,
            feature_names=self._checked_names() if names else None,
            estimator=f"this {type(self).__name__}",
            finite=finite,
        )
        return arr

    def _encode(self, X: Any, name: str = "X") -> Any:
        """``X`` through the fitted categorical encoding (:mod:`memae.encoding`), if any."""
        encoder = getattr(self, "encoder_", None)
        return X if encoder is None else encoder.transform(X, name)

    def _checked_names(self) -> list[str] | None:
        """The column names ``check_array`` compares (the encoder checks its own)."""
        return None if hasattr(self, "encoder_") else getattr(self, "feature_names_in_", None)

    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X) first")

    def _score_params(self) -> dict[str, Any]:
        """The current values of :attr:`_score_only_params`."""
        return {k: getattr(self, k) for k in sorted(self._score_only_params)}

    def _check_fitted_scores(self) -> None:
        """Fitted, and scoring as when ``decision_scores_``, ``threshold_`` and the
        calibration scores were computed: a scoring-only parameter changed after ``fit``
        (``set_params(score_method=...)``) changes ``decision_function`` alone, so the
        fitted scores cannot be mixed with the new ones."""
        self._check_fitted()
        then, now = self.__dict__.get("_fitted_score_params_"), self._score_params()
        if then is not None and then != now:
            changed = ", ".join(f"{k} {then[k]!r} -> {v!r}" for k, v in now.items() if then[k] != v)
            raise ValueError(
                f"{changed} since fit: decision_function follows it, but threshold_, "
                "decision_scores_ and the calibration scores were computed before; refit, "
                "or set it back, to predict, threshold, calibrate or save"
            )

    def _draw_seed(self) -> int:
        rs = self.random_state
        if rs is None:
            return int(np.random.SeedSequence().generate_state(1)[0])
        if isinstance(rs, (int, np.integer)) and not isinstance(rs, bool) and rs >= 0:
            return int(rs)
        raise ValueError(f"random_state must be a non-negative int or None, got {rs!r}")

    def _check_params(self) -> None:
        """Hook: the declared constraints (``_parameter_constraints``), then any check
        across parameters a subclass adds (call ``super()._check_params()`` first)."""
        check_params(self)


def _encoder_of(
    fitted: dict[str, Any], sample_shape: tuple[int, ...], n_features: int
) -> TableEncoder | None:
    """The stored categorical encoding, checked against the network's input layout."""
    config = fitted.get("encoding")
    if config is None:
        return None
    encoder = TableEncoder.from_config(config)
    if sample_shape != (encoder.n_outputs,) or n_features != len(encoder.columns):
        raise ValueError(
            f"the encoding has {len(encoder.columns)} columns and {encoder.n_outputs} outputs, "
            f"but the network takes {sample_shape} from {n_features} columns"
        )
    names = fitted.get("feature_names_in")
    if names is not None and list(names) != list(encoder.columns):
        raise ValueError("the encoding's columns differ from feature_names_in")
    return encoder


class ReconstructionMixin:
    """For detectors whose network output has a ``.reconstruction``: adds
    :meth:`reconstruct` and scores by the reconstruction error by default.

    The default score is the squared error; a detector with a ``score_method``
    parameter (AE, MemAE) may pick ``"location_l2"`` instead
    (:data:`RECONSTRUCTION_SCORES`). Put it before :class:`BaseDetector` in the bases.
    """

    def _error_rule(self) -> Any:
        """The error function and its per-feature parts for the chosen score."""
        if getattr(self, "score_method", "squared") == "location_l2":
            return location_l2_error, location_l2_parts
        return squared_error, squared_error_parts

    def _nan_propagates(self) -> bool:
        """The reconstruction error reads every input value: a NaN/inf one makes its
        sample's squared (or location-norm) error non-finite, whatever the network
        returns. A detector with its own score (or error rule) must say for itself."""
        cls = type(self)
        return (
            cls._score_batch is ReconstructionMixin._score_batch
            and cls._error_rule is ReconstructionMixin._error_rule
        )

    def _score_batch(self, model: nn.Module, batch: Tensor) -> Tensor:
        """The per-sample reconstruction error (AE and MemAE)."""
        return self._error_rule()[0](batch, model(batch).reconstruction)

    def _feature_batch(self, model: nn.Module, batch: Tensor) -> tuple[Tensor, Tensor]:
        """Each feature's share of the reconstruction error, when that is the score."""
        if type(self)._score_batch is not ReconstructionMixin._score_batch:
            return super()._feature_batch(model, batch)  # another score: it must say
        return self._error_rule()[1](batch, model(batch).reconstruction)

    @torch.inference_mode()
    def reconstruct(self, X: Any, batch_size: int | None = None) -> np.ndarray:
        """The network's reconstruction of every sample, in the input's scale and layout.

        For images fitted as ``(N, H, W)`` uint8 the result is ``(N, H, W)`` float32
        on the 0-255 scale, ready to show next to the input.
        """
        arr = self._check_input(X)
        out = np.empty(arr.shape, dtype=np.float32)
        for start, batch in self._batches(arr, batch_size):
            x_hat = self.network_(batch).reconstruction
            out[start : start + len(batch)] = self.scaler_.inverse(x_hat).cpu().numpy()
        return out


#: ``score_method`` of the reconstruction detectors (AE, MemAE): the paper's squared
#: error, or the official MemAE code's per-location error norm (see their docs).
RECONSTRUCTION_SCORES = StrOptions({"squared", "location_l2"})


def _chunks(X: Any, chunksize: int, label_column: str | None, key: str | None) -> Iterator[Any]:
    """Blocks of at most ``chunksize`` rows from a file, an array/DataFrame or an iterator."""
    if int(chunksize) < 1:
        raise ValueError(f"chunksize must be >= 1, got {chunksize}")
    if isinstance(X, (str, os.PathLike)):
        yield from iter_table(X, chunksize, label_column, key)
    elif hasattr(X, "iloc"):  # DataFrame
        for start in range(0, len(X), chunksize):
            yield X.iloc[start : start + chunksize]
    elif isinstance(X, ClipWindows):
        for start in range(0, len(X), chunksize):
            yield X.select(slice(start, start + chunksize))
    elif isinstance(X, (np.ndarray, list, tuple)):
        arr = np.asarray(X)
        if arr.ndim < 2:
            yield arr  # check_array names the problem
            return
        for start in range(0, len(arr), chunksize):
            yield arr[start : start + chunksize]
    else:
        try:
            it = iter(X)
        except TypeError:
            raise ValueError(
                f"X must be a file path, an array, a DataFrame or an iterator of chunks, "
                f"got {type(X).__name__}"
            ) from None
        yield from it


_SHARED = tuple(inspect.signature(BaseDetector.__init__).parameters)[1:]  # without self
