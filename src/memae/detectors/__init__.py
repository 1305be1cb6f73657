"""Estimator front ends (fit / score / threshold / save / load)."""

from memae.detectors.autoencoder import AutoEncoder
from memae.detectors.base import BaseDetector, NotFittedError
from memae.detectors.memae import MemAE

#: every detector class a model file may name
DETECTORS: dict[str, type[BaseDetector]] = {cls.__name__: cls for cls in (AutoEncoder, MemAE)}

__all__ = ["DETECTORS", "AutoEncoder", "BaseDetector", "MemAE", "NotFittedError"]
