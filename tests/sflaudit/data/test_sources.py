"""Dataset sources: CIFAR pickle folders, npz files, image folders, the spec registry."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sflaudit.data import NORMALIZATION, load_dataset
from sflaudit.data.sources import CIFAR10_CLASSES, default_data_dir, train_labels
from sflaudit.errors import SflauditError

REAL_CIFAR10 = Path(__file__).parents[3] / "../shared/data/cifar10"


# --- CIFAR in torchvision's pickle layout -------------------------------------------------------------------------


def write_fake_cifar10(root: Path, per_batch: int = 4) -> np.ndarray:
    """cifar-10-batches-py with 5 train batches and a test batch; pixel values encode (image, channel)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    first = None
    for b, name in enumerate(names):
        data = np.zeros((per_batch, 3, 32, 32), np.uint8)
        for n in range(per_batch):
            for c in range(3):
                data[n, c] = 10 * (b * per_batch + n) + c
        data[:, 0, 0, 1] = 200  # one marked pixel: row 0, column 1 of the red plane
        first = data if first is None else first
        entry = {"data": data.reshape(per_batch, 3072), "labels": [(b + n) % 10 for n in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(entry))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": list(CIFAR10_CLASSES)}))
    return first


def test_cifar10__reads_the_pickle_layout_as_nhwc(tmp_path: Path) -> None:
    planes = write_fake_cifar10(tmp_path)
    data = load_dataset("cifar10", data_dir=str(tmp_path))
    assert data.train.x.shape == (20, 32, 32, 3) and data.test.x.shape == (4, 32, 32, 3)
    assert data.classes == list(CIFAR10_CLASSES)
    assert np.array_equal(data.train.x[0].transpose(2, 0, 1), planes[0])
    assert data.train.x[0, 0, 1, 0] == 200 and data.train.x[0, 1, 0, 0] == 0
    assert data.train.y.dtype == np.int64 and data.train.y[:4].tolist() == [0, 1, 2, 3]
    assert (data.mean, data.std) == NORMALIZATION["cifar10"] == ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))


def test_cifar10__data_dir_defaults_to_sflaudit_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_fake_cifar10(tmp_path)
    monkeypatch.setenv("SFLAUDIT_DATA", str(tmp_path))
    assert default_data_dir() == tmp_path
    assert len(load_dataset("cifar10").train) == 20


def test_cifar10__missing_copy_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SflauditError) as info:
        load_dataset("cifar10", data_dir=str(tmp_path))
    assert str(info.value) == f"CIFAR-10 not found in {tmp_path}; pass --data-dir or --set data.download=true"


def test_cifar10__corrupt_batch_is_a_one_line_error(tmp_path: Path) -> None:
    write_fake_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(SflauditError, match="corrupt") as info:
        load_dataset("cifar10", data_dir=str(tmp_path))
    assert "\n" not in str(info.value)


