"""MAC accounting on the real modules, cached per block and per architecture.

Counted by PyTorch's own ``torch.utils.flop_counter.FlopCounterMode`` during one forward pass
of the real module (no tracing), with fvcore's conventions (the counts this project has always
recorded; a test checks they equal fvcore's ``FlopCountAnalysis`` on every block and branch
kind). One multiply-accumulate = 1 MAC, reported in millions (MMACs):

- convolutions, linear layers and matmuls (PyTorch's formulas, halved: it counts 2 FLOPs a MAC);
- batch-norm (eval mode: 2 per element with an affine transform, as fvcore counts it), adaptive
  average pooling (1 per input element; a 1x1 output runs as ``mean``);
- the exit branches' bicubic resize, which runs as two matmuls (counted as matmuls);
- 2x2 max/avg pooling (1 per input element).

Convolutions are counted as they run: kernel taps that can only see zero padding (a 7x7
depthwise kernel on a 1x1 map) are trimmed (:mod:`aebnas.models.trimmed`), so they are not counted.
Not counted: activations (ReLU, h-swish, h-sigmoid), the squeeze-excite scaling multiply and the
residual additions (elementwise ops that fvcore ignores by default).

Every block is counted once per (module genes, input shape) and memoised, so an architecture's
per-exit table costs microseconds after warm-up; a test checks that the sums equal fvcore's count
of the whole path traced end to end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from math import prod
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from aebnas.models.backbone import FinalHead, build_stage, build_stem, stage_in_channels
from aebnas.models.branches import BranchStage, branch_classifier
from aebnas.space.architecture import Architecture, Block, BranchModule, Exit
from aebnas.space.spaces import BackboneSpec, SearchSpace

aten = torch.ops.aten


def _per_input_element(x_shape: Sequence[int], *args: Any, **kwargs: Any) -> int:
    return 2 * prod(x_shape)  # FLOPs: the total is halved into MACs


def _batch_norm(
    x_shape: Sequence[int], weight_shape: Sequence[int] | None, *args: Any, **kwargs: Any
) -> int:
    return 2 * prod(x_shape) * (2 if weight_shape is not None else 1)


#: Ops fvcore counts (or we added to it) that PyTorch's counter does not: formula in FLOPs
#: (2 per MAC) of the argument shapes.
EXTRA_FORMULAS = {
    aten.native_batch_norm: _batch_norm,
    aten._native_batch_norm_legit_no_training: _batch_norm,
    aten.mean: _per_input_element,
    aten._adaptive_avg_pool2d: _per_input_element,
    aten.avg_pool2d: _per_input_element,
    aten.max_pool2d_with_indices: _per_input_element,
    aten.max_pool2d: _per_input_element,
}


def count_macs(module: nn.Module, inputs: torch.Tensor | tuple[torch.Tensor, ...]) -> int:
    """MACs of one forward of ``module`` (put in eval mode) on ``inputs``."""
    return count_macs_and_output(module, inputs)[0]


def count_macs_and_output(
    module: nn.Module, inputs: torch.Tensor | tuple[torch.Tensor, ...]
) -> tuple[int, Any]:
    """MACs of one forward of ``module`` (put in eval mode) on ``inputs``, and its output."""
    module.eval()
    counter = FlopCounterMode(display=False, custom_mapping=EXTRA_FORMULAS)
    args = inputs if isinstance(inputs, tuple) else (inputs,)
    with torch.no_grad(), counter:
        output = module(*args)
    return counter.get_total_flops() // 2, output


def _spatial_after(size: int, stride: int) -> int:
    # Same-padded conv with odd kernel: ceil(size / stride).
    return -(-size // stride)


def stage_input_sizes(spec: BackboneSpec, resolution: int) -> list[int]:
    """Spatial size entering each stage (after the stride-2 stem), plus the head's input last."""
    size = _spatial_after(resolution, 2)
    sizes = [size]
    for stride in spec.stage_strides:
        size = _spatial_after(size, stride)
        sizes.append(size)
    return sizes


@cache
def _stem_macs(spec: BackboneSpec, in_channels: int, resolution: int) -> int:
    stem = build_stem(in_channels, spec)
    return count_macs(stem, torch.zeros(1, in_channels, resolution, resolution))


@cache
def _block_macs(spec: BackboneSpec, stage: int, first: bool, block: Block, size: int) -> int:
    # A stage's first block carries its stride and channel change; the others are alike.
    channels = stage_in_channels(spec, stage) if first else spec.stage_widths[stage]
    module: nn.Module = build_stage(spec, stage, (block,))
    if not first:
        module = build_stage(spec, stage, (block, block))[1]
    return count_macs(module, torch.zeros(1, channels, size, size))


