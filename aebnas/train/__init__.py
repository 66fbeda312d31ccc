"""Training of early-exit networks."""

from aebnas.train.device import resolve_device, seed_everything
from aebnas.train.threads import configure_threads
from aebnas.train.trainer import TrainResult, joint_loss, train_network

__all__ = [
    "TrainResult",
    "configure_threads",
    "joint_loss",
    "resolve_device",
    "seed_everything",
    "train_network",
]
