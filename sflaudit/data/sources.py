"""Dataset registry: every source returns uint8 N×H×W×3 images and int64 labels (DESIGN §8, protocol §3.1).

Specs: ``photos`` (offline default: patches of the photographs shipped inside scikit-image, scikit-learn and
matplotlib, one class per photograph), ``digits`` (scikit-learn's 8×8 digits, upscaled), ``cifar10`` / ``cifar100``
(torchvision's pickle layout under ``data_dir``), ``npz:PATH`` and ``folder:PATH``.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sflaudit.errors import SflauditError

Triple = tuple[float, float, float]

SOURCES: tuple[str, ...] = ("photos", "digits", "cifar10", "cifar100", "npz:PATH", "folder:PATH")
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
IMAGE_SIZE = 32  # side of photos / digits / folder images
PHOTO_PATCHES = (500, 100)  # train, test patches per photograph
PHOTO_SIDE = (0.1, 0.5)  # patch side as a fraction of the photo's short side, log-uniform
SEED = 20240611  # fixed seed of every built-in split and patch draw
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
_IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}


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


def default_data_dir() -> Path:
    """``$SFLAUDIT_DATA`` if set, else ``~/.cache/sflaudit``."""
    return Path(os.environ.get("SFLAUDIT_DATA") or Path.home() / ".cache" / "sflaudit")


def load_dataset(spec: str, *, data_dir: str | None = None, download: bool = False) -> Dataset:
    """Load a dataset by spec: photos | digits | cifar10 | cifar100 | npz:PATH | folder:PATH.

    ``data_dir`` and ``download`` only matter for cifar10/cifar100. Built-in sources are cached in memory;
    each call returns fresh arrays.
    """
    kind, _, path = spec.partition(":")
    if kind in ("photos", "digits") and not path:
        cached = _photos() if kind == "photos" else _digits()
        return Dataset(cached.name, _copy(cached.train), _copy(cached.test), list(cached.classes),
                       cached.mean, cached.std)  # fmt: skip
    if kind in ("cifar10", "cifar100") and not path:
        root = Path(data_dir).expanduser() if data_dir else default_data_dir()
        return load_cifar(kind, root, download=download)
    if kind in ("npz", "folder") and path:
        return load_npz(spec, Path(path).expanduser()) if kind == "npz" else load_folder(spec, Path(path).expanduser())
    raise SflauditError(f"dataset {spec!r} is unknown (valid: {', '.join(SOURCES)})")


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


def _copy(images: ImageSet) -> ImageSet:
    return ImageSet(images.x.copy(), images.y.copy())


def _measured(name: str, train: ImageSet, test: ImageSet, classes: list[str]) -> Dataset:
    mean, std = channel_stats(train.x)
    return Dataset(name, train, test, classes, mean, std)


def _split(images: ImageSet, test_fraction: float = 0.2) -> tuple[ImageSet, ImageSet]:
    """Fixed seeded split: a random ``test_fraction`` of the rows (at least one) is the test set."""
    if len(images) < 2:
        raise SflauditError(f"{len(images)} image(s) cannot be split into train and test (need 2 or more)")
    order = np.random.default_rng(SEED).permutation(len(images))
    n_test = max(1, round(test_fraction * len(images)))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    return ImageSet(images.x[train], images.y[train]), ImageSet(images.x[test], images.y[test])


# --- built-in: photographs -------------------------------------------------------------------------------------


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
def _photos() -> Dataset:
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
    return _measured("photos", train, test, classes)


def _shuffled(x: np.ndarray, y: np.ndarray) -> ImageSet:
    order = np.random.default_rng(SEED).permutation(y.shape[0])
    return ImageSet(x[order], y[order])


@functools.lru_cache(maxsize=1)
def _digits() -> Dataset:
    """scikit-learn's 1,797 8×8 digits (0..16), bilinearly upscaled to 32×32 grey-as-RGB; fixed 80/20 split."""
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = torch.from_numpy(digits.images.astype(np.float32) * (255.0 / 16.0))[:, None]
    big = F.interpolate(small, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    grey = big.round().clamp(0, 255).to(torch.uint8)[:, 0].numpy()
    x = np.repeat(grey[..., None], 3, axis=3)
    train, test = _split(ImageSet(x, digits.target.astype(np.int64)))
    return _measured("digits", train, test, [str(k) for k in range(10)])


# --- CIFAR (torchvision's pickle layout) -----------------------------------------------------------------------

# kind → (title, folder, train files, test files, meta file, class-name key, label key)
_CIFAR: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...], str, str, str]] = {
    "cifar10": ("CIFAR-10", "cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",),
                "batches.meta", "label_names", "labels"),
    "cifar100": ("CIFAR-100", "cifar-100-python", ("train",), ("test",), "meta", "fine_label_names", "fine_labels"),
}  # fmt: skip


