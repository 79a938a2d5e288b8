"""Dataset registry: every source returns uint8 N×H×W×3 images and int64 labels (protocol §3.1).

Specs: ``photos`` (offline default: patches of the photographs shipped inside scikit-image, scikit-learn and
matplotlib, one class per photograph), ``digits`` (scikit-learn's 8×8 digits, upscaled), ``cifar10`` / ``cifar100``
(torchvision's pickle layout under ``data_dir``), ``npz:PATH`` and ``folder:PATH``.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import sflaudit.data.builtin as builtin
from sflaudit.data.images import CIFAR10_CLASSES, NORMALIZATION, Dataset, ImageSet, copy_images, one_line  # noqa: F401
from sflaudit.data.images import resize_images
from sflaudit.data.userfiles import folder_splits, load_folder, load_npz, npz_splits
from sflaudit.errors import SflauditError
from sflaudit.memo import memoized
from sflaudit.safe_pickle import NUMPY_ARRAY_GLOBALS, restricted_load

SOURCES: tuple[str, ...] = ("photos", "digits", "cifar10", "cifar100", "npz:PATH", "folder:PATH")


def default_data_dir() -> Path:
    """``$SFLAUDIT_DATA`` if set, else ``~/.cache/sflaudit``."""
    return Path(os.environ.get("SFLAUDIT_DATA") or Path.home() / ".cache" / "sflaudit")


def load_dataset(spec: str, *, data_dir: str | None = None, download: bool = False, image_size: int = 0) -> Dataset:
    """Load a dataset by spec: photos | digits | cifar10 | cifar100 | npz:PATH | folder:PATH.

    ``data_dir`` and ``download`` only matter for cifar10/cifar100. ``image_size`` > 0 resizes every image of both
    splits to ``image_size``×``image_size`` (:func:`resize_images`: uint8 kept, mean/std stay the dataset's); every
    stage that reads a run's images passes ``cfg.data.image_size``. Built-in sources are cached in memory, and inside
    a cell's load-once scope (:mod:`sflaudit.memo`) every source is read (and resized) once; each call returns fresh
    arrays.
    """
    kind, path = _parse_spec(spec)
    built_in = kind in ("photos", "digits")
    key = (spec, None, False) if built_in else (spec, data_dir, download)
    key = (*key, image_size) if image_size > 0 else key       # the native size keeps the key it always had
    if not built_in:
        ds = memoized("dataset", key, lambda: _sized(_load(kind, spec, path, data_dir, download), image_size))
    elif image_size > 0:
        ds = memoized("dataset", key, lambda: _sized(_builtin(kind), image_size))
    else:
        memoized("dataset", key, lambda: None)     # built in: already in memory, counted all the same
        ds = _builtin(kind)
    return Dataset(ds.name, copy_images(ds.train), copy_images(ds.test), list(ds.classes), ds.mean, ds.std)


def _builtin(kind: str) -> Dataset:
    return builtin.photos() if kind == "photos" else builtin.digits()


def _sized(ds: Dataset, image_size: int) -> Dataset:
    """``ds`` with both splits resized to ``image_size`` (0: ``ds`` itself)."""
    if image_size <= 0:
        return ds
    return Dataset(ds.name, resize_images(ds.train, image_size), resize_images(ds.test, image_size),
                   list(ds.classes), ds.mean, ds.std)


def _load(kind: str, spec: str, path: str, data_dir: str | None, download: bool) -> Dataset:
    if kind in ("cifar10", "cifar100"):
        return load_cifar(kind, _cifar_root(data_dir), download=download)
    return load_npz(spec, path) if kind == "npz" else load_folder(spec, path)


@dataclass(frozen=True)
class TrainLabels:
    """A training split's labels, known without decoding an image: what partitioning it across clients needs."""

    counts: np.ndarray  # int64, num_classes: images per class
    labels: np.ndarray | None  # int64 N in load_dataset's order; None where only the counts are known

    @property
    def num_classes(self) -> int:
        return int(self.counts.size)

    @property
    def size(self) -> int:
        return int(self.counts.sum())


def train_labels(spec: str, *, data_dir: str | None = None) -> TrainLabels:
    """The train split's labels exactly as :func:`load_dataset` would yield them, without decoding images.

    photos/digits are embedded (loaded, 1–2 s); npz reads only ``y`` (and ``x``'s header); folder counts the image
    files per class folder; cifar10/cifar100 read the labels from the batches when ``data_dir`` holds them, else
    return the official archives' counts (:data:`CIFAR_SIZES`) with ``labels=None``. Never downloads.
    """
    kind, path = _parse_spec(spec)
    if kind in ("photos", "digits"):
        cached = builtin.photos() if kind == "photos" else builtin.digits()
        return _labels(cached.train.y, cached.num_classes)
    if kind in ("cifar10", "cifar100"):
        return _cifar_train_labels(kind, _cifar_root(data_dir))
    train, _, classes = npz_splits(path, decode=False) if kind == "npz" else folder_splits(path, decode=False)
    return _labels(train.y, len(classes))


def _labels(y: np.ndarray, num_classes: int) -> TrainLabels:
    y = np.asarray(y, np.int64)
    return TrainLabels(np.bincount(y, minlength=num_classes).astype(np.int64), y)


def _parse_spec(spec: str) -> tuple[str, Path | None]:
    """(kind, PATH of npz:/folder: expanded, else None); an unknown spec lists the valid ones."""
    kind, _, path = spec.partition(":")
    if kind in ("photos", "digits", "cifar10", "cifar100") and not path:
        return kind, None
    if kind in ("npz", "folder") and path:
        return kind, Path(path).expanduser()
    raise SflauditError(f"dataset {spec!r} is unknown (valid: {', '.join(SOURCES)})")


# --- CIFAR (torchvision's pickle layout) -----------------------------------------------------------------------

# kind → (title, folder, train files, test files, meta file, class-name key, label key)
_CIFAR: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...], str, str, str]] = {
    "cifar10": ("CIFAR-10", "cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",),
                "batches.meta", "label_names", "labels"),
    "cifar100": ("CIFAR-100", "cifar-100-python", ("train",), ("test",), "meta", "fine_label_names", "fine_labels"),
}  # fmt: skip


