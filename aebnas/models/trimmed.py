"""Convolutions that skip kernel taps which can only ever see zero padding.

At CIFAR-like resolutions the late MobileNetV3 stages run on 1x1 or 2x2 maps, where a padded
7x7 depthwise kernel touches real pixels with only its centre taps. Cropping the kernel to the
taps that can reach the input (and padding accordingly) gives bit-for-bit the same outputs and
gradients, and it is what makes CPU training affordable: the oneDNN backward of a 7x7 depthwise
conv on a 1x1 map costs as much as a large dense conv. Because MACs are counted on the modules
that run, the counted MACs are the executed ones.
"""

from __future__ import annotations

from functools import cache
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

ModuleT = TypeVar("ModuleT", bound=nn.Module)


@cache
def useful_taps(size: int, kernel: int, stride: int, padding: int) -> tuple[int, int, int, int]:
    """Kernel taps ``[first, last]`` that can touch a real pixel, and the new (left, right) padding.

    Args:
        size: Input length along one axis.
        kernel: Kernel length.
        stride: Stride.
        padding: Symmetric zero padding of the original convolution.
    """
    out = (size + 2 * padding - kernel) // stride + 1
    first = max(0, padding - (out - 1) * stride)
    last = min(kernel - 1, padding + size - 1)
    left = padding - first
    right = max(0, (out - 1) * stride + (last - first + 1) - size - left)
    return first, last, left, right


class TrimmedConv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters and state dict) that crops dead kernel taps at run time."""

    def _conv_forward(
        self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        assert isinstance(self.padding, tuple) and self.padding_mode == "zeros"
        # int(): under tracing (ONNX export) sizes are tensors; the crop is fixed to the traced
        # resolution, which is the deployed one.
        (h, w), (kh, kw) = (int(s) for s in input.shape[-2:]), self.kernel_size
        top, bottom, pad_t, pad_b = useful_taps(h, kh, self.stride[0], self.padding[0])
        left, right, pad_l, pad_r = useful_taps(w, kw, self.stride[1], self.padding[1])
        if (top, bottom, left, right) == (0, kh - 1, 0, kw - 1):
            return super()._conv_forward(input, weight, bias)
        weight = weight[:, :, top : bottom + 1, left : right + 1]
        if pad_t or pad_b or pad_l or pad_r:
            input = F.pad(input, (pad_l, pad_r, pad_t, pad_b))
        return F.conv2d(input, weight, bias, self.stride, 0, self.dilation, self.groups)


def trim_convolutions(module: ModuleT) -> ModuleT:
    """Swap every zero-padded ``nn.Conv2d`` with kernel > 1 in ``module`` for a TrimmedConv2d
    (in place; ``module`` itself is returned).

    Parameters are shared (moved, not copied), so call it right after building the module.
    """
    for child in module.children():
        if (
            type(child) is nn.Conv2d
            and max(child.kernel_size) > 1
            and child.padding_mode == "zeros"
        ):
            child.__class__ = TrimmedConv2d
        else:
            trim_convolutions(child)
    return module
