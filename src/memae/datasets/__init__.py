"""Loaders for the benchmark datasets and users' own copies of them."""

from memae.datasets._paths import DataNotFoundError, candidate_roots, find_file
from memae.datasets.kdd import load_kdd, load_kdd_raw

__all__ = ["DataNotFoundError", "candidate_roots", "find_file", "load_kdd", "load_kdd_raw"]