def load_cifar(kind: str, root: Path, *, download: bool = False) -> Dataset:
    """CIFAR-10/100 from ``root/<torchvision folder>`` (or ``root`` itself holding the batch files).

    Downloading goes through torchvision (which checks the archive's md5); reading is done here, so any copy in
    the pickle layout loads. A missing or unreadable copy is a one-line :class:`SflauditError`.
    """
    title, folder, train_files, test_files, meta, names_key, labels_key = _CIFAR[kind]
    if download:
        import torchvision

        try:
            getattr(torchvision.datasets, kind.upper())(str(root), train=True, download=True)
        except Exception as exc:
            message = f"downloading {title} into {root} failed ({_one_line(exc)}); copy it there by hand"
            raise SflauditError(message) from exc
    base = root if (root / meta).is_file() else root / folder
    if not all((base / f).is_file() for f in (meta, *train_files, *test_files)):
        raise SflauditError(f"{title} not found in {root}; pass --data-dir or --set data.download=true")
    try:
        classes = [str(c) for c in _unpickle(base / meta)[names_key]]
        train, test = (_read_batches(base, files, labels_key, len(classes)) for files in (train_files, test_files))
    except (OSError, EOFError, KeyError, ValueError, TypeError, pickle.UnpicklingError) as exc:
        raise SflauditError(
            f"{title} in {base} is corrupt ({_one_line(exc)}); delete it and pass --set data.download=true"
        ) from exc
    return Dataset(kind, train, test, classes, *NORMALIZATION[kind])


def _read_batches(base: Path, files: tuple[str, ...], labels_key: str, num_classes: int) -> ImageSet:
    """Concatenate pickled batches ({"data": N×3072 uint8 planes R, G, B; labels_key: N}) into NHWC images."""
    batches = [_unpickle(base / f) for f in files]
    planes = np.concatenate([np.asarray(b["data"], np.uint8).reshape(-1, 3, 32, 32) for b in batches])
    labels = np.concatenate([np.asarray(b[labels_key], np.int64) for b in batches])
    if planes.shape[0] != labels.shape[0] or labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"{planes.shape[0]} images, {labels.shape[0]} labels and {num_classes} classes disagree")
    return ImageSet(np.ascontiguousarray(planes.transpose(0, 2, 3, 1)), labels)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _unpickle(path: Path) -> dict:
    with path.open("rb") as f:
        entry = pickle.load(f, encoding="latin1")
    if not isinstance(entry, dict):
        raise ValueError(f"{path.name} holds a {type(entry).__name__}, not a dict")
    return entry


# --- user files: npz and image folders ---------------------------------------------------------------------------


