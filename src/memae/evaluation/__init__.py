"""Evaluation protocols of the papers memae reproduces."""

from memae.evaluation.kdd import kdd_metrics, kdd_split

__all__ = ["kdd_metrics", "kdd_split"]
