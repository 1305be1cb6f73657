"""Loaders for the benchmark datasets and users' own copies of them."""

from memae.datasets._paths import DataNotFoundError, candidate_roots, find_file
from memae.datasets.images import (
    CIFAR10_CLASSES,
    ImageDataError,
    load_cifar10,
    load_image_dataset,
    load_image_folder,
    load_mnist,
    read_idx,
)
from memae.datasets.kdd import load_kdd, load_kdd_raw
from memae.datasets.odds import ODDS_NAMES, load_odds
from memae.datasets.synthetic import SANITY_KINDS, make_sanity
from memae.datasets.video import Videos, load_frame_folder, load_ped2

__all__ = [
    "CIFAR10_CLASSES",
    "ODDS_NAMES",
    "SANITY_KINDS",
    "DataNotFoundError",
    "ImageDataError",
    "Videos",
    "candidate_roots",
    "find_file",
    "load_cifar10",
    "load_frame_folder",
    "load_image_dataset",
    "load_image_folder",
    "load_kdd",
    "load_kdd_raw",
    "load_mnist",
    "load_odds",
    "load_ped2",
    "make_sanity",
    "read_idx",
]
