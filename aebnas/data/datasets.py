"""Datasets as in-memory splits: the dataset registry, the seeded validation split and batching.

Every dataset is one registered :class:`DatasetInfo` in :data:`DATASETS` (facts, search
defaults, loader, help). ``load_dataset(name)`` reads the official train/test splits through
the entry's loader (:mod:`aebnas.data.sources`), carves a seeded validation split out of the
training set, and returns a :class:`Dataset` whose :meth:`Dataset.batches` produces normalised
mini-batches at any resolution (resized once per split and resolution, then cached).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import torch

from aebnas.data.images import ImageSplit, channel_stats, resize_images, seeded_permutation
from aebnas.data.loader import BatchLoader
from aebnas.data.sources import (
    DIGIT_NAMES,
    FASHION_MNIST_NAMES,
    SourceLoader,
    folder_classes,
    load_cifar10,
    load_cifar100,
    load_digits,
    load_fashion_mnist,
    load_folder,
    load_svhn,
)
from aebnas.errors import UserError
from aebnas.registry import Registry

FOLDER_PREFIX = "folder:"
#: Byte budget of each dataset's cache of resized splits (least recently used are dropped).
RESIZE_CACHE_BYTES = 4 << 30
_REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class DatasetInfo:
    """One registered dataset: static facts, search defaults and its loader.

    Args:
        name: Registry name (``"folder"`` for every ``folder:PATH``).
        channels: Image channels.
        num_classes: Number of classes (``None`` for ``folder``: counted from its folders).
        image_size: Side length of the images as loaded (before any resize).
        mean: Per-channel pixel mean (0..1 scale); ``None``: computed from the training set.
        std: Per-channel pixel standard deviation; ``None``: computed from the training set.
        val_size: Default validation split size; ``None``: ``val_fraction`` of the training set.
        resolutions: Input resolutions the search may choose from.
        default_target_macs: Default MAC budget of a searched network, in millions.
        lr: Default learning rate of (SGD) training.
        flip: Whether ``augment`` uses random horizontal flips (not for digits).
        loader: Reads the official splits from a data root (:mod:`aebnas.data.sources`).
        help: Where the data comes from, for the command lines' help.
        class_names: Class names in label order; ``None``: read from the dataset's files.
        split_sizes: Images of the official ``(train, test)`` splits; ``None``: as found.
        val_fraction: Fraction of the training set used when ``val_size`` is ``None``.
    """

    name: str
    channels: int
    num_classes: int | None
    image_size: int
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    val_size: int | None
    resolutions: tuple[int, ...]
    default_target_macs: float
    lr: float
    flip: bool
    loader: SourceLoader = field(compare=False, repr=False)
    help: str = ""
    class_names: tuple[str, ...] | None = None
    split_sizes: tuple[int, int] | None = None
    val_fraction: float = 0.1


_CIFAR_RESOLUTIONS = tuple(range(32, 73, 4))
_SMALL_RESOLUTIONS = (28, 32, 36, 40)

#: Every dataset by name (``folder`` stands for every ``folder:PATH``).
DATASETS: Registry[DatasetInfo] = Registry("dataset")
for _info in (
    DatasetInfo(
        "fashion-mnist",
        num_classes=10,
        channels=1,
        image_size=28,
        mean=(0.2860,),
        std=(0.3530,),
        val_size=5000,
        resolutions=_SMALL_RESOLUTIONS,
        default_target_macs=6.0,
        lr=0.05,
        flip=True,
        loader=load_fashion_mnist,
        help="Debian package dataset-fashion-mnist",
        class_names=FASHION_MNIST_NAMES,
        split_sizes=(60000, 10000),
    ),
    DatasetInfo(
        "cifar10",
        num_classes=10,
        channels=3,
        image_size=32,
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
        val_size=5000,
        resolutions=_CIFAR_RESOLUTIONS,
        default_target_macs=17.0,
        lr=0.01,
        flip=True,
        loader=load_cifar10,
        help="cifar-10-batches-py/ under the data root",
        split_sizes=(50000, 10000),
    ),
    DatasetInfo(
        "cifar100",
        num_classes=100,
        channels=3,
        image_size=32,
        mean=(0.5071, 0.4865, 0.4409),
        std=(0.2673, 0.2564, 0.2762),
        val_size=5000,
        resolutions=_CIFAR_RESOLUTIONS,
        default_target_macs=17.0,
        lr=0.01,
        flip=True,
        loader=load_cifar100,
        help="cifar-100-python/ under the data root",
        split_sizes=(50000, 10000),
    ),
    DatasetInfo(
        "svhn",
        num_classes=10,
        channels=3,
        image_size=32,
        mean=(0.4377, 0.4438, 0.4728),
        std=(0.1980, 0.2010, 0.1970),
        val_size=7325,
        resolutions=_CIFAR_RESOLUTIONS,
        default_target_macs=1.0,
        lr=0.05,
        flip=False,
        loader=load_svhn,
        help="{train,test}_32x32.mat under the data root",
        class_names=DIGIT_NAMES,
        split_sizes=(73257, 26032),
    ),
    # digits: statistics of the 1,437 training images (fixed test split), see tests.
    DatasetInfo(
        "digits",
        num_classes=10,
        channels=1,
        image_size=8,
        mean=(0.3057,),
        std=(0.3759,),
        val_size=300,
        resolutions=_SMALL_RESOLUTIONS,
        default_target_macs=6.0,
        lr=0.05,
        flip=False,
        loader=load_digits,
        help="scikit-learn's 8x8 digits, no files needed",
        class_names=DIGIT_NAMES,
        split_sizes=(1437, 360),
    ),
    DatasetInfo(
        "folder",
        num_classes=None,
        channels=3,
        image_size=32,
        mean=None,
        std=None,
        val_size=None,
        resolutions=(32,),
        default_target_macs=6.0,
        lr=0.05,
        flip=True,
        loader=load_folder,
        help="folder:PATH with PATH/train/<class>/*.png and PATH/test/<class>/*.png",
    ),
):
    DATASETS.add(_info.name, _info)


def dataset_help() -> str:
    """The ``--dataset`` help of the command lines: every registered dataset with its help."""
    named = [f"{n} ({DATASETS.get(n).help})" for n in DATASETS.names() if n != "folder"]
    return "; ".join([*named, DATASETS.get("folder").help])


def default_data_root() -> Path:
    """``$AEBNAS_DATA`` if set, else ``<repo>/datasets`` (git-ignored)."""
    env = os.environ.get("AEBNAS_DATA")
    return Path(env).expanduser() if env else _REPO_ROOT / "datasets"


def _parse_name(name: str) -> tuple[str, Path | None]:
    """Split a dataset name into its registry key and, for ``folder:PATH``, the path.

    Raises:
        UserError: Unknown name, or ``folder`` without a path.
    """
    if name.startswith(FOLDER_PREFIX) and name[len(FOLDER_PREFIX) :].strip():
        return "folder", Path(name[len(FOLDER_PREFIX) :].strip()).expanduser()
    key = name.strip().lower()
    if key in ("folder", FOLDER_PREFIX):
        raise UserError(
            f"dataset {name!r} needs a path: use folder:PATH with PATH holding "
            "train/<class>/*.png and test/<class>/*.png"
        )
    if key not in DATASETS:
        known = [n for n in DATASETS.names() if n != "folder"] + [f"{FOLDER_PREFIX}PATH"]
        raise UserError(f"unknown dataset {name!r}; choose one of: {', '.join(known)}")
    return key, None


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name`` (``folder:PATH`` gets the ``folder`` defaults).

    Raises:
        UserError: Unknown dataset name.
    """
    key, _ = _parse_name(name)
    return DATASETS.get(key)


