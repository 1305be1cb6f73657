"""Evaluation protocols of the papers memae reproduces."""

from memae.evaluation.kdd import kdd_metrics, kdd_split
from memae.evaluation.labelled import labelled_validation, one_class_validation
from memae.evaluation.one_class import anomaly_subset, one_class_aucs, one_class_labels
from memae.evaluation.semi_supervised import f1_at_top, normal_split, toll_split
from memae.evaluation.video import evaluated_frames, frame_errors, regularity, video_aucs

__all__ = [
    "anomaly_subset",
    "evaluated_frames",
    "f1_at_top",
    "frame_errors",
    "kdd_metrics",
    "kdd_split",
    "labelled_validation",
    "normal_split",
    "one_class_aucs",
    "one_class_labels",
    "one_class_validation",
    "regularity",
    "toll_split",
    "video_aucs",
]
