"""Training and evaluation engine."""

from models.engine.evaluate import detect_dataset, evaluate
from models.engine.train import NonFiniteLossError, TrainResult, lr_scheduler, train

__all__ = [
    "NonFiniteLossError",
    "TrainResult",
    "detect_dataset",
    "evaluate",
    "lr_scheduler",
    "train",
]
