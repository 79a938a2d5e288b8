"""Data: dataset sources, client partitioning and batched MoCo augmentations (protocol §3)."""

from sflaudit.data.augment import KINDS, AugmentSpec, augment, augment_unnormalised, normalize
from sflaudit.data.partition import SCHEMES, partition
from sflaudit.data.sources import NORMALIZATION, SOURCES, Dataset, ImageSet, default_data_dir, load_dataset

__all__ = [
    "KINDS",
    "NORMALIZATION",
    "SCHEMES",
    "SOURCES",
    "AugmentSpec",
    "Dataset",
    "ImageSet",
    "augment",
    "augment_unnormalised",
    "default_data_dir",
    "load_dataset",
    "normalize",
    "partition",
]
