"""Fast in-memory mini-batches: index a uint8 tensor, convert to float, normalise.

There is no per-sample Python work: a batch is one ``index_select`` of the (already resized)
uint8 split, an optional vectorised flip + translation done with one gather, and one fused
float conversion + normalisation on the target device.

Batches are prepared with a single intra-op thread (restored before the batch is handed over):
these ops are too small to gain from threads, and on a busy machine every multi-threaded small
op can stall waiting for a descheduled worker (the thread policy's measurements:
``benchmarks/results/train_throughput_load.md``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from aebnas.data.images import ImageSplit

#: Maximum random translation (pixels, each direction) of ``augment=True``.
MAX_SHIFT = 4


class BatchLoader:
    """Iterates ``(x, y)`` mini-batches of an in-memory split.

    Each ``iter()`` is one epoch. The random stream of epoch ``e`` is seeded from ``(seed, e)``,
    so two loaders built with the same arguments yield identical batches epoch by epoch, while
    successive epochs of one loader are shuffled/augmented differently.

    Args:
        split: The split, already at the output resolution: uint8 images ``(N, C, R, R)``.
        mean: Per-channel mean on the 0..1 scale (``C`` floats).
        std: Per-channel standard deviation on the 0..1 scale.
        batch_size: Images per batch (the last batch may be smaller unless ``drop_last``).
        shuffle: Visit the images in a new seeded random order every epoch.
        seed: Seed of shuffling and augmentation.
        device: Device the batches are put on.
        augment: Per-sample random translation by up to ``MAX_SHIFT`` pixels (zero padding) and,
            if ``flip``, random horizontal flip.
        flip: Whether ``augment`` flips (off for digits/house numbers).
        channels_last: Return ``x`` in ``torch.channels_last`` memory format.
        drop_last: Skip the final incomplete batch.

    Yields:
        ``x``: float32 ``(B, C, R, R)``, normalised; ``y``: int64 ``(B,)``.
    """

    def __init__(
        self,
        split: ImageSplit,
        mean: Sequence[float],
        std: Sequence[float],
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        device: torch.device | str = "cpu",
        augment: bool = False,
        flip: bool = True,
        channels_last: bool = False,
        drop_last: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.split = split
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.device = torch.device(device)
        self.augment = augment
        self.flip = flip
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.drop_last = drop_last
        self.epoch = 0
        mean_t = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        std_t = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        # x = (u8 / 255 - mean) / std  ==  u8 * scale + shift
        self._scale = (1.0 / (255.0 * std_t)).to(self.device)
        self._shift = (-mean_t / std_t).to(self.device)

    def __len__(self) -> int:
        n = len(self.split)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_samples(self) -> int:
        """Images visited per epoch (all of them unless ``drop_last``)."""
        return len(self) * self.batch_size if self.drop_last else len(self.split)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` produce epoch ``epoch``'s order and augmentation."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed(_epoch_seed(self.seed, self.epoch))
        self.epoch += 1
        with _single_thread():
            order = torch.randperm(len(self.split), generator=generator) if self.shuffle else None
        for b in range(len(self)):
            with _single_thread():
                batch = self._batch(b * self.batch_size, order, generator)
            yield batch

    def _batch(self, start: int, order: torch.Tensor | None,
               generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch starting at position ``start`` of the epoch's order (``None``: in order)."""
        stop = min(start + self.batch_size, len(self.split))
        if order is None:
            images, labels = self.split.images[start:stop], self.split.labels[start:stop]
        else:
            idx = order[start:stop]
            images, labels = self.split.images[idx], self.split.labels[idx]
        if self.augment:
            images = shift_and_flip(images, generator, flip=self.flip)
        return self._to_float(images), labels.to(self.device, non_blocking=True)

    def _to_float(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``(B, C, R, R)`` -> normalised float32 on the device, in the chosen layout."""
        images = images.to(self.device, non_blocking=True)
        x = images.to(dtype=torch.float32, memory_format=self.memory_format)
        return x.mul_(self._scale).add_(self._shift)


@contextmanager
def _single_thread() -> Iterator[None]:
    """Run the body with one intra-op thread, restoring the previous count afterwards."""
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _epoch_seed(seed: int, epoch: int) -> int:
    """A well-mixed 63-bit seed for epoch ``epoch`` of a loader seeded with ``seed``."""
    state = np.random.SeedSequence([seed & 0xFFFFFFFF, seed >> 32 & 0xFFFFFFFF, epoch])
    return int(state.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def shift_and_flip(
    images: torch.Tensor,
    generator: torch.Generator,
    *,
    flip: bool = True,
    max_shift: int = MAX_SHIFT,
) -> torch.Tensor:
    """Per-sample random translation (zero padding) and optional horizontal flip, vectorised.

    Equivalent to torchvision's ``RandomCrop(R, padding=max_shift)`` + ``RandomHorizontalFlip``
    applied image by image, done as two gathers (rows, then columns) over a padded batch.

    Args:
        images: uint8 (or float) tensor ``(B, C, R, R)`` on the CPU.
        generator: CPU random generator.
        flip: Also flip a random half of the images left-right.
        max_shift: Largest shift in pixels, in each direction.

    Returns:
        Tensor like ``images``.
    """
    b, c, h, w = images.shape
    padded = F.pad(images, (max_shift,) * 4)
    dy = torch.randint(0, 2 * max_shift + 1, (b, 1), generator=generator)
    dx = torch.randint(0, 2 * max_shift + 1, (b, 1), generator=generator)
    rows = dy + torch.arange(h)  # (B, H)
    cols = torch.arange(w).expand(b, w)
    if flip:
        flipped = torch.rand((b, 1), generator=generator) < 0.5
        cols = torch.where(flipped, cols.flip(1), cols)
    cols = dx + cols  # (B, W)
    pad_w = w + 2 * max_shift
    out = padded.gather(2, rows.view(b, 1, h, 1).expand(b, c, h, pad_w))  # (B, C, H, W + 2s)
    return out.gather(3, cols.view(b, 1, 1, w).expand(b, c, h, w))
