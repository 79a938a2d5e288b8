"""User dataset files: ``npz:PATH`` (``train.npz``/``test.npz`` or one file split 80/20) and ``folder:PATH``
(ImageFolder layout), read fully or — for ``decode=False`` — only as far as the labels and image counts go."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from sflaudit.data.images import CIFAR10_CLASSES, IMAGE_SIZE, NORMALIZATION, Dataset, ImageSet, measured, one_line, \
    split_fixed
from sflaudit.errors import SflauditError

_IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}


def load_npz(name: str, path: Path) -> Dataset:
    """A directory with ``train.npz`` + ``test.npz`` (optional ``classes.txt``), or one ``.npz`` split 80/20.

    Each file holds ``x`` (uint8 N×H×W×3) and ``y`` (integer N). A ``classes.txt`` equal to CIFAR-10's class list
    selects the CIFAR-10 normalisation of protocol §3.1; otherwise mean/std are measured on the train split.
    """
    train, test, classes = npz_splits(path, decode=True)
    if tuple(classes) == CIFAR10_CLASSES:
        return Dataset(name, train, test, classes, *NORMALIZATION["cifar10"])
    return measured(name, train, test, classes)


def npz_splits(path: Path, *, decode: bool) -> tuple[ImageSet, ImageSet, list[str]]:
    """(train, test, class names) of ``npz:path``; without ``decode`` every x is a pixel-less N×0×0×3 stand-in."""
    if path.is_dir():
        train, test = _read_npz(path / "train.npz", decode=decode), _read_npz(path / "test.npz", decode=decode)
    elif path.is_file():
        train, test = split_fixed(_read_npz(path, decode=decode))
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
    return train, test, classes


def _read_npz(path: Path, *, decode: bool = True) -> ImageSet:
    """x and y of one .npz; without ``decode`` only y and x's header are read (np.load is lazy per array)."""
    if not path.is_file():
        raise SflauditError(f"{path} not found")
    if not zipfile.is_zipfile(path):
        raise SflauditError(f"{path} is not an .npz archive (np.savez with arrays x and y)")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [key for key in ("x", "y") if key not in data.files]
            if missing:
                raise SflauditError(f"{path} lacks array {missing[0]!r} (needs x: uint8 N×H×W×3 and y: integer N)")
            y = data["y"]
            if decode:
                x = data["x"]
                dtype, shape = x.dtype, x.shape
            else:
                dtype, shape = _npy_header(data.zip, "x.npy")
                x = np.zeros((shape[0] if shape else 0, 0, 0, 3), np.uint8)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise SflauditError(f"{path} is not a readable .npz file ({one_line(exc)})") from exc
    if dtype != np.uint8 or len(shape) != 4 or shape[3] != 3:
        raise SflauditError(f"{path}: x is {dtype} {shape}, expected uint8 N×H×W×3")
    if y.ndim != 1 or y.shape[0] != shape[0] or not np.issubdtype(y.dtype, np.integer) or y.size == 0:
        raise SflauditError(f"{path}: y is {y.dtype} {y.shape}, expected {shape[0]} integer labels")
    if y.min() < 0:
        raise SflauditError(f"{path}: label {int(y.min())} is out of range (>= 0)")
    return ImageSet(x, y.astype(np.int64))


def _npy_header(archive: zipfile.ZipFile, member: str) -> tuple[np.dtype, tuple[int, ...]]:
    """(dtype, shape) from the header of one array in an .npz, reading no array data."""
    with archive.open(member) as f:
        version = np.lib.format.read_magic(f)
        read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read is None:
            raise ValueError(f"{member} has .npy format version {version[0]}.{version[1]} (this reader knows 1.0, 2.0)")
        shape, _, dtype = read(f)
    return dtype, shape


def load_folder(name: str, path: Path) -> Dataset:
    """ImageFolder layout: ``PATH/train/<class>/*`` + ``PATH/test/<class>/*``, or ``PATH/<class>/*`` split 80/20.

    Class names are the sorted sub-folder names; every image is converted to RGB and resized to 32×32. A class
    folder without images is refused (with one populated class left, kNN and probe would score 100%).
    """
    return measured(name, *folder_splits(path, decode=True))


def folder_splits(path: Path, *, decode: bool) -> tuple[ImageSet, ImageSet, list[str]]:
    """(train, test, class names) of ``folder:path``; without ``decode`` files are only counted (x: N×0×0×3)."""
    if not path.is_dir():
        raise SflauditError(f"folder:{path} is not a directory")
    if (path / "train").is_dir():
        classes = _class_dirs(path / "train")
        if not (path / "test").is_dir():
            raise SflauditError(f"folder:{path} has train/ but no test/")
        unknown = sorted(set(_class_dirs(path / "test", allow_empty=True)) - set(classes))
        if unknown:
            raise SflauditError(f"folder:{path}: test classes {unknown} are not in train/ ({', '.join(classes)})")
        train = _read_tree(path / "train", classes, decode=decode)
        test = _read_tree(path / "test", classes, decode=decode)
    else:
        classes = _class_dirs(path)
        train, test = split_fixed(_read_tree(path, classes, decode=decode))
    return train, test, classes


def _class_dirs(path: Path, *, allow_empty: bool = False) -> list[str]:
    classes = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes and not allow_empty:
        raise SflauditError(f"{path} has no class sub-folders (expected {path}/<class>/<image>)")
    return classes


def _class_files(path: Path, classes: list[str]) -> list[list[Path]]:
    """The image files of each class folder under ``path``, sorted; a class folder that holds none is an error.

    A class absent from ``path`` (a test/ without that class) has no files.
    """
    files = []
    for name in classes:
        folder = path / name
        found = sorted(f for f in folder.iterdir() if f.suffix.lower() in _IMAGE_EXTENSIONS) if folder.is_dir() else []
        if folder.is_dir() and not found:
            raise SflauditError(f"class folder {folder} holds no images ({', '.join(sorted(_IMAGE_EXTENSIONS))}); "
                                "add images or remove the folder")
        files.append(found)
    return files


def _read_tree(path: Path, classes: list[str], *, decode: bool = True) -> ImageSet:
    from PIL import Image

    per_class = _class_files(path, classes)
    labels = np.repeat(np.arange(len(classes), dtype=np.int64), [len(files) for files in per_class])
    if not labels.size:
        raise SflauditError(f"{path} holds no images ({', '.join(sorted(_IMAGE_EXTENSIONS))})")
    if not decode:
        return ImageSet(np.zeros((labels.size, 0, 0, 3), np.uint8), labels)
    images = []
    for file in (file for files in per_class for file in files):
        try:
            with Image.open(file) as im:
                images.append(np.asarray(im.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)))
        except OSError as exc:  # includes PIL's UnidentifiedImageError
            raise SflauditError(f"{file} is not a readable image ({one_line(exc)})") from exc
    return ImageSet(np.stack(images), labels)
