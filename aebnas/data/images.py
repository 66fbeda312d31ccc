"""In-memory uint8 image splits and the tensor helpers shared by the loaders.

Every dataset is held whole in memory as ``uint8`` tensors of shape ``(N, C, H, W)``; conversion
to normalised ``float32`` happens per batch (see :mod:`aebnas.data.loader`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from aebnas.errors import UserError

#: Images resized per chunk, so the float intermediate stays small (~100 MB for 3x72x72).
RESIZE_CHUNK = 2048


@dataclass(eq=False)
class ImageSplit:
    """One split of a dataset, whole in memory.

    Args:
        images: ``uint8`` tensor of shape ``(N, C, H, W)``.
        labels: ``int64`` tensor of shape ``(N,)`` with class indices ``0..num_classes-1``.
    """

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != self.images.shape[:1]:
            raise ValueError(f"labels must be int64 (N,), got {self.labels.dtype} "
                             f"{tuple(self.labels.shape)} for {len(self.images)} images")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def size(self) -> int:
        """Side length ``H`` of the (square) images."""
        return int(self.images.shape[-1])

    def take(self, indices: torch.Tensor) -> ImageSplit:
        """The images at ``indices`` (``int64`` tensor of shape ``(M,)``), in that order."""
        return ImageSplit(self.images.index_select(0, indices),
                          self.labels.index_select(0, indices))

    def subset(self, n: int | None, seed: int) -> ImageSplit:
        """A seeded random subset of ``n`` images, kept in their original order.

        Args:
            n: Number of images; ``None`` or ``n >= len(self)`` returns ``self`` unchanged.
            seed: Seed of the random choice (same seed -> same subset).

        Returns:
            The subset (a copy) or ``self``.
        """
        if n is None or n >= len(self):
            return self
        if n < 1:
            raise UserError(f"subset size must be at least 1, got {n}; pass a positive number")
        return self.take(seeded_permutation(len(self), seed)[:n].sort().values)


def seeded_permutation(n: int, seed: int) -> torch.Tensor:
    """A reproducible random permutation of ``0..n-1`` (``int64``, shape ``(n,)``)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=generator)


def resize_images(images: torch.Tensor, resolution: int, chunk: int = RESIZE_CHUNK) -> torch.Tensor:
    """Bilinear, antialiased resize of a uint8 batch, chunked to bound memory.

    Args:
        images: ``uint8`` tensor ``(N, C, H, W)``.
        resolution: Output side length ``R``.
        chunk: Images converted to float at a time.

    Returns:
        ``uint8`` tensor ``(N, C, R, R)`` (``images`` itself when already ``R x R``).
    """
    if images.shape[-2:] == (resolution, resolution):
        return images
    out = torch.empty((*images.shape[:2], resolution, resolution), dtype=torch.uint8)
    for start in range(0, len(images), chunk):
        part = images[start : start + chunk].float()
        part = F.interpolate(part, size=(resolution, resolution), mode="bilinear",
                             align_corners=False, antialias=True)
        out[start : start + chunk] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel pixel mean and standard deviation on the 0..1 scale.

    Args:
        images: ``uint8`` tensor ``(N, C, H, W)``.

    Returns:
        ``(mean, std)``, each a tuple of ``C`` floats.
    """
    values = torch.arange(256, dtype=torch.float64) / 255.0
    means, stds = [], []
    for channel in range(images.shape[1]):
        counts = torch.bincount(images[:, channel].reshape(-1), minlength=256).double()
        weights = counts / counts.sum()
        mean = float((weights * values).sum())
        var = float((weights * (values - mean) ** 2).sum())
        means.append(round(mean, 4))
        stds.append(round(var**0.5, 4))
    return tuple(means), tuple(stds)


def to_nchw_uint8(array: object, layout: str) -> torch.Tensor:
    """Convert a numpy/tensor image array to a contiguous ``uint8 (N, C, H, W)`` tensor.

    Args:
        array: Array-like of images.
        layout: Its axis order, one of ``"NCHW"``, ``"NHWC"``, ``"NHW"`` (grayscale).

    Returns:
        ``uint8`` tensor ``(N, C, H, W)``.
    """
    tensor = torch.as_tensor(array)
    if tensor.dtype != torch.uint8:
        raise ValueError(f"expected uint8 pixels, got {tensor.dtype}")
    permute = {"NCHW": (0, 1, 2, 3), "NHWC": (0, 3, 1, 2)}
    if layout == "NHW":
        return tensor.unsqueeze(1).contiguous()
    return tensor.permute(*permute[layout]).contiguous()


def to_labels(values: object) -> torch.Tensor:
    """Class labels as an ``int64`` tensor of shape ``(N,)``."""
    return torch.as_tensor(values).reshape(-1).to(torch.int64)
