"""The early-exit supernet: elastic weights for every architecture of a space, its training,
checkpoints and evaluation by weight inheritance."""

from aebnas.supernet.elastic import EarlyExitSupernet, slice_like

__all__ = ["EarlyExitSupernet", "slice_like"]
