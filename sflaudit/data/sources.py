"""Dataset registry: every source returns uint8 N×H×W×3 images and int64 labels (DESIGN §8, protocol §3.1).

Specs: ``photos`` (offline default: patches of the photographs shipped inside scikit-image, scikit-learn and
matplotlib, one class per photograph), ``digits`` (scikit-learn's 8×8 digits, upscaled), ``cifar10`` / ``cifar100``
(torchvision's pickle layout under ``data_dir``), ``npz:PATH`` and ``folder:PATH``.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from sflaudit.data import builtin
from sflaudit.data.images import (IMAGE_SIZE, Dataset, ImageSet, Triple, copy_images, measured, one_line,
                                  split_fixed)
from sflaudit.errors import SflauditError

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
_IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}


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
        cached = builtin.photos() if kind == "photos" else builtin.digits()
        return Dataset(cached.name, copy_images(cached.train), copy_images(cached.test), list(cached.classes),
                       cached.mean, cached.std)  # fmt: skip
    if kind in ("cifar10", "cifar100") and not path:
        root = Path(data_dir).expanduser() if data_dir else default_data_dir()
        return load_cifar(kind, root, download=download)
    if kind in ("npz", "folder") and path:
        return load_npz(spec, Path(path).expanduser()) if kind == "npz" else load_folder(spec, Path(path).expanduser())
    raise SflauditError(f"dataset {spec!r} is unknown (valid: {', '.join(SOURCES)})")


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
            message = f"downloading {title} into {root} failed ({one_line(exc)}); copy it there by hand"
            raise SflauditError(message) from exc
    base = root if (root / meta).is_file() else root / folder
    if not all((base / f).is_file() for f in (meta, *train_files, *test_files)):
        raise SflauditError(f"{title} not found in {root}; pass --data-dir or --set data.download=true")
    try:
        classes = [str(c) for c in _unpickle(base / meta)[names_key]]
        train, test = (_read_batches(base, files, labels_key, len(classes)) for files in (train_files, test_files))
    except (OSError, EOFError, KeyError, ValueError, TypeError, pickle.UnpicklingError) as exc:
        raise SflauditError(
            f"{title} in {base} is corrupt ({one_line(exc)}); delete it and pass --set data.download=true"
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
        train, test = split_fixed(_read_npz(path))
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
    return measured(name, train, test, classes)


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
        raise SflauditError(f"{path} is not a readable .npz file ({one_line(exc)})") from exc
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
        train, test = split_fixed(_read_tree(path, classes))
    return measured(name, train, test, classes)


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
                raise SflauditError(f"{file} is not a readable image ({one_line(exc)})") from exc
            labels.append(label)
    if not images:
        raise SflauditError(f"{path} holds no images ({', '.join(sorted(_IMAGE_EXTENSIONS))})")
    return ImageSet(np.stack(images), np.asarray(labels, np.int64))
