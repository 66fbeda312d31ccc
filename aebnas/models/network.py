"""The early-exit network built from an :class:`~aebnas.space.Architecture`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from aebnas.confidence import CONFIDENCES
from aebnas.models.backbone import FinalHead, build_block, build_stem, stage_in_channels
from aebnas.models.branches import ExitBranch
from aebnas.space.architecture import Architecture, Block, Exit
from aebnas.space.spaces import SearchSpace


class NetworkParts:
    """Builds the modules an :class:`EarlyExitNetwork` is made of (fresh ones each call).

    A subclass may hand out cached modules instead, e.g. storage-free module graphs for
    ``torch.func.functional_call``; it must never return one module object twice for one
    network.

    Args:
        space: The search space (backbone widths, strides, activations).
        in_channels: Image channels of the dataset.
        num_classes: Classes of the dataset.
    """

    def __init__(self, space: SearchSpace, in_channels: int, num_classes: int) -> None:
        self.spec = space.backbone
        self.in_channels = in_channels
        self.num_classes = num_classes

    def stem(self) -> nn.Module:
        return build_stem(self.in_channels, self.spec)

    def block(self, stage: int, index: int, block: Block) -> nn.Module:
        """Block ``index`` (0-based) of 0-based ``stage``; the first carries the stride."""
        spec = self.spec
        return build_block(
            stage_in_channels(spec, stage) if index == 0 else spec.stage_widths[stage],
            spec.stage_widths[stage],
            block,
            spec.stage_strides[stage] if index == 0 else 1,
            spec.stage_activations[stage],
            spec.stage_squeeze_excite[stage],
        )

    def branch(self, gene: Exit) -> nn.Module:
        return ExitBranch(self.spec.stage_widths[gene.position - 1], gene, self.num_classes)

    def head(self) -> nn.Module:
        return FinalHead(self.spec, self.num_classes)


class EarlyExitNetwork(nn.Module):
    """MobileNetV3 backbone with exit branches after some stages and a final head.

    Args:
        arch: The architecture (validated against ``space`` by the caller).
        space: Its search space (backbone widths, strides, activations).
        in_channels: Image channels of the dataset.
        num_classes: Classes of the dataset.
        parts: Where the modules come from (default: freshly built :class:`NetworkParts`).

    Exits are indexed ``0..num_exits-1`` in position order; index ``num_exits - 1`` is the final
    head.
    """

    def __init__(
        self,
        arch: Architecture,
        space: SearchSpace,
        in_channels: int,
        num_classes: int,
        parts: NetworkParts | None = None,
    ) -> None:
        super().__init__()
        parts = parts or NetworkParts(space, in_channels, num_classes)
        self.arch = arch
        self.stem = parts.stem()
        self.stages = nn.ModuleList(
            nn.Sequential(*(parts.block(s, i, block) for i, block in enumerate(blocks)))
            for s, blocks in enumerate(arch.stages)
        )
        self.branches = nn.ModuleDict({str(ex.position): parts.branch(ex) for ex in arch.exits})
        self.head = parts.head()
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
            confidence: Name of a measure in :data:`~aebnas.confidence.CONFIDENCES`.

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
