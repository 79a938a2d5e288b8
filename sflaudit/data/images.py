"""The in-memory dataset types and the helpers every source shares: splits, statistics, error text."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sflaudit.errors import SflauditError

Triple = tuple[float, float, float]

IMAGE_SIZE = 32  # side of photos / digits / folder images
SEED = 20240611  # fixed seed of every built-in split and patch draw


@dataclass
class ImageSet:
    """One split: images and their labels."""

    x: np.ndarray  # uint8 N×H×W×3 (NHWC)
    y: np.ndarray  # int64 N

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass
class Dataset:
    """A named dataset: train and test splits, class names and the normalisation its views use."""

    name: str
    train: ImageSet
    test: ImageSet
    classes: list[str]
    mean: Triple  # per protocol §3.1, or measured on the train split
    std: Triple

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def channel_stats(x: np.ndarray) -> tuple[Triple, Triple]:
    """Exact per-channel mean and (population) std of uint8 N×H×W×3 images, on pixels scaled to [0, 1].

    A constant channel gets std 1/255 rather than 0, so that normalising it stays finite.
    """
    values = np.arange(256, dtype=np.float64) / 255.0
    mean, std = [], []
    for c in range(3):
        counts = np.bincount(x[..., c].ravel(), minlength=256).astype(np.float64)
        m = float(counts @ values / counts.sum())
        mean.append(round(m, 5))
        std.append(max(round(float(np.sqrt(counts @ (values - m) ** 2 / counts.sum())), 5), round(1 / 255, 5)))
    return (mean[0], mean[1], mean[2]), (std[0], std[1], std[2])


def copy_images(images: ImageSet) -> ImageSet:
    """Fresh arrays (callers may modify them without touching a cached dataset)."""
    return ImageSet(images.x.copy(), images.y.copy())


def resize_images(images: ImageSet, size: int, *, chunk: int = 256) -> ImageSet:
    """The split with every image resized to ``size``×``size`` (bilinear, antialiased), same dtype and value range
    (uint8 rounded and clamped to 0..255); already that size: the arrays themselves. Resized ``chunk`` images at a
    time, so a large split never needs a float copy of itself."""
    import torch
    import torch.nn.functional as F

    x = images.x
    if x.shape[1:3] == (size, size):
        return images
    out = np.empty((x.shape[0], size, size, x.shape[3]), dtype=x.dtype)
    for start in range(0, x.shape[0], chunk):
        planes = torch.from_numpy(np.ascontiguousarray(x[start:start + chunk].transpose(0, 3, 1, 2))).float()
        big = F.interpolate(planes, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        if x.dtype == np.uint8:
            big = big.round().clamp(0, 255)
        out[start:start + chunk] = big.permute(0, 2, 3, 1).numpy().astype(x.dtype)
    return ImageSet(out, images.y)


def measured(name: str, train: ImageSet, test: ImageSet, classes: list[str]) -> Dataset:
    """A dataset normalised with the mean/std measured on its train split."""
    mean, std = channel_stats(train.x)
    return Dataset(name, train, test, classes, mean, std)


def split_fixed(images: ImageSet, test_fraction: float = 0.2) -> tuple[ImageSet, ImageSet]:
    """Fixed seeded split: a random ``test_fraction`` of the rows (at least one) is the test set."""
    if len(images) < 2:
        raise SflauditError(f"{len(images)} image(s) cannot be split into train and test (need 2 or more)")
    order = np.random.default_rng(SEED).permutation(len(images))
    n_test = max(1, round(test_fraction * len(images)))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    return ImageSet(images.x[train], images.y[train]), ImageSet(images.x[test], images.y[test])


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (for one-line CLI errors)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


NORMALIZATION: dict[str, tuple[Triple, Triple]] = {  # protocol §3.1: (mean, std) on pixels in [0, 1]
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100": ((0.50708, 0.48655, 0.44092), (0.26733, 0.25644, 0.27615)),
    "svhn": ((0.3522, 0.4004, 0.4463), (0.1189, 0.1377, 0.1784)),
    "stl10": ((0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)),
    "tinyimagenet": ((0.5141, 0.5775, 0.3985), (0.2927, 0.2570, 0.1434)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
