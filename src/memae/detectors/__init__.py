"""Estimator front ends (fit / score / threshold / save / load)."""

from memae.detectors.autoencoder import AutoEncoder
from memae.detectors.base import BaseDetector, NotFittedError
from memae.detectors.compact_vae import CompactVAE
from memae.detectors.latent_norm import LatentNormAE
from memae.detectors.memae import MemAE
from memae.detectors.vae import VAE

#: every detector class a model file may name
DETECTORS: dict[str, type[BaseDetector]] = {
    cls.__name__: cls for cls in (AutoEncoder, MemAE, LatentNormAE, VAE, CompactVAE)
}

__all__ = [
    "DETECTORS",
    "VAE",
    "AutoEncoder",
    "BaseDetector",
    "CompactVAE",
    "LatentNormAE",
    "MemAE",
    "NotFittedError",
]
