"""MobileNetV3 backbone pieces built from torchvision's blocks.

Each builder returns a real ``nn.Module``; the same builders serve the network and the MAC
counter (:mod:`aebnas.costs.macs`), so what is counted is what runs.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn
from torchvision.models.mobilenetv3 import InvertedResidual, InvertedResidualConfig
from torchvision.ops.misc import Conv2dNormActivation

from aebnas.models.trimmed import trim_convolutions
from aebnas.space.architecture import Block
from aebnas.space.spaces import BackboneSpec

_NORM = partial(nn.BatchNorm2d, eps=0.001)  # momentum 0.1: short trainings need fresh running stats
_ACTIVATION_CODES = {"relu": "RE", "hardswish": "HS"}


def build_stem(in_channels: int, spec: BackboneSpec) -> nn.Sequential:
    """3x3 stride-2 conv (h-swish) then one MBConv with expansion 1; ``(N, C_in, H, W) ->
    (N, stem, H/2, W/2)``."""
    c = spec.stem_channels
    first = InvertedResidualConfig(c, 3, c, c, False, "RE", 1, 1, 1.0)
    stem = nn.Sequential(
        Conv2dNormActivation(
            in_channels, c, kernel_size=3, stride=2, norm_layer=_NORM, activation_layer=nn.Hardswish
        ),
        InvertedResidual(first, _NORM),
    )
    return trim_convolutions(stem)


def build_block(
    in_channels: int, out_channels: int, block: Block, stride: int, activation: str, use_se: bool
) -> InvertedResidual:
    """One MBConv block (torchvision's ``InvertedResidual``, dead kernel taps trimmed)."""
    cnf = InvertedResidualConfig(
        in_channels,
        block.kernel,
        in_channels * block.expand,
        out_channels,
        use_se,
        _ACTIVATION_CODES[activation],
        stride,
        1,
        1.0,
    )
    return trim_convolutions(InvertedResidual(cnf, _NORM))


def stage_in_channels(spec: BackboneSpec, stage: int) -> int:
    """Input channels of 0-based ``stage``."""
    return spec.stem_channels if stage == 0 else spec.stage_widths[stage - 1]


def build_stage(spec: BackboneSpec, stage: int, blocks: tuple[Block, ...]) -> nn.Sequential:
    """0-based ``stage`` made of ``blocks``; the first block carries the stage's stride."""
    layers = []
    in_ch = stage_in_channels(spec, stage)
    for i, block in enumerate(blocks):
        layers.append(
            build_block(
                in_ch,
                spec.stage_widths[stage],
                block,
                spec.stage_strides[stage] if i == 0 else 1,
                spec.stage_activations[stage],
                spec.stage_squeeze_excite[stage],
            )
        )
        in_ch = spec.stage_widths[stage]
    return nn.Sequential(*layers)


class FinalHead(nn.Module):
    """1x1 conv -> GAP -> 1x1 conv -> linear; ``(N, C, H, W) -> (N, classes)``."""

    def __init__(self, spec: BackboneSpec, num_classes: int) -> None:
        super().__init__()
        c_in, (c_mid, c_out) = spec.stage_widths[-1], spec.head_channels
        self.features = Conv2dNormActivation(
            c_in, c_mid, kernel_size=1, norm_layer=_NORM, activation_layer=nn.Hardswish
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.expand = nn.Sequential(nn.Conv2d(c_mid, c_out, 1), nn.Hardswish())
        self.classifier = nn.Linear(c_out, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.expand(self.pool(self.features(x)))
        return self.classifier(torch.flatten(x, 1))
