"""Candidates by weight inheritance: extract from the supernet, re-estimate batch-norm statistics.

The supernet's running batch-norm statistics are a mixture over every sub-network it trained;
an extracted network needs its own (Once-for-All recalibrates on 2,000 training images). The
recalibration is a seeded subset of the *training* split, so validation figures stay clean.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from aebnas.data import Dataset
from aebnas.data.images import seeded_permutation
from aebnas.errors import UserError
from aebnas.models import EarlyExitNetwork
from aebnas.space.architecture import Architecture
from aebnas.supernet.checkpoint import SupernetInfo, load_supernet
from aebnas.supernet.elastic import EarlyExitSupernet, check_resolution

#: Images per forward pass of the recalibration.
CALIBRATION_BATCH = 500


@torch.no_grad()
def calibrate_batch_norm(
    model: nn.Module,
    dataset: Dataset,
    resolution: int,
    size: int,
    seed: int,
    device: torch.device,
) -> None:
    """Replace every batch-norm layer's running statistics by their average over ``size``
    training images (a subset seeded by ``seed``); ``model`` ends in eval mode.

    Args:
        model: Network whose ``forward`` takes ``(N, C, R, R)`` images.
        dataset: Its dataset (the ``train`` split is used).
        resolution: Input side ``R``.
        size: Calibration images.
        seed: Seed of the subset.
        device: Where the model is.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the calibration batches
    model.train()
    batches = dataset.batches("train", resolution, CALIBRATION_BATCH, shuffle=False, seed=seed,
                              device=device, channels_last=True, subset=size)
    for x, _ in batches:
        model(x)
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    model.eval()


def inherit(
    supernet: EarlyExitSupernet,
    arch: Architecture,
    dataset: Dataset,
    calibration_size: int,
    seed: int,
    device: torch.device,
) -> EarlyExitNetwork:
    """The standalone network of ``arch`` with inherited weights and recalibrated batch-norm.

    Raises:
        UserError: ``arch`` outside the supernet's space, or a resolution it never trained at.
    """
    check_resolution(supernet, arch.resolution)
    model = supernet.extract(arch).to(device).to(memory_format=torch.channels_last)
    calibrate_batch_norm(model, dataset, arch.resolution, calibration_size, seed, device)
    return model


def check_dataset(info: SupernetInfo, dataset: Dataset, path: str | Path) -> None:
    """Refuse a supernet trained on another dataset or another validation split."""
    if info.dataset != dataset.name or info.num_classes != dataset.num_classes:
        raise UserError(
            f"supernet {path} was trained on {info.dataset} ({info.num_classes} classes), the "
            f"candidates are evaluated on {dataset.name}; train a supernet on {dataset.name} "
            "(`python -m aebnas.supernet train --dataset ...`)"
        )
    total = len(dataset.train) + len(dataset.val)
    held_out = seeded_permutation(total, info.data_seed)[: info.val_size].sort().values
    if not torch.equal(held_out, dataset.val_indices):
        raise UserError(
            f"supernet {path} was trained holding out the {info.val_size}-image validation split "
            f"of seed {info.data_seed}; this run's validation split differs, so the supernet has "
            f"seen its images: use seed {info.data_seed} and data.val_size {info.val_size}"
        )


@lru_cache(maxsize=2)
def cached_supernet(path: str, device: str) -> tuple[EarlyExitSupernet, SupernetInfo]:
    """:func:`~aebnas.supernet.checkpoint.load_supernet`, loaded once per process."""
    return load_supernet(path, device)
