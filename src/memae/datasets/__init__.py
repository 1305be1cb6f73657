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

__all__ = [
    "CIFAR10_CLASSES",
    "DataNotFoundError",
    "ImageDataError",
    "candidate_roots",
    "find_file",
    "load_cifar10",
    "load_image_dataset",
    "load_image_folder",
    "load_kdd",
    "load_kdd_raw",
    "load_mnist",
    "read_idx",
]