def dataset_classes(name: str) -> int:
    """Number of classes of dataset ``name`` without loading it (``folder:PATH``: its class
    folders are counted).

    Raises:
        UserError: Unknown name, or a ``folder:PATH`` that is not an ImageFolder tree.
    """
    key, folder = _parse_name(name)
    known = DATASETS.get(key).num_classes
    if known is not None:
        return known
    assert folder is not None  # only folder:PATH has no static class count
    return len(folder_classes(folder))


class _ResizeCache:
    """Resized uint8 splits keyed by (split, resolution, subset, seed), LRU under a byte budget."""

    def __init__(self, max_bytes: int = RESIZE_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, int, int | None, int], ImageSplit] = OrderedDict()

    def get(self, key: tuple[str, int, int | None, int]) -> ImageSplit | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: tuple[str, int, int | None, int], value: ImageSplit) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > 1 and self.nbytes > self.max_bytes:
            self._entries.popitem(last=False)

    @property
    def nbytes(self) -> int:
        return sum(v.images.nbytes for v in self._entries.values())

    def clear(self) -> None:
        self._entries.clear()


@dataclass(eq=False)
class Dataset:
    """A dataset whole in memory, with its seeded validation split.

    Args:
        name: Name it was loaded by (e.g. ``"cifar10"``, ``"folder:/data/x"``).
        num_classes: Number of classes.
        channels: Image channels ``C``.
        mean: Per-channel mean (0..1 scale) used to normalise batches.
        std: Per-channel standard deviation used to normalise batches.
        train: Training images minus the validation split.
        val: Seeded validation split carved from the official training set.
        test: Official test set (final reports only).
        info: The dataset's defaults.
        val_indices: ``int64 (V,)`` indices of ``val`` in the official training set.
        class_names: Name of each class in label order (``num_classes`` entries).
    """

    name: str
    num_classes: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train: ImageSplit
    val: ImageSplit
    test: ImageSplit
    info: DatasetInfo
    val_indices: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.int64))
    class_names: tuple[str, ...] = ()
    _cache: _ResizeCache = field(default_factory=_ResizeCache, repr=False)

    def split(self, split: str) -> ImageSplit:
        """The split named ``"train"``, ``"val"`` or ``"test"``."""
        splits = {"train": self.train, "val": self.val, "test": self.test}
        if split not in splits:
            raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(splits)}")
        return splits[split]

    def resized(
        self, split: str, resolution: int, subset: int | None = None, seed: int = 0
    ) -> ImageSplit:
        """A split (or seeded subset of it) at ``resolution``, resized once and cached.

        Args:
            split: ``"train"``, ``"val"`` or ``"test"``.
            resolution: Output side length ``R``.
            subset: Number of images of a seeded random subset (``None``: all).
            seed: Seed of the subset.

        Returns:
            uint8 images ``(N, C, R, R)`` with their labels.
        """
        if resolution < 1:
            raise ValueError(f"resolution must be positive, got {resolution}")
        base = self.split(split)
        if subset is None or subset >= len(base):
            subset, seed = None, 0
        key = (split, resolution, subset, seed)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        whole = self._cache.get((split, resolution, None, 0))
        if whole is not None:
            result = whole.subset(subset, seed)
        else:
            part = base.subset(subset, seed)
            result = ImageSplit(resize_images(part.images, resolution), part.labels)
        self._cache.put(key, result)
        return result

    def batches(
        self,
        split: str,
        resolution: int,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        device: torch.device | str = "cpu",
        augment: bool = False,
        channels_last: bool = False,
        subset: int | None = None,
        drop_last: bool = False,
    ) -> BatchLoader:
        """Mini-batches of a split at ``resolution``, normalised with ``mean``/``std``.

        Args:
            split: ``"train"``, ``"val"`` or ``"test"``.
            resolution: Side length ``R`` the images are resized to (bilinear, antialiased).
            batch_size: Images per batch ``B``.
            shuffle: New seeded random order every epoch.
            seed: Seed of shuffling, augmentation and the subset.
            device: Device of the batches.
            augment: Random translation by up to 4 px (+ horizontal flip if ``info.flip``).
            channels_last: Return batches in ``torch.channels_last`` memory format.
            subset: Iterate a seeded random subset of this many images.
            drop_last: Skip the final incomplete batch.

        Returns:
            A :class:`BatchLoader` yielding ``x`` float32 ``(B, C, R, R)``, ``y`` int64 ``(B,)``.
        """
        return BatchLoader(
            self.resized(split, resolution, subset=subset, seed=seed),
            self.mean,
            self.std,
            batch_size,
            shuffle=shuffle,
            seed=seed,
            device=device,
            augment=augment,
            flip=self.info.flip,
            channels_last=channels_last,
            drop_last=drop_last,
        )

    def clear_cache(self) -> None:
        """Drop all cached resized splits."""
        self._cache.clear()


