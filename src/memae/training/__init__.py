"""The shared training loop."""

from memae.training.trainer import TrainConfig, TrainingError, TrainResult, evaluate_loss, train

__all__ = ["TrainConfig", "TrainResult", "TrainingError", "evaluate_loss", "train"]
