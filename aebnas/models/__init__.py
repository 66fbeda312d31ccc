"""Early-exit networks: MobileNetV3 backbone blocks, exit branches, the network."""

from aebnas.models.network import EarlyExitNetwork, build_network

__all__ = ["EarlyExitNetwork", "build_network"]
