"""Untrained (random init, eval mode) networks with their checkpoint metadata, on real images."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from aebnas.data import Dataset
from aebnas.models import CheckpointMetadata, EarlyExitNetwork, build_network, checkpoint_metadata
from aebnas.space import get_space, parse_architecture

SPACE = get_space("aebnas-plus", (28, 32, 36, 40))
_B = "k3e3,k3e3"
#: Between them: every branch op (conv, dw) and pooling (none, max, avg), 1-4 exits, branch
#: depths 1-3, kernels 3 and 5, resizes 8 and 10, resolutions with and without trimmed kernels.
ARCHS = (
    f"r28|{_B}|{_B}|{_B}|{_B}|{_B}|x2:r8_conv3_c1_pnone",
    f"r32|k5e4,k3e3|{_B}|k7e6,k3e3|{_B}|k7e3,k5e4|x1:r8_dw5_c2_pmax+r10_conv3_c2_pavg"
    "|x4:r10_conv5_c1_pavg",
    f"r36|{_B}|k5e3,k3e3|{_B}|{_B}|{_B}|x1:r8_dw3_c1_pnone|x2:r10_conv5_c2_pmax"
    "|x3:r8_dw5_c2_pavg+r8_conv3_c1_pnone|x4:r8_conv3_c1_pmax+r10_dw3_c2_pnone+r8_conv3_c1_pavg",
)


def untrained(
    arch_string: str, dataset: Dataset, thresholds: Sequence[float | None] | None = None, seed=0
) -> tuple[EarlyExitNetwork, CheckpointMetadata]:
    """A seeded random-init network for ``dataset`` in eval mode, and its metadata."""
    arch = parse_architecture(arch_string, SPACE)
    torch.manual_seed(seed)
    net = build_network(arch, SPACE, dataset.channels, dataset.num_classes).eval()
    chosen = thresholds if thresholds is not None else [0.5] * len(arch.exits)
    return net, checkpoint_metadata(arch, SPACE, dataset, "margin", chosen)


def real_images(dataset: Dataset, resolution: int, count: int, split: str = "val") -> torch.Tensor:
    """``count`` normalised images of ``split``; float32 ``(count, C, R, R)``."""
    x, _ = next(iter(dataset.batches(split, resolution, count)))
    return x


def calibrate(net: EarlyExitNetwork, images: torch.Tensor) -> EarlyExitNetwork:
    """Set every BatchNorm's running statistics to those of ``images`` (no weight changes), so
    an untrained net's deep features, and so its exit confidences, vary from image to image."""
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average: one pass gives the batch statistics
    net.train()
    with torch.no_grad():
        net(images)
    for norm in norms:
        norm.momentum = 0.1
    return net.eval()
