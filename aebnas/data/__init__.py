"""Datasets held whole in memory as uint8 tensors, with fast normalised mini-batches.

``load_dataset(name)`` -> :class:`Dataset` (train / seeded val / official test splits);
``Dataset.batches(split, resolution, batch_size, ...)`` -> :class:`BatchLoader`.
"""

from aebnas.data.datasets import (
    DATASETS,
    Dataset,
    DatasetInfo,
    carve_validation,
    dataset_classes,
    dataset_help,
    dataset_info,
    default_data_root,
    load_dataset,
)
from aebnas.data.images import ImageSplit, resize_images
from aebnas.data.loader import BatchLoader
from aebnas.data.sources import RawData

__all__ = [
    "DATASETS",
    "BatchLoader",
    "Dataset",
    "DatasetInfo",
    "ImageSplit",
    "RawData",
    "carve_validation",
    "dataset_classes",
    "dataset_help",
    "dataset_info",
    "default_data_root",
    "load_dataset",
    "resize_images",
]
