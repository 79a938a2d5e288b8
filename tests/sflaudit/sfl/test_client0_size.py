"""``client0_size`` sizes client 0's share from labels alone, exactly as ``load_run_data`` partitions the images."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from sflaudit.config import Config, load_config
from sflaudit.errors import SflauditError
from sflaudit.sfl import setup
from sflaudit.sfl.setup import client0_size, load_run_data

REAL_CIFAR10 = Path(__file__).parents[3] / "../shared/data/cifar10"
# (partition, data.fraction): every scheme on the whole split and on a random subset
SCHEMES = [("iid", 1.0), ("shards", 1.0), ("dirichlet", 1.0), ("iid", 0.3), ("shards", 0.3), ("dirichlet", 0.3)]


def config(dataset: str, scheme: str, fraction: float, *, clients: int = 5, data_dir: str = "") -> Config:
    return load_config(preset="smoke", overrides=[
        f'data.dataset="{dataset}"', f'data.partition="{scheme}"', f"data.fraction={fraction}",
        f"sfl.clients={clients}", "sfl.noniid_ratio=0.2", f'data.data_dir="{data_dir}"',
    ])  # fmt: skip


@pytest.fixture
def one_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """load_run_data decodes each dataset once per test (the comparisons below call it many times)."""
    monkeypatch.setattr(setup, "load_dataset", functools.lru_cache(maxsize=2)(setup.load_dataset))


def trainer_client0(cfg: Config) -> int:
    return len(load_run_data(cfg, np.random.default_rng(cfg.run.seed)).parts[0])


@pytest.mark.parametrize("dataset", ["photos", "digits"])
@pytest.mark.parametrize(("scheme", "fraction"), SCHEMES)
def test_client0_size__equals_the_trainers_share(dataset: str, scheme: str, fraction: float, one_load: None) -> None:
    cfg = config(dataset, scheme, fraction)
    assert client0_size(cfg) == trainer_client0(cfg)


def test_client0_size__shards_and_iid_hand_counts() -> None:
    # photos: 10 classes × 500 train patches = 5000. shards: m = int(0.2·10) = 2 shards of int(5000/5/2) = 500.
    assert client0_size(config("photos", "shards", 1.0)) == 2 * 500
    # iid of int(5000·0.3) = 1500 images over 7 clients: array_split gives the first 1500 mod 7 = 2 clients 215
    assert client0_size(config("photos", "iid", 0.3, clients=7)) == 1500 // 7 + 1 == 215


def test_client0_size__never_decodes_an_image(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("load_dataset called")

    monkeypatch.setattr(setup, "load_dataset", refuse)
    assert client0_size(config("photos", "dirichlet", 0.3)) > 0


@pytest.mark.skipif(not REAL_CIFAR10.is_dir(), reason="the real CIFAR-10 arrays are not in ../shared/data")
@pytest.mark.parametrize(("scheme", "fraction"), SCHEMES)
def test_client0_size__real_cifar10_npz_equals_the_trainers_share(scheme: str, fraction: float,
                                                                   one_load: None) -> None:
    cfg = config(f"npz:{REAL_CIFAR10}", scheme, fraction, clients=20)
    assert client0_size(cfg) == trainer_client0(cfg)


@pytest.mark.skipif(not REAL_CIFAR10.is_dir(), reason="the real CIFAR-10 arrays are not in ../shared/data")
@pytest.mark.parametrize(("scheme", "fraction"), [s for s in SCHEMES if s != ("dirichlet", 0.3)])
def test_client0_size__cifar10_without_files_equals_the_real_datas_share(scheme: str, fraction: float,
                                                                         tmp_path: Path, one_load: None) -> None:
    # the real CIFAR-10 has the official 5000 images per class, so its counts stand in for the missing files
    counts_only = config("cifar10", scheme, fraction, clients=20, data_dir=str(tmp_path))
    assert client0_size(counts_only) == trainer_client0(config(f"npz:{REAL_CIFAR10}", scheme, fraction, clients=20))


def test_client0_size__cifar10_without_files_sizes_shards_by_hand(tmp_path: Path) -> None:
    # 50000 images, 20 clients, m = 2 shards of int(50000/20/2) = 1250 (the paper setting)
    assert client0_size(config("cifar10", "shards", 1.0, clients=20, data_dir=str(tmp_path))) == 2500


def test_client0_size__dirichlet_subset_without_files_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SflauditError, match="dirichlet .* needs cifar10's labels in order") as info:
        client0_size(config("cifar10", "dirichlet", 0.3, clients=20, data_dir=str(tmp_path)))
    assert "\n" not in str(info.value)
