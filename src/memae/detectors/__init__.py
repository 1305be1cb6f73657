"""Estimator front ends (fit / score / threshold / save / load).

Importing this package registers memae's detectors (:mod:`memae.registry`).
"""

from memae.detectors.autoencoder import AutoEncoder
from memae.detectors.base import BaseDetector, NotFittedError, ReconstructionMixin
from memae.detectors.compact_vae import CompactVAE
from memae.detectors.dagmm import DAGMM
from memae.detectors.latent_norm import LatentNormAE
from memae.detectors.memae import MemAE
from memae.detectors.vae import VAE

__all__ = [
    "DAGMM",
    "VAE",
    "AutoEncoder",
    "BaseDetector",
    "CompactVAE",
    "LatentNormAE",
    "MemAE",
    "NotFittedError",
    "ReconstructionMixin",
]
