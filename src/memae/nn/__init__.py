"""Pure torch building blocks: memory module, backbones, networks and losses."""

from memae.nn.autoencoder import AutoEncoderNet, AutoEncoderOutput
from memae.nn.backbones import BACKBONES, Backbone, build_backbone, resolve_backbone
from memae.nn.losses import latent_l1, squared_error
from memae.nn.memory import Memory, MemoryOutput, attention_entropy, hard_shrink_relu

__all__ = [
    "BACKBONES",
    "AutoEncoderNet",
    "AutoEncoderOutput",
    "Backbone",
    "Memory",
    "MemoryOutput",
    "attention_entropy",
    "build_backbone",
    "hard_shrink_relu",
    "latent_l1",
    "resolve_backbone",
    "squared_error",
]
