"""Client partitioning: IID, the reference shard scheme (protocol §3.3) and Dirichlet."""

from __future__ import annotations

import numpy as np
import pytest

from sflaudit.data import partition
from sflaudit.errors import SflauditError


def cifar10_like_labels(seed: int = 0) -> np.ndarray:
    """50,000 labels, 5,000 per class, in a shuffled order like the real training set."""
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(10), 5000)).astype(np.int64)


def test_shards__20_clients_ratio_02_hold_at_most_2_classes_and_cover_the_data() -> None:
    labels = cifar10_like_labels()
    parts = partition(labels, 20, scheme="shards", noniid_ratio=0.2, num_classes=10, rng=np.random.default_rng(1))
    assert len(parts) == 20
    assert all(p.dtype == np.int64 for p in parts)
    assert all(p.size == 2 * 1250 for p in parts)  # m = int(0.2·10) = 2 shards of int(50000/20/2) = 1250
    assert all(np.unique(labels[p]).size <= 2 for p in parts)
    everything = np.concatenate(parts)
    assert np.unique(everything).size == everything.size == 50_000  # disjoint, and shards align: all used


def test_shards__each_shard_is_one_class_when_shards_align() -> None:
    labels = cifar10_like_labels()
    parts = partition(labels, 20, scheme="shards", noniid_ratio=0.2, num_classes=10, rng=np.random.default_rng(2))
    for p in parts:
        first, second = labels[p[:1250]], labels[p[1250:]]
        assert np.unique(first).size == 1 and np.unique(second).size == 1


def test_shards__cifar100_200_clients_leave_2000_images_unused() -> None:
    labels = np.random.default_rng(0).permutation(np.repeat(np.arange(100), 500))
    parts = partition(labels, 200, scheme="shards", noniid_ratio=0.2, num_classes=100, rng=np.random.default_rng(0))
    assert all(p.size == 20 * 12 for p in parts)  # m = 20 shards of int(50000/200/20) = int(12.5) = 12
    everything = np.concatenate(parts)
    assert np.unique(everything).size == 48_000  # 50,000 − 200·20·12


def test_shards__ratio_1_gives_every_client_all_classes_worth_of_shards() -> None:
    labels = cifar10_like_labels()
    parts = partition(labels, 5, scheme="shards", noniid_ratio=1.0, num_classes=10, rng=np.random.default_rng(0))
    assert [p.size for p in parts] == [10_000] * 5  # 10 shards of int(50000/5/10) = 1000


def test_iid__covers_every_index_exactly_once_in_near_equal_parts() -> None:
    labels = np.arange(10) % 3
    parts = partition(labels, 3, scheme="iid", num_classes=3, rng=np.random.default_rng(0))
    assert [p.size for p in parts] == [4, 3, 3]
    assert sorted(np.concatenate(parts).tolist()) == list(range(10))


def test_dirichlet__covers_every_index_exactly_once_without_empty_clients() -> None:
    labels = cifar10_like_labels()
    parts = partition(labels, 50, scheme="dirichlet", alpha=0.5, num_classes=10, rng=np.random.default_rng(0))
    assert len(parts) == 50 and min(p.size for p in parts) > 0
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(50_000))


def test_dirichlet__small_alpha_concentrates_classes() -> None:
    labels = cifar10_like_labels()

    def mean_classes(alpha: float) -> float:
        parts = partition(labels, 20, scheme="dirichlet", alpha=alpha, num_classes=10, rng=np.random.default_rng(0))
        # classes holding at least 5% of a client's images
        return float(np.mean([(np.bincount(labels[p], minlength=10) >= 0.05 * p.size).sum() for p in parts]))

    assert mean_classes(0.05) < 4 < 9 < mean_classes(100.0)


@pytest.mark.parametrize("scheme", ["iid", "shards", "dirichlet"])
def test_partition__same_seed_same_split_other_seed_other_split(scheme: str) -> None:
    labels = cifar10_like_labels()

    def run(seed: int) -> list[np.ndarray]:
        return partition(labels, 20, scheme=scheme, num_classes=10, rng=np.random.default_rng(seed))

    first, again, other = run(7), run(7), run(8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"clients": 0, "scheme": "iid"}, "clients 0"),
        ({"clients": 5, "scheme": "shards", "noniid_ratio": 0.0}, "noniid_ratio 0.0"),
        ({"clients": 5, "scheme": "shards", "noniid_ratio": 1.5}, "noniid_ratio 1.5"),
        ({"clients": 5, "scheme": "shards", "noniid_ratio": 0.05}, "0 shards"),
        ({"clients": 5, "scheme": "dirichlet", "alpha": 0.0}, "alpha 0.0"),
        ({"clients": 5, "scheme": "round-robin"}, "iid, shards, dirichlet"),
        ({"clients": 11, "scheme": "iid"}, "clients 11"),
    ],
)
def test_partition__bad_arguments_raise_one_line_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(SflauditError, match=message) as info:
        partition(np.arange(10) % 10, num_classes=10, rng=np.random.default_rng(0), **kwargs)
    assert "\n" not in str(info.value)


def test_partition__labels_outside_num_classes_are_rejected() -> None:
    with pytest.raises(SflauditError, match="0..9"):
        partition(np.array([0, 3, 10]), 1, scheme="iid", num_classes=10, rng=np.random.default_rng(0))
