"""Built-in offline datasets: ``photos`` (patches of the photographs shipped inside scikit-image, scikit-learn and
matplotlib, one class per photograph) and ``digits`` (scikit-learn's 8×8 digits, upscaled). Both are cached in memory.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

from sflaudit.data.images import IMAGE_SIZE, SEED, Dataset, ImageSet, measured, split_fixed
from sflaudit.errors import SflauditError

PHOTO_PATCHES = (500, 100)  # train, test patches per photograph
PHOTO_SIDE = (0.1, 0.5)  # patch side as a fraction of the photo's short side, log-uniform
# The real RGB photographs shipped inside the installed libraries: (class, package, file, central fraction kept).
# The retina fundus photo sits in a black frame, so only its centre is used.
PHOTOS: tuple[tuple[str, str, str, float], ...] = (
    ("astronaut", "skimage", "data/astronaut.png", 1.0),
    ("chelsea", "skimage", "data/chelsea.png", 1.0),
    ("coffee", "skimage", "data/coffee.png", 1.0),
    ("rocket", "skimage", "data/rocket.jpg", 1.0),
    ("hubble_deep_field", "skimage", "data/hubble_deep_field.jpg", 1.0),
    ("immunohistochemistry", "skimage", "data/ihc.png", 1.0),
    ("retina", "skimage", "data/retina.jpg", 0.5),
    ("china", "sklearn", "datasets/images/china.jpg", 1.0),
    ("flower", "sklearn", "datasets/images/flower.jpg", 1.0),
    ("grace_hopper", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg", 1.0),
)


def _package_file(package: str, relative: str) -> Path | None:
    """A data file inside an installed package, found without importing the package (fast, never downloads)."""
    spec = importlib.util.find_spec(package)
    for base in (spec.submodule_search_locations or []) if spec else []:
        if (Path(base) / relative).is_file():
            return Path(base) / relative
    return None


def _read_photo(path: Path, centre: float) -> np.ndarray:
    """uint8 H×W×3 photograph; ``centre`` < 1 keeps that fraction of the short side around the centre."""
    from PIL import Image

    with Image.open(path) as im:
        photo = np.asarray(im.convert("RGB"))
    side = round(min(photo.shape[:2]) * centre)
    top, left = (photo.shape[0] - side) // 2, (photo.shape[1] - side) // 2
    return photo[top : top + side, left : left + side] if centre < 1 else photo


def photo_patches(photo: np.ndarray, count: int, rng: np.random.Generator, size: int = IMAGE_SIZE) -> np.ndarray:
    """``count`` square patches at random positions and log-uniform random sides, resized to size×size.

    Args:
        photo: uint8 H×W×3. Returns: uint8 count×size×size×3.
    """
    from PIL import Image

    im = Image.fromarray(photo)
    short = min(photo.shape[:2])
    sides = np.exp(rng.uniform(np.log(PHOTO_SIDE[0]), np.log(PHOTO_SIDE[1]), count)) * short
    sides = np.maximum(np.round(sides), 1).astype(int)
    tops = (rng.random(count) * (photo.shape[0] - sides + 1)).astype(int)
    lefts = (rng.random(count) * (photo.shape[1] - sides + 1)).astype(int)
    return np.stack([
        np.asarray(im.resize((size, size), Image.BILINEAR, box=(left, top, left + side, top + side)))
        for top, left, side in zip(tops, lefts, sides, strict=True)
    ])  # fmt: skip


@functools.lru_cache(maxsize=1)
def photos() -> Dataset:
    """One class per photograph; 500 train + 100 test patches each, drawn with a per-photo fixed seed."""
    classes, parts = [], []
    for index, (name, package, relative, centre) in enumerate(PHOTOS):
        path = _package_file(package, relative)
        if path is None:  # a library version without this sample photograph: the class is left out
            continue
        rng = np.random.default_rng([SEED, index])
        parts.append(photo_patches(_read_photo(path, centre), sum(PHOTO_PATCHES), rng))
        classes.append(name)
    if len(classes) < 2:
        raise SflauditError(f"photos: only {classes} of the sample photographs are installed (need 2 or more)")
    n_train, n_test = PHOTO_PATCHES
    train = _shuffled(np.concatenate([p[:n_train] for p in parts]), np.repeat(np.arange(len(classes)), n_train))
    test = _shuffled(np.concatenate([p[n_train:] for p in parts]), np.repeat(np.arange(len(classes)), n_test))
    return measured("photos", train, test, classes)


def _shuffled(x: np.ndarray, y: np.ndarray) -> ImageSet:
    order = np.random.default_rng(SEED).permutation(y.shape[0])
    return ImageSet(x[order], y[order])


@functools.lru_cache(maxsize=1)
def digits() -> Dataset:
    """scikit-learn's 1,797 8×8 digits (0..16), bilinearly upscaled to 32×32 grey-as-RGB; fixed 80/20 split."""
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = torch.from_numpy(digits.images.astype(np.float32) * (255.0 / 16.0))[:, None]
    big = F.interpolate(small, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    grey = big.round().clamp(0, 255).to(torch.uint8)[:, 0].numpy()
    x = np.repeat(grey[..., None], 3, axis=3)
    train, test = split_fixed(ImageSet(x, digits.target.astype(np.int64)))
    return measured("digits", train, test, [str(k) for k in range(10)])