class _RunsACommand:
    """Pickles as a call of ``os.system`` — what a hostile batch file would hold."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        return (os.system, (self.command,))


def test_cifar10__a_batch_that_would_run_code_is_refused_unrun(tmp_path: Path) -> None:
    write_fake_cifar10(tmp_path)
    marker = tmp_path / "ran"
    hostile = {"data": _RunsACommand(f"touch {marker}"), "labels": [0]}
    (tmp_path / "cifar-10-batches-py" / "data_batch_2").write_bytes(pickle.dumps(hostile))
    with pytest.raises(SflauditError, match=r"refusing to load (posix|nt)\.system") as info:
        load_dataset("cifar10", data_dir=str(tmp_path))
    assert "\n" not in str(info.value)
    assert not marker.exists()


def py2_style_batch(data: np.ndarray, labels: list[int]) -> bytes:
    """A batch pickled as the original CIFAR archives were (Python 2, protocol 2, numpy < 2).

    The array reduces to ``numpy.core.multiarray._reconstruct`` with its bytes as a latin-1 string, as Python 2's
    ``str`` unpickles under ``encoding="latin1"``.
    """
    from numpy._core.multiarray import _reconstruct

    class Py2Array:
        def __reduce__(self) -> tuple:
            state = (1, data.shape, np.dtype(np.uint8), False, data.tobytes().decode("latin1"))
            return (_reconstruct, (np.ndarray, (0,), "b"), state)

    raw = pickle.dumps({"batch_label": "training batch 1 of 5", "labels": labels, "data": Py2Array()}, protocol=2)
    old = raw.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert old != raw and b"_codecs" not in old  # numpy < 2's module name; no bytes objects (Python 3 only)
    return old


def test_cifar10__a_python2_numpy1_batch_loads(tmp_path: Path) -> None:
    write_fake_cifar10(tmp_path)
    data = (np.arange(4 * 3072) * 7 % 251).astype(np.uint8).reshape(4, 3072)  # value 7·i mod 251 at flat index i
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(py2_style_batch(data, [9, 8, 7, 6]))
    loaded = load_dataset("cifar10", data_dir=str(tmp_path))
    assert loaded.train.y[:4].tolist() == [9, 8, 7, 6]
    # image 1, row 0, column 1: flat index 3072 + 1 in the R plane, + 1024 in G, + 2048 in B
    assert loaded.train.x[1, 0, 1].tolist() == [7 * 3073 % 251, 7 * 4097 % 251, 7 * 5121 % 251] == [176, 65, 205]


def test_cifar100__fine_labels_and_protocol_normalisation(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name, n in (("train", 6), ("test", 2)):
        entry = {"data": np.full((n, 3072), 7, np.uint8), "fine_labels": list(range(n)), "coarse_labels": [0] * n}
        (folder / name).write_bytes(pickle.dumps(entry))
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"c{k}" for k in range(100)]}))
    data = load_dataset("cifar100", data_dir=str(tmp_path))
    assert data.num_classes == 100 and len(data.train) == 6 and data.test.y.tolist() == [0, 1]
    assert (data.mean, data.std) == NORMALIZATION["cifar100"]


@pytest.mark.slow
@pytest.mark.skipif(not REAL_CIFAR10.is_dir(), reason="the real CIFAR-10 arrays are not in ../shared/data")
def test_npz__real_cifar10_has_50000_train_and_10000_test_images() -> None:
    data = load_dataset(f"npz:{REAL_CIFAR10}")
    assert data.train.x.shape == (50_000, 32, 32, 3) and data.test.x.shape == (10_000, 32, 32, 3)
    assert data.classes == list(CIFAR10_CLASSES)
    assert np.bincount(data.train.y).tolist() == [5000] * 10
    assert (data.mean, data.std) == NORMALIZATION["cifar10"]


# --- npz -------------------------------------------------------------------------------------------------------


def write_npz(path: Path, n: int, *, label_offset: int = 0) -> None:
    x = np.zeros((n, 8, 8, 3), np.uint8)
    x[n // 2 :] = 255
    np.savez(path, x=x, y=(np.arange(n) + label_offset) % 3)


def test_npz__directory_with_cifar10_classes_uses_cifar10_normalisation(tmp_path: Path) -> None:
    write_npz(tmp_path / "train.npz", 6)
    write_npz(tmp_path / "test.npz", 3)
    (tmp_path / "classes.txt").write_text("\n".join(CIFAR10_CLASSES) + "\n")
    data = load_dataset(f"npz:{tmp_path}")
    assert len(data.train) == 6 and len(data.test) == 3 and data.train.x.shape[1:] == (8, 8, 3)
    assert data.classes == list(CIFAR10_CLASSES)
    assert (data.mean, data.std) == NORMALIZATION["cifar10"]


def test_npz__other_classes_get_measured_normalisation(tmp_path: Path) -> None:
    write_npz(tmp_path / "train.npz", 6)
    write_npz(tmp_path / "test.npz", 3)
    data = load_dataset(f"npz:{tmp_path}")
    assert data.classes == ["0", "1", "2"]
    assert (data.mean, data.std) == ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # half black, half white


def test_npz__single_file_is_split_80_20_with_a_fixed_seed(tmp_path: Path) -> None:
    write_npz(tmp_path / "all.npz", 10)
    first = load_dataset(f"npz:{tmp_path / 'all.npz'}")
    again = load_dataset(f"npz:{tmp_path / 'all.npz'}")
    assert len(first.train) == 8 and len(first.test) == 2
    assert np.array_equal(first.test.y, again.test.y) and np.array_equal(first.test.x, again.test.x)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros((2, 4, 4, 3), np.float32), "y": np.zeros(2, np.int64)}, "expected uint8 N×H×W×3"),
        ({"x": np.zeros((2, 4, 4), np.uint8), "y": np.zeros(2, np.int64)}, "expected uint8 N×H×W×3"),
        ({"x": np.zeros((2, 4, 4, 3), np.uint8), "y": np.zeros(3, np.int64)}, "expected 2 integer labels"),
        ({"x": np.zeros((2, 4, 4, 3), np.uint8)}, "lacks array 'y'"),
    ],
)
def test_npz__bad_arrays_raise_one_line_errors(tmp_path: Path, arrays: dict, message: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(SflauditError, match=message) as info:
        load_dataset(f"npz:{tmp_path / 'bad.npz'}")
    assert "\n" not in str(info.value)


def test_npz__missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SflauditError, match="not found"):
        load_dataset(f"npz:{tmp_path / 'nothing'}")


def test_npz__a_file_that_is_not_an_archive_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SflauditError, match="is not an .npz archive"):
        load_dataset(f"npz:{tmp_path / 'notes.txt'}")


# --- image folders -------------------------------------------------------------------------------------------------


def write_images(folder: Path, count: int, colour: tuple[int, int, int], size: tuple[int, int] = (40, 20)) -> None:
    folder.mkdir(parents=True)
    for i in range(count):
        Image.new("RGB", size, colour).save(folder / f"{i}.png")


def test_folder__train_test_layout_resized_to_32_with_sorted_classes(tmp_path: Path) -> None:
    write_images(tmp_path / "train" / "red", 3, (255, 0, 0))
    write_images(tmp_path / "train" / "blue", 2, (0, 0, 255), size=(7, 9))
    write_images(tmp_path / "test" / "red", 1, (255, 0, 0))
    data = load_dataset(f"folder:{tmp_path}")
    assert data.classes == ["blue", "red"]
    assert data.train.x.shape == (5, 32, 32, 3) and data.test.x.shape == (1, 32, 32, 3)
    assert data.train.y.tolist() == [0, 0, 1, 1, 1] and data.test.y.tolist() == [1]
    assert data.train.x[0, 5, 5].tolist() == [0, 0, 255] and data.test.x[0, 0, 0].tolist() == [255, 0, 0]


def test_folder__single_tree_is_split_80_20(tmp_path: Path) -> None:
    write_images(tmp_path / "a", 5, (10, 20, 30))
    write_images(tmp_path / "b", 5, (40, 50, 60))
    data = load_dataset(f"folder:{tmp_path}")
    assert len(data.train) == 8 and len(data.test) == 2 and data.classes == ["a", "b"]


def test_folder__test_class_missing_from_train_is_an_error(tmp_path: Path) -> None:
    write_images(tmp_path / "train" / "a", 1, (0, 0, 0))
    write_images(tmp_path / "test" / "z", 1, (0, 0, 0))
    with pytest.raises(SflauditError, match=r"\['z'\]"):
        load_dataset(f"folder:{tmp_path}")


def test_folder__unreadable_image_is_an_error(tmp_path: Path) -> None:
    write_images(tmp_path / "a", 1, (0, 0, 0))
    (tmp_path / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(SflauditError, match="broken.png is not a readable image"):
        load_dataset(f"folder:{tmp_path}")


def test_folder__empty_class_folder_is_refused_by_name(tmp_path: Path) -> None:
    write_images(tmp_path / "a", 5, (10, 20, 30))
    (tmp_path / "b").mkdir()  # would leave one populated class: kNN and probe at 100%
    with pytest.raises(SflauditError, match=f"class folder {tmp_path / 'b'} holds no images") as info:
        load_dataset(f"folder:{tmp_path}")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("split", ["train", "test"])
def test_folder__empty_class_folder_in_either_split_is_refused(tmp_path: Path, split: str) -> None:
    for side in ("train", "test"):
        write_images(tmp_path / side / "a", 2, (0, 0, 0))
    write_images(tmp_path / ("test" if split == "train" else "train") / "b", 2, (9, 9, 9))
    (tmp_path / split / "b").mkdir()
    with pytest.raises(SflauditError, match=f"class folder {tmp_path / split / 'b'} holds no images"):
        load_dataset(f"folder:{tmp_path}")
    with pytest.raises(SflauditError, match="holds no images"):
        train_labels(f"folder:{tmp_path}")


# --- labels only (sizing client shares without decoding images) ----------------------------------------------------


def test_train_labels__cifar_without_files_are_the_official_counts(tmp_path: Path) -> None:
    ten, hundred = train_labels("cifar10", data_dir=str(tmp_path)), train_labels("cifar100", data_dir=str(tmp_path))
    assert ten.labels is None and ten.counts.tolist() == [5000] * 10 and ten.size == 50_000
    assert hundred.labels is None and hundred.counts.tolist() == [500] * 100 and hundred.num_classes == 100


def test_train_labels__cifar_files_give_their_own_labels_in_order(tmp_path: Path) -> None:
    write_fake_cifar10(tmp_path)  # 5 batches of 4, labels (b + n) % 10
    known = train_labels("cifar10", data_dir=str(tmp_path))
    assert known.labels is not None
    assert known.labels.tolist() == [(b + n) % 10 for b in range(5) for n in range(4)]
    assert np.array_equal(known.labels, load_dataset("cifar10", data_dir=str(tmp_path)).train.y)


def test_train_labels__cifar_hostile_batch_is_refused_unrun(tmp_path: Path) -> None:
    write_fake_cifar10(tmp_path)
    marker = tmp_path / "ran"
    hostile = {"data": np.zeros((1, 3072), np.uint8), "labels": _RunsACommand(f"touch {marker}")}
    (tmp_path / "cifar-10-batches-py" / "data_batch_4").write_bytes(pickle.dumps(hostile))
    with pytest.raises(SflauditError, match="refusing to load"):
        train_labels("cifar10", data_dir=str(tmp_path))
    assert not marker.exists()


def test_train_labels__npz_reads_y_and_never_the_pixels(tmp_path: Path) -> None:
    header = np.lib.format.header_data_from_array_1_0(np.zeros((4, 8, 8, 3), np.uint8))
    with zipfile.ZipFile(tmp_path / "train.npz", "w") as archive:
        with archive.open("x.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, header)  # a valid header, then no pixel data at all
        with archive.open("y.npy", "w") as f:
            np.lib.format.write_array(f, np.array([2, 0, 2, 1]))
    write_npz(tmp_path / "test.npz", 3)
    known = train_labels(f"npz:{tmp_path}")
    assert known.labels is not None and known.labels.tolist() == [2, 0, 2, 1] and known.counts.tolist() == [1, 1, 2]
    with pytest.raises(SflauditError, match="is not a readable .npz file"):
        load_dataset(f"npz:{tmp_path}")  # decoding x finds the pixels missing


def test_train_labels__npz_single_file_is_the_same_80_20_split(tmp_path: Path) -> None:
    write_npz(tmp_path / "all.npz", 10)
    spec = f"npz:{tmp_path / 'all.npz'}"
    known = train_labels(spec)
    assert known.labels is not None and np.array_equal(known.labels, load_dataset(spec).train.y)
    assert known.size == 8 and known.num_classes == 3


def test_train_labels__npz_checks_x_shape_from_its_header(tmp_path: Path) -> None:
    np.savez(tmp_path / "bad.npz", x=np.zeros((2, 4, 4, 3), np.uint8), y=np.zeros(3, np.int64))
    with pytest.raises(SflauditError, match="expected 2 integer labels"):
        train_labels(f"npz:{tmp_path / 'bad.npz'}")


def test_train_labels__folder_counts_files_per_class(tmp_path: Path) -> None:
    write_images(tmp_path / "train" / "red", 3, (255, 0, 0))
    write_images(tmp_path / "train" / "blue", 2, (0, 0, 255))
    write_images(tmp_path / "test" / "red", 1, (255, 0, 0))
    known = train_labels(f"folder:{tmp_path}")
    assert known.labels is not None and known.labels.tolist() == [0, 0, 1, 1, 1]  # blue, blue, red × 3
    assert known.counts.tolist() == [2, 3]


def test_train_labels__folder_single_tree_is_the_same_80_20_split(tmp_path: Path) -> None:
    write_images(tmp_path / "a", 4, (10, 20, 30))
    write_images(tmp_path / "b", 6, (40, 50, 60))
    known = train_labels(f"folder:{tmp_path}")
    assert known.labels is not None and np.array_equal(known.labels, load_dataset(f"folder:{tmp_path}").train.y)
    assert known.size == 8


def test_train_labels__photos_and_digits_are_their_train_labels() -> None:
    for spec in ("photos", "digits"):
        data = load_dataset(spec)
        known = train_labels(spec)
        assert known.labels is not None and np.array_equal(known.labels, data.train.y)
        assert known.num_classes == data.num_classes


@pytest.mark.parametrize("spec", ["imagenet", "npz:", "folder", "photos:x", ""])
def test_load_dataset__unknown_spec_lists_the_valid_sources(spec: str) -> None:
    with pytest.raises(SflauditError, match="valid: photos, digits, cifar10, cifar100, npz:PATH, folder:PATH"):
        load_dataset(spec)
