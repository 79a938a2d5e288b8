"""Built-in offline datasets: photos and digits."""

from __future__ import annotations

import numpy as np

from sflaudit.data import load_dataset
from sflaudit.data.images import channel_stats


def test_photos__one_class_per_photo_500_train_100_test_patches_of_32x32() -> None:
    data = load_dataset("photos")
    assert data.classes[:3] == ["astronaut", "chelsea", "coffee"] and data.num_classes >= 2
    assert data.train.x.shape == (500 * data.num_classes, 32, 32, 3) and data.train.x.dtype == np.uint8
    assert data.test.x.shape == (100 * data.num_classes, 32, 32, 3)
    assert data.train.y.dtype == np.int64
    assert np.bincount(data.train.y).tolist() == [500] * data.num_classes


def test_photos__deterministic_and_callers_get_their_own_arrays() -> None:
    first = load_dataset("photos")
    first.train.x[:] = 0
    again = load_dataset("photos")
    assert again.train.x.any()
    assert np.array_equal(again.train.x, load_dataset("photos").train.x)


def test_photos__normalisation_is_measured_on_the_train_split() -> None:
    data = load_dataset("photos")
    assert (data.mean, data.std) == channel_stats(data.train.x)


def test_digits__grey_upscaled_to_32x32_rgb_with_a_fixed_80_20_split() -> None:
    data = load_dataset("digits")
    assert len(data.train) + len(data.test) == 1797 and len(data.test) == round(0.2 * 1797)
    assert data.train.x.shape[1:] == (32, 32, 3)
    assert np.array_equal(data.train.x[..., 0], data.train.x[..., 2])
    assert data.classes == [str(k) for k in range(10)]
