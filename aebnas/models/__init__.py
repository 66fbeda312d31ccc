"""Early-exit networks: MobileNetV3 backbone blocks, exit branches, the network, checkpoints."""

from aebnas.models.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    CheckpointMetadata,
    checkpoint_metadata,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
)
from aebnas.models.network import EarlyExitNetwork, build_network

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "CheckpointMetadata",
    "EarlyExitNetwork",
    "build_network",
    "checkpoint_metadata",
    "load_checkpoint",
    "read_metadata",
    "save_checkpoint",
]