def carve_validation(
    train: ImageSplit, val_size: int, seed: int
) -> tuple[ImageSplit, ImageSplit, torch.Tensor]:
    """Split a seeded random validation set off the official training set.

    Args:
        train: The full official training split (``N`` images).
        val_size: Validation images ``V`` (``1 <= V < N``).
        seed: Seed of the choice (same seed -> same validation images).

    Returns:
        ``(train_rest, val, val_indices)``; both splits keep the original order and
        ``val_indices`` is ``int64 (V,)``.
    """
    if not 1 <= val_size < len(train):
        raise UserError(
            f"val_size {val_size} must be between 1 and {len(train) - 1} (the "
            f"training set has {len(train)} images); pass a smaller val_size"
        )
    order = seeded_permutation(len(train), seed)
    val_idx, train_idx = order[:val_size].sort().values, order[val_size:].sort().values
    return train.take(train_idx), train.take(val_idx), val_idx


def _default_val_size(info: DatasetInfo, n_train: int) -> int:
    if info.val_size is not None:
        return info.val_size
    return max(1, round(info.val_fraction * n_train))


def load_dataset(
    name: str, root: str | Path | None = None, val_size: int | None = None, seed: int = 0
) -> Dataset:
    """Load a dataset into memory and carve its seeded validation split.

    Args:
        name: A name in :data:`DATASETS` or ``folder:PATH``.
        root: Data root (``None``: :func:`default_data_root`); unused by ``digits`` and
            ``folder:PATH``.
        val_size: Validation images (``None``: the dataset's default).
        seed: Seed of the validation split.

    Returns:
        The :class:`Dataset`.

    Raises:
        UserError: Unknown name, missing/corrupted files, bad folder layout or bad ``val_size``.
    """
    key, folder = _parse_name(name)
    info = DATASETS.get(key)
    data_root = folder or (Path(root).expanduser() if root is not None else default_data_root())
    raw = info.loader(data_root)
    if val_size is None:
        val_size = _default_val_size(info, len(raw.train))
    train, val, val_indices = carve_validation(raw.train, val_size, seed)
    if info.mean is not None and info.std is not None:
        mean, std = info.mean, info.std
    else:
        mean, std = channel_stats(raw.train.images)
    canonical = name if folder is not None else key
    return Dataset(
        name=canonical,
        num_classes=raw.num_classes,
        channels=int(raw.train.images.shape[1]),
        mean=mean,
        std=std,
        train=train,
        val=val,
        test=raw.test,
        info=info,
        val_indices=val_indices,
        class_names=raw.class_names,
    )
