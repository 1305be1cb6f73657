"""memae: deep autoencoder anomaly detection with memory-augmented autoencoders.

>>> import memae
>>> det = memae.MemAE.from_preset("kdd")          # doctest: +SKIP
>>> det.fit(X_train).decision_function(X_test)    # doctest: +SKIP
"""

from memae._version import __version__
from memae.detectors import (
    DAGMM,
    VAE,
    AutoEncoder,
    BaseDetector,
    CompactVAE,
    LatentNormAE,
    MemAE,
    NotFittedError,
)
from memae.io import ModelFileError, load
from memae.selection import Selection, select
from memae.training import TrainingError

__all__ = [
    "DAGMM",
    "VAE",
    "AutoEncoder",
    "BaseDetector",
    "CompactVAE",
    "LatentNormAE",
    "MemAE",
    "ModelFileError",
    "NotFittedError",
    "Selection",
    "TrainingError",
    "__version__",
    "load",
    "select",
]
