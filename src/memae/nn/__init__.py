"""Pure torch building blocks: memory module, backbones, networks and losses."""

from memae.nn.autoencoder import AutoEncoderNet, AutoEncoderOutput
from memae.nn.backbones import BACKBONES, Backbone, build_backbone, resolve_backbone
from memae.nn.losses import (
    attention_entropy,
    clamp_logvar,
    gaussian_kl,
    gaussian_nll,
    l2_norm,
    latent_l1,
    location_l2_error,
    reparameterize,
    squared_error,
)
from memae.nn.memory import Memory, MemoryOutput, hard_shrink_relu
from memae.nn.vae import VAENet, VAEOutput

__all__ = [
    "BACKBONES",
    "AutoEncoderNet",
    "AutoEncoderOutput",
    "Backbone",
    "Memory",
    "MemoryOutput",
    "VAENet",
    "VAEOutput",
    "attention_entropy",
    "build_backbone",
    "clamp_logvar",
    "gaussian_kl",
    "gaussian_nll",
    "hard_shrink_relu",
    "l2_norm",
    "latent_l1",
    "location_l2_error",
    "reparameterize",
    "resolve_backbone",
    "squared_error",
]