# kind → (classes, train images per class, test images per class) of the official archives: 50,000 train and
# 10,000 test images each, every class equally often
CIFAR_SIZES: dict[str, tuple[int, int, int]] = {"cifar10": (10, 5000, 1000), "cifar100": (100, 500, 100)}
_CORRUPT = (OSError, EOFError, KeyError, ValueError, TypeError, pickle.UnpicklingError)  # a batch file is unusable


def _cifar_root(data_dir: str | None) -> Path:
    return Path(data_dir).expanduser() if data_dir else default_data_dir()


def _cifar_base(kind: str, root: Path) -> Path | None:
    """The folder holding all of the kind's batch files (``root`` itself or its torchvision folder), else None."""
    _, folder, train_files, test_files, meta, _, _ = _CIFAR[kind]
    base = root if (root / meta).is_file() else root / folder
    return base if all((base / f).is_file() for f in (meta, *train_files, *test_files)) else None


def load_cifar(kind: str, root: Path, *, download: bool = False) -> Dataset:
    """CIFAR-10/100 from ``root/<torchvision folder>`` (or ``root`` itself holding the batch files).

    Downloading goes through torchvision (which checks the archive's md5); reading is done here, so any copy in
    the pickle layout loads. A missing or unreadable copy is a one-line :class:`SflauditError`.
    """
    title, _, train_files, test_files, meta, names_key, labels_key = _CIFAR[kind]
    if download:
        import torchvision

        try:
            getattr(torchvision.datasets, kind.upper())(str(root), train=True, download=True)
        except Exception as exc:
            message = f"downloading {title} into {root} failed ({one_line(exc)}); copy it there by hand"
            raise SflauditError(message) from exc
    base = _cifar_base(kind, root)
    if base is None:
        raise SflauditError(f"{title} not found in {root}; pass --data-dir or --set data.download=true")
    try:
        classes = [str(c) for c in _unpickle(base / meta)[names_key]]
        train, test = (_read_batches(base, files, labels_key, len(classes)) for files in (train_files, test_files))
    except _CORRUPT as exc:
        raise _corrupt(title, base, exc) from exc
    return Dataset(kind, train, test, classes, *NORMALIZATION[kind])


def _cifar_train_labels(kind: str, root: Path) -> TrainLabels:
    """The labels of the copy in ``root`` when there is one (any copy, exactly), else the official counts."""
    title, _, train_files, _, meta, names_key, labels_key = _CIFAR[kind]
    base = _cifar_base(kind, root)
    if base is None:
        classes, per_class, _ = CIFAR_SIZES[kind]
        return TrainLabels(np.full(classes, per_class, np.int64), None)
    try:
        num_classes = len(_unpickle(base / meta)[names_key])
        labels = np.concatenate([np.asarray(_unpickle(base / f)[labels_key], np.int64) for f in train_files])
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"labels span {labels.min()}..{labels.max()} but there are {num_classes} classes")
    except _CORRUPT as exc:
        raise _corrupt(title, base, exc) from exc
    return _labels(labels, num_classes)


def _corrupt(title: str, base: Path, exc: BaseException) -> SflauditError:
    return SflauditError(f"{title} in {base} is corrupt ({one_line(exc)}); delete it and pass --set data.download=true")


def _read_batches(base: Path, files: tuple[str, ...], labels_key: str, num_classes: int) -> ImageSet:
    """Concatenate pickled batches ({"data": N×3072 uint8 planes R, G, B; labels_key: N}) into NHWC images."""
    batches = [_unpickle(base / f) for f in files]
    planes = np.concatenate([np.asarray(b["data"], np.uint8).reshape(-1, 3, 32, 32) for b in batches])
    labels = np.concatenate([np.asarray(b[labels_key], np.int64) for b in batches])
    if planes.shape[0] != labels.shape[0] or labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"{planes.shape[0]} images, {labels.shape[0]} labels and {num_classes} classes disagree")
    return ImageSet(np.ascontiguousarray(planes.transpose(0, 2, 3, 1)), labels)


def _unpickle(path: Path) -> dict:
    """One CIFAR pickle (a dict of lists, strings and numpy arrays); any other global is refused, never called."""
    with path.open("rb") as f:
        entry = restricted_load(f, allowed=NUMPY_ARRAY_GLOBALS, encoding="latin1")
    if not isinstance(entry, dict):
        raise ValueError(f"{path.name} holds a {type(entry).__name__}, not a dict")
    return entry