def load_npz(name: str, path: Path) -> Dataset:
    """A directory with ``train.npz`` + ``test.npz`` (optional ``classes.txt``), or one ``.npz`` split 80/20.

    Each file holds ``x`` (uint8 N×H×W×3) and ``y`` (integer N). A ``classes.txt`` equal to CIFAR-10's class list
    selects the CIFAR-10 normalisation of protocol §3.1; otherwise mean/std are measured on the train split.
    """
    if path.is_dir():
        train, test = _read_npz(path / "train.npz"), _read_npz(path / "test.npz")
    elif path.is_file():
        train, test = _split(_read_npz(path))
    else:
        raise SflauditError(f"npz:{path} not found (a directory with train.npz and test.npz, or one .npz file)")
    top = int(max(train.y.max(), test.y.max()))
    names_file = path / "classes.txt" if path.is_dir() else None
    if names_file is not None and names_file.is_file():
        classes = [line.strip() for line in names_file.read_text().splitlines() if line.strip()]
        if len(classes) <= top:
            raise SflauditError(f"{names_file} names {len(classes)} classes but labels go up to {top}")
    else:
        classes = [str(k) for k in range(top + 1)]
    if tuple(classes) == CIFAR10_CLASSES:
        return Dataset(name, train, test, classes, *NORMALIZATION["cifar10"])
    return _measured(name, train, test, classes)


def _read_npz(path: Path) -> ImageSet:
    if not path.is_file():
        raise SflauditError(f"{path} not found")
    if not zipfile.is_zipfile(path):
        raise SflauditError(f"{path} is not an .npz archive (np.savez with arrays x and y)")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [key for key in ("x", "y") if key not in data.files]
            if missing:
                raise SflauditError(f"{path} lacks array {missing[0]!r} (needs x: uint8 N×H×W×3 and y: integer N)")
            x, y = data["x"], data["y"]
    except (OSError, ValueError) as exc:
        raise SflauditError(f"{path} is not a readable .npz file ({_one_line(exc)})") from exc
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[3] != 3:
        raise SflauditError(f"{path}: x is {x.dtype} {x.shape}, expected uint8 N×H×W×3")
    if y.ndim != 1 or y.shape[0] != x.shape[0] or not np.issubdtype(y.dtype, np.integer) or y.size == 0:
        raise SflauditError(f"{path}: y is {y.dtype} {y.shape}, expected {x.shape[0]} integer labels")
    if y.min() < 0:
        raise SflauditError(f"{path}: label {int(y.min())} is out of range (>= 0)")
    return ImageSet(x, y.astype(np.int64))


def load_folder(name: str, path: Path) -> Dataset:
    """ImageFolder layout: ``PATH/train/<class>/*`` + ``PATH/test/<class>/*``, or ``PATH/<class>/*`` split 80/20.

    Class names are the sorted sub-folder names; every image is converted to RGB and resized to 32×32.
    """
    if not path.is_dir():
        raise SflauditError(f"folder:{path} is not a directory")
    if (path / "train").is_dir():
        classes = _class_dirs(path / "train")
        if not (path / "test").is_dir():
            raise SflauditError(f"folder:{path} has train/ but no test/")
        unknown = sorted(set(_class_dirs(path / "test", allow_empty=True)) - set(classes))
        if unknown:
            raise SflauditError(f"folder:{path}: test classes {unknown} are not in train/ ({', '.join(classes)})")
        train, test = _read_tree(path / "train", classes), _read_tree(path / "test", classes)
    else:
        classes = _class_dirs(path)
        train, test = _split(_read_tree(path, classes))
    return _measured(name, train, test, classes)


def _class_dirs(path: Path, *, allow_empty: bool = False) -> list[str]:
    classes = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes and not allow_empty:
        raise SflauditError(f"{path} has no class sub-folders (expected {path}/<class>/<image>)")
    return classes


def _read_tree(path: Path, classes: list[str]) -> ImageSet:
    from PIL import Image

    images, labels = [], []
    for label, name in enumerate(classes):
        folder = path / name
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in _IMAGE_EXTENSIONS) if folder.is_dir() else []
        for file in files:
            try:
                with Image.open(file) as im:
                    images.append(np.asarray(im.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)))
            except OSError as exc:  # includes PIL's UnidentifiedImageError
                raise SflauditError(f"{file} is not a readable image ({_one_line(exc)})") from exc
            labels.append(label)
    if not images:
        raise SflauditError(f"{path} holds no images ({', '.join(sorted(_IMAGE_EXTENSIONS))})")
    return ImageSet(np.stack(images), np.asarray(labels, np.int64))
