"""The linear probe's batches: seeded shuffles in the clean protocol, the reference's row order only on request."""

from __future__ import annotations

import torch

from sflaudit.reports.intervals import wilson_percent
from sflaudit.sfl.evaluate import linear_probe, probe_batches


def _gaussian_classes(seed: int = 1, *, dim: int = 128, train_per_class: int = 50, test_per_class: int = 40,
                      separation: float = 0.8) -> tuple[torch.Tensor, ...]:
    """Class-sorted features of 10 Gaussian classes (means ~ N(0, separation²), unit noise): 500 train, 400 test."""
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(10, dim, generator=g) * separation
    train_y = torch.arange(10).repeat_interleave(train_per_class)
    test_y = torch.arange(10).repeat_interleave(test_per_class)
    train_x = means[train_y] + torch.randn(train_y.shape[0], dim, generator=g)
    test_x = means[test_y] + torch.randn(test_y.shape[0], dim, generator=g)
    return train_x, train_y, test_x, test_y


def test_probe_batches__reference_order_is_the_row_order() -> None:
    assert [b.tolist() for b in probe_batches(5, 2, reference_order=True)] == [[0, 1], [2, 3], [4]]


def test_probe_batches__clean_order_is_a_fresh_seeded_permutation_each_epoch() -> None:
    g = torch.Generator().manual_seed(3)
    first, second = torch.cat(probe_batches(10, 4, generator=g)), torch.cat(probe_batches(10, 4, generator=g))
    assert sorted(first.tolist()) == list(range(10)) and sorted(second.tolist()) == list(range(10))
    assert first.tolist() != second.tolist()                                     # a new order every epoch
    again = torch.Generator().manual_seed(3)
    assert torch.cat(probe_batches(10, 4, generator=again)).tolist() == first.tolist()   # same seed, same order
    assert [len(b) for b in probe_batches(10, 4, generator=g)] == [4, 4, 2]


def test_linear_probe__same_seed_same_result_and_reports_the_test_size() -> None:
    train_x, train_y, test_x, test_y = _gaussian_classes()
    a, b = (linear_probe(train_x, train_y, test_x, test_y, 10, epochs=1, batch=32,
                         generator=torch.Generator().manual_seed(7)) for _ in range(2))
    assert a == b and a.n_test == 400


def test_linear_probe__class_sorted_and_shuffled_rows_agree_within_the_wilson_interval() -> None:
    train_x, train_y, test_x, test_y = _gaussian_classes()          # rows sorted by class, as an ImageFolder
    perm = torch.randperm(train_y.shape[0], generator=torch.Generator().manual_seed(101))

    def probe(x: torch.Tensor, y: torch.Tensor, **kw: bool):
        return linear_probe(x, y, test_x, test_y, 10, epochs=5, batch=16,
                            generator=torch.Generator().manual_seed(7), **kw)

    sorted_rows, shuffled_rows = probe(train_x, train_y), probe(train_x[perm], train_y[perm])
    interval = wilson_percent(shuffled_rows.last, shuffled_rows.n_test)           # ≈ ±4 points on 400 items
    assert interval.contains(sorted_rows.last) and interval.contains(sorted_rows.best)
    assert shuffled_rows.last > 60.0                                              # it learns (chance = 10 %)
    # the reference's row order on the class-sorted copy: one class per batch, even its best epoch far below
    reference = probe(train_x, train_y, reference_order=True)
    assert reference.best < interval.low - 10.0
