"""The early-exit network built from an :class:`~aebnas.space.Architecture`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from aebnas.models.backbone import FinalHead, build_stage, build_stem
from aebnas.models.branches import ExitBranch
from aebnas.space.architecture import Architecture
from aebnas.space.spaces import SearchSpace
from aebnas.thresholds.confidence import CONFIDENCES


class EarlyExitNetwork(nn.Module):
    """MobileNetV3 backbone with exit branches after some stages and a final head.

    Args:
        arch: The architecture (validated against ``space`` by the caller).
        space: Its search space (backbone widths, strides, activations).
        in_channels: Image channels of the dataset.
        num_classes: Classes of the dataset.

    Exits are indexed ``0..num_exits-1`` in position order; index ``num_exits - 1`` is the final
    head.
    """

    def __init__(
        self, arch: Architecture, space: SearchSpace, in_channels: int, num_classes: int
    ) -> None:
        super().__init__()
        spec = space.backbone
        self.arch = arch
        self.stem = build_stem(in_channels, spec)
        self.stages = nn.ModuleList(
            build_stage(spec, s, blocks) for s, blocks in enumerate(arch.stages)
        )
        self.branches = nn.ModuleDict(
            {
                str(ex.position): ExitBranch(spec.stage_widths[ex.position - 1], ex, num_classes)
                for ex in arch.exits
            }
        )
        self.head = FinalHead(spec, num_classes)
        self.exit_positions: tuple[int, ...] = arch.exit_positions

    @property
    def num_exits(self) -> int:
        """Active intermediate exits plus the final head."""
        return len(self.exit_positions) + 1

    def forward_intermediates(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Stage outputs; ``(N, C, H, W) -> [stage1, ..., stage5]`` feature maps."""
        features = []
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Training forward: logits of every exit, final head last; each ``(N, classes)``."""
        logits = []
        x = self.stem(x)
        for position, stage in enumerate(self.stages, start=1):
            x = stage(x)
            if position in self.exit_positions:
                logits.append(self.branches[str(position)](x))
        logits.append(self.head(x))
        return logits

    @torch.no_grad()
    def infer(
        self, x: torch.Tensor, thresholds: Sequence[float], confidence: str = "margin"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Early-exit inference that really skips work for samples that have left.

        Args:
            x: Images ``(N, C, H, W)``.
            thresholds: One per intermediate exit (position order); a sample leaves at the first
                exit whose confidence is ``>= threshold``. A threshold above 1 switches the exit
                off (its branch is not computed).
            confidence: Name of a measure in :data:`~aebnas.thresholds.confidence.CONFIDENCES`.

        Returns:
            ``(predictions, exit_index)``, both int64 of shape ``(N,)``; ``exit_index`` counts
            the final head as ``num_exits - 1``.
        """
        if len(thresholds) != len(self.exit_positions):
            raise ValueError(
                f"expected {len(self.exit_positions)} thresholds, got {len(thresholds)}"
            )
        measure = CONFIDENCES.get(confidence)
        n = x.shape[0]
        predictions = torch.empty(n, dtype=torch.long, device=x.device)
        exit_index = torch.empty(n, dtype=torch.long, device=x.device)
        remaining = torch.arange(n, device=x.device)
        thresholds_by_position = dict(zip(self.exit_positions, thresholds, strict=True))
        exit_of_position = {p: i for i, p in enumerate(self.exit_positions)}
        x = self.stem(x)
        for position, stage in enumerate(self.stages, start=1):
            x = stage(x)
            threshold = thresholds_by_position.get(position)
            if threshold is None or threshold > 1.0:
                continue
            logits = self.branches[str(position)](x)
            leave = measure(logits) >= threshold
            predictions[remaining[leave]] = logits[leave].argmax(dim=-1)
            exit_index[remaining[leave]] = exit_of_position[position]
            remaining, x = remaining[~leave], x[~leave]
            if remaining.numel() == 0:
                return predictions, exit_index
        predictions[remaining] = self.head(x).argmax(dim=-1)
        exit_index[remaining] = self.num_exits - 1
        return predictions, exit_index


def build_network(
    arch: Architecture, space: SearchSpace, in_channels: int, num_classes: int
) -> EarlyExitNetwork:
    """Factory for :class:`EarlyExitNetwork` (weights initialised by PyTorch defaults)."""
    return EarlyExitNetwork(arch, space, in_channels, num_classes)
