"""Exit branches: registered layer types composed into a classifier branch.

Module: bicubic resize to ``resize x resize`` -> layer (``op``, stride 2, no padding,
``C -> C * width``) -> BatchNorm -> ReLU -> optional 2x2 pooling. A branch is its modules, then
global average pooling and a linear classifier.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import torch
import torch.nn.functional as F
from torch import nn

from aebnas.registry import Registry
from aebnas.space.architecture import BranchModule, Exit

LayerFactory = Callable[[int, int, int], nn.Module]
"""``(in_channels, out_channels, kernel) -> module`` with stride 2 and no padding."""

BRANCH_OPS: Registry[LayerFactory] = Registry("branch layer type")
POOLS: Registry[Callable[[], nn.Module]] = Registry("branch pooling")


@BRANCH_OPS.register("conv")
def _dense_conv(c_in: int, c_out: int, kernel: int) -> nn.Module:
    return nn.Conv2d(c_in, c_out, kernel, stride=2, padding=0, bias=False)


@BRANCH_OPS.register("dw")
def _depthwise_separable(c_in: int, c_out: int, kernel: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, kernel, stride=2, padding=0, groups=c_in, bias=False),
        nn.Conv2d(c_in, c_out, 1, bias=False),
    )


POOLS.add("none", nn.Identity)
POOLS.add("max", lambda: nn.MaxPool2d(2))
POOLS.add("avg", lambda: nn.AvgPool2d(2))


@cache
def _bicubic_matrix(size_in: int, size_out: int) -> torch.Tensor:
    """Row ``i`` holds the weights PyTorch's bicubic resize gives output pixel ``i``; ``(out, in)``.

    Read off ``F.interpolate`` itself (resizing the identity), so it matches it exactly, border
    clamping included.
    """
    eye = torch.eye(size_in, dtype=torch.float64).reshape(size_in, 1, size_in, 1)
    columns = F.interpolate(eye, size=(size_out, 1), mode="bicubic", align_corners=False)
    return columns[:, 0, :, 0].T.contiguous()


class BicubicResize(nn.Module):
    """Bicubic resize to ``size x size`` as two small matmuls; ``(N, C, H, W) -> (N, C, s, s)``.

    Same numbers as ``F.interpolate(mode="bicubic")``, but its backward is a matmul too, which is
    much faster on the CPU than PyTorch's bicubic backward kernel at these small sizes.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # int(): a trace (ONNX export) then keeps the matrices as constants of the traced size.
        rows = _bicubic_matrix(int(x.shape[-2]), self.size).to(x.dtype).to(x.device)
        cols = _bicubic_matrix(int(x.shape[-1]), self.size).to(x.dtype).to(x.device)
        n, c, h, _ = x.shape
        # Two plain 2-D GEMMs (one big matrix each) instead of many tiny batched ones.
        x = torch.matmul(x.reshape(-1, x.shape[-1]), cols.T).reshape(n, c, h, self.size)
        x = torch.matmul(x.transpose(-1, -2).reshape(-1, h), rows.T)
        return x.reshape(n, c, self.size, self.size).transpose(-1, -2)


class BranchStage(nn.Module):
    """One branch module; ``(N, C, H, W) -> (N, C * width, h, w)`` with h, w set by the genes."""

    def __init__(self, in_channels: int, gene: BranchModule) -> None:
        super().__init__()
        self.resize = BicubicResize(gene.resize)
        out_channels = in_channels * gene.width
        self.layer = BRANCH_OPS.get(gene.op)(in_channels, out_channels, gene.kernel)
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = nn.ReLU(inplace=True)
        self.pool = POOLS.get(gene.pool)()
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.act(self.norm(self.layer(self.resize(x)))))


class ExitBranch(nn.Module):
    """A whole exit branch; ``(N, C, H, W) -> (N, classes)`` logits."""

    def __init__(self, in_channels: int, gene: Exit, num_classes: int) -> None:
        super().__init__()
        stages = []
        channels = in_channels
        for module in gene.modules:
            stage = BranchStage(channels, module)
            stages.append(stage)
            channels = stage.out_channels
        self.stages = nn.Sequential(*stages)
        self.classifier = branch_classifier(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.stages(x))


def branch_classifier(channels: int, num_classes: int) -> nn.Sequential:
    """Global average pooling and a linear layer; ``(N, C, h, w) -> (N, classes)``."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(channels, num_classes))
