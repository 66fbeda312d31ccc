"""The same mini-batch at several resolutions (for training sub-networks side by side).

A supernet step trains sub-networks at different input resolutions on the *same* images, so
that the largest network's predictions can teach the others (in-place distillation). Each
resolution's split is resized once (cached by :meth:`Dataset.resized`); a batch is one index
selection per resolution with one shared random flip mask.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from aebnas.data.datasets import Dataset


def step_seed(seed: int, *counters: int) -> int:
    """A well-mixed 63-bit seed of ``(seed, *counters)`` (e.g. an epoch or a step number)."""
    state = np.random.SeedSequence([seed & 0xFFFFFFFF, seed >> 32 & 0xFFFFFFFF, *counters])
    return int(state.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


class MultiResolutionBatches:
    """Indexable epochs of training batches, each available at every resolution.

    Args:
        dataset: The loaded dataset (its ``train`` split is used).
        resolutions: Resolutions the batches are needed at.
        batch_size: Images per batch ``B``.
        seed: Seed of the subset, the epoch orders and the flips.
        subset: Use a seeded subset of this many training images (``None``: all).
        flip: Random horizontal flips (one mask per batch, shared by all resolutions).
        device: Device of the batches.

    Batch ``b`` of epoch ``e`` depends only on ``(seed, e, b)``, so a resumed training sees the
    same batches as an uninterrupted one.
    """

    def __init__(
        self,
        dataset: Dataset,
        resolutions: Sequence[int],
        batch_size: int,
        seed: int,
        subset: int | None = None,
        flip: bool = False,
        device: torch.device | str = "cpu",
    ) -> None:
        self.splits = {
            r: dataset.resized("train", r, subset=subset, seed=seed) for r in resolutions
        }
        self.size = len(next(iter(self.splits.values())))
        self.batch_size = batch_size
        self.seed = seed
        self.flip = flip
        self.device = torch.device(device)
        mean = torch.tensor(dataset.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(dataset.std, dtype=torch.float32).view(1, -1, 1, 1)
        self._scale = (1.0 / (255.0 * std)).to(self.device)
        self._shift = (-mean / std).to(self.device)
        self._order: tuple[int, torch.Tensor] | None = None

    @property
    def steps_per_epoch(self) -> int:
        """Full batches per epoch (the incomplete last one is dropped)."""
        return self.size // self.batch_size

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        if self._order is None or self._order[0] != epoch:
            generator = torch.Generator().manual_seed(step_seed(self.seed, epoch))
            self._order = (epoch, torch.randperm(self.size, generator=generator))
        return self._order[1]

    def batch(self, epoch: int, index: int) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """Labels ``(B,)`` and, per resolution ``R``, normalised images ``(B, C, R, R)``
        (channels_last) of batch ``index`` of ``epoch``."""
        order = self._epoch_order(epoch)
        idx = order[index * self.batch_size : (index + 1) * self.batch_size]
        generator = torch.Generator().manual_seed(step_seed(self.seed, epoch, index))
        flipped = torch.rand(len(idx), generator=generator) < 0.5 if self.flip else None
        images = {}
        for resolution, split in self.splits.items():
            x = split.images[idx]
            if flipped is not None:
                x = torch.where(flipped.view(-1, 1, 1, 1), x.flip(-1), x)
            x = x.to(self.device).to(dtype=torch.float32, memory_format=torch.channels_last)
            images[resolution] = x.mul_(self._scale).add_(self._shift)
        labels = next(iter(self.splits.values())).labels[idx].to(self.device)
        return labels, images
