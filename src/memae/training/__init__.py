"""The shared training loop, in parts: settings, early stopping, checkpoints, the loop."""

from memae.training.config import TrainConfig, TrainingError, TrainResult
from memae.training.trainer import adam, evaluate_loss, split_rows, train

__all__ = [
    "TrainConfig",
    "TrainResult",
    "TrainingError",
    "adam",
    "evaluate_loss",
    "split_rows",
    "train",
]
