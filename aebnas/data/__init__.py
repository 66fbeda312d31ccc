"""Datasets held whole in memory as uint8 tensors, with fast normalised mini-batches.

``load_dataset(name)`` -> :class:`Dataset` (train / seeded val / official test splits);
``Dataset.batches(split, resolution, batch_size, ...)`` -> :class:`BatchLoader`.
"""

from aebnas.data.datasets import (
    DATASET_DEFAULTS,
    Dataset,
    DatasetInfo,
    carve_validation,
    dataset_classes,
    dataset_info,
    default_data_root,
    load_dataset,
)
from aebnas.data.images import ImageSplit, resize_images
from aebnas.data.loader import BatchLoader
from aebnas.data.sources import SOURCES, RawData

__all__ = [
    "DATASET_DEFAULTS",
    "SOURCES",
    "BatchLoader",
    "Dataset",
    "DatasetInfo",
    "ImageSplit",
    "RawData",
    "carve_validation",
    "dataset_classes",
    "dataset_info",
    "default_data_root",
    "load_dataset",
    "resize_images",
]
