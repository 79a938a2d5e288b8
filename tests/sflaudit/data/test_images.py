"""Shared dataset helpers: channel statistics and the fixed split."""

from __future__ import annotations

import numpy as np
import pytest

from sflaudit.data.images import ImageSet, channel_stats, split_fixed
from sflaudit.errors import SflauditError


def test_channel_stats__half_black_half_white_is_mean_half_std_half() -> None:
    x = np.zeros((2, 4, 4, 3), np.uint8)
    x[1] = 255
    assert channel_stats(x) == ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


def test_channel_stats__a_constant_channel_gets_std_of_one_grey_level() -> None:
    x = np.zeros((2, 4, 4, 3), np.uint8)
    x[1, ..., 0] = 255
    assert channel_stats(x) == ((0.5, 0.0, 0.0), (0.5, 0.00392, 0.00392))


def test_split_fixed__one_fifth_test_disjoint_sorted_and_seeded() -> None:
    images = ImageSet(np.zeros((10, 1, 1, 3), np.uint8), np.arange(10, dtype=np.int64))
    train, test = split_fixed(images)
    assert (len(train), len(test)) == (8, 2)
    assert sorted(train.y.tolist() + test.y.tolist()) == list(range(10))
    assert test.y.tolist() == sorted(test.y.tolist())
    assert np.array_equal(split_fixed(images)[1].y, test.y)


def test_split_fixed__needs_two_images() -> None:
    with pytest.raises(SflauditError, match="cannot be split"):
        split_fixed(ImageSet(np.zeros((1, 1, 1, 3), np.uint8), np.zeros(1, np.int64)))