def _stage_macs(spec: BackboneSpec, stage: int, blocks: tuple[Block, ...], size: int) -> int:
    after_first = _spatial_after(size, spec.stage_strides[stage])
    return _block_macs(spec, stage, True, blocks[0], size) + sum(
        _block_macs(spec, stage, False, b, after_first) for b in blocks[1:]
    )


@cache
def _head_macs(spec: BackboneSpec, num_classes: int, size: int) -> int:
    head = FinalHead(spec, num_classes)
    return count_macs(head, torch.zeros(1, spec.stage_widths[-1], size, size))


@cache
def _branch_stage_macs(channels: int, gene: BranchModule, size: int) -> tuple[int, int]:
    """MACs of one branch module and its output spatial size."""
    module, x = BranchStage(channels, gene), torch.zeros(1, channels, size, size)
    macs, output = count_macs_and_output(module, x)
    return macs, output.shape[-1]


@cache
def _branch_classifier_macs(channels: int, num_classes: int, size: int) -> int:
    classifier = branch_classifier(channels, num_classes)
    return count_macs(classifier, torch.zeros(1, channels, size, size))


def _branch_macs(channels: int, gene: Exit, num_classes: int, size: int) -> int:
    total = 0
    for module in gene.modules:
        macs, size = _branch_stage_macs(channels, module, size)
        total += macs
        channels *= module.width
    return total + _branch_classifier_macs(channels, num_classes, size)


@dataclass(frozen=True)
class ExitCosts:
    """Static per-exit MACs of one architecture, in millions (MMACs).

    Exits are in position order with the final head last (``K = len(positions) + 1`` entries).

    Args:
        positions: Stage after which each exit sits; the final head has position ``num_stages``.
        backbone: Backbone MMACs (stem and stages) up to each exit, shape ``(K,)``.
        branch: MMACs of each exit's own classifier (branch, or the final head), shape ``(K,)``.
    """

    positions: tuple[int, ...]
    backbone: tuple[float, ...]
    branch: tuple[float, ...]

    @property
    def num_exits(self) -> int:
        return len(self.positions)

    def cumulative(self, active: Sequence[bool] | None = None) -> np.ndarray:
        """Cost of leaving at each exit: backbone so far + every active branch up to it.

        Args:
            active: Which exits are on, shape ``(K,)`` or ``(K-1,)`` (the final is always on);
                all on if None.
                An inactive exit's branch is not paid by later exits.

        Returns:
            MMACs per exit, shape ``(K,)``; entries of inactive exits are what they would cost
            if they were switched on alone.
        """
        on = np.ones(self.num_exits, dtype=bool)
        if active is not None:
            on[: len(active)] = np.asarray(active, dtype=bool)
        branch = np.asarray(self.branch)
        paid_before = np.concatenate([[0.0], np.cumsum(np.where(on, branch, 0.0))[:-1]])
        return np.asarray(self.backbone) + branch + paid_before

    @property
    def final(self) -> float:
        """Cost of the final exit with every exit on, MMACs."""
        return float(self.cumulative()[-1])


def exit_costs(
    arch: Architecture, space: SearchSpace, in_channels: int, num_classes: int
) -> ExitCosts:
    """Per-exit MMACs of ``arch`` at its resolution (memoised per block)."""
    return _exit_costs(arch, space, in_channels, num_classes)


@cache
def _exit_costs(
    arch: Architecture, space: SearchSpace, in_channels: int, num_classes: int
) -> ExitCosts:
    spec = space.backbone
    sizes = stage_input_sizes(spec, arch.resolution)
    backbone_so_far = [_stem_macs(spec, in_channels, arch.resolution)]
    for s, blocks in enumerate(arch.stages):
        backbone_so_far.append(backbone_so_far[-1] + _stage_macs(spec, s, blocks, sizes[s]))
    exits = {e.position: e for e in arch.exits}
    positions = (*arch.exit_positions, spec.num_stages)
    backbone = [backbone_so_far[p] for p in positions]
    branch = [
        _branch_macs(spec.stage_widths[p - 1], exits[p], num_classes, sizes[p])
        for p in arch.exit_positions
    ]
    branch.append(_head_macs(spec, num_classes, sizes[-1]))
    return ExitCosts(
        positions=positions,
        backbone=tuple(m / 1e6 for m in backbone),
        branch=tuple(m / 1e6 for m in branch),
    )
