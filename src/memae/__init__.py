"""memae: deep autoencoder anomaly detection with memory-augmented autoencoders.

>>> import memae
>>> det = memae.MemAE.from_preset("kdd")          # doctest: +SKIP
>>> det.fit(X_train).decision_function(X_test)    # doctest: +SKIP

The names below are imported on first use (PEP 562), so ``import memae`` and the
command line's ``--help`` do not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from memae._version import __version__

if TYPE_CHECKING:  # for type checkers and IDEs; at run time see __getattr__
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

_LAZY = {
    **dict.fromkeys(
        (
            "DAGMM",
            "VAE",
            "AutoEncoder",
            "BaseDetector",
            "CompactVAE",
            "LatentNormAE",
            "MemAE",
            "NotFittedError",
        ),
        "memae.detectors",
    ),
    "ModelFileError": "memae.io",
    "load": "memae.io",
    "Selection": "memae.selection",
    "select": "memae.selection",
    "TrainingError": "memae.training",
}

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


#: subpackages reachable as attributes (``memae.datasets.load_kdd``) after ``import memae``
_SUBMODULES = frozenset(
    {
        "clips", "constraints", "dask", "datasets", "demo", "detectors", "distributed",
        "evaluation", "io", "nn", "plotting", "preprocessing", "presets", "readers",
        "registry", "selection", "training", "validation",
    }
)  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"memae.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'memae' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
