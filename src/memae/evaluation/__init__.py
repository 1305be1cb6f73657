"""Evaluation protocols of the papers memae reproduces."""

from memae.evaluation.kdd import kdd_metrics, kdd_split
from memae.evaluation.one_class import anomaly_subset, one_class_aucs, one_class_labels
from memae.evaluation.video import evaluated_frames, frame_errors, regularity, video_aucs

__all__ = [
    "anomaly_subset",
    "evaluated_frames",
    "frame_errors",
    "kdd_metrics",
    "kdd_split",
    "one_class_aucs",
    "one_class_labels",
    "regularity",
    "video_aucs",
]
