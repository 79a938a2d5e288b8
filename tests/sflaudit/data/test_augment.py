"""Batched MoCo augmentations: per-sample parameters, ranges, determinism and the building blocks."""

from __future__ import annotations

import pytest
import torch

from sflaudit.data import AugmentSpec, augment, augment_unnormalised, normalize
from sflaudit.data.augment import blur_matrix, crop_boxes, resample_matrix, separable
from sflaudit.data.colour import color_jitter, hue_shift
from sflaudit.errors import SflauditError

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def colourful_batch(batch: int) -> torch.Tensor:
    """B copies of one 32×32 uint8 image with colour gradients (R down the rows, G and B across the columns)."""
    ramp = torch.linspace(0, 1, 32)
    rows, cols = ramp[:, None].expand(32, 32), ramp[None, :].expand(32, 32)
    image = torch.stack([rows, cols, 1 - cols])
    image = (20 + 200 * image + torch.tensor([0.0, 3.0, 7.0]).view(3, 1, 1)).round().to(torch.uint8)
    return image.expand(batch, -1, -1, -1).contiguous()


def views(kind: str, x: torch.Tensor, seed: int, size: int = 32) -> torch.Tensor:
    return augment_unnormalised(x, AugmentSpec(kind, size, MEAN, STD), torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", ["mocov1", "mocov2"])
def test_augment__identical_images_get_different_views_per_sample(kind: str) -> None:
    out = views(kind, colourful_batch(16), seed=0)
    flat = out.flatten(1)
    distinct = {tuple(row.tolist()) for row in flat}
    assert len(distinct) == 16


@pytest.mark.parametrize("kind", ["mocov1", "mocov2"])
def test_augment__uint8_batch_gives_float32_normalised_views_of_the_requested_size(kind: str) -> None:
    x = colourful_batch(8)
    out = augment(x, AugmentSpec(kind, 24, MEAN, STD), torch.Generator().manual_seed(0))
    assert out.shape == (8, 3, 24, 24) and out.dtype == torch.float32
    raw = views(kind, x, seed=0, size=24)
    assert torch.allclose(out, (raw - 0.5) / 0.25, atol=1e-5)  # same draw, then Normalize


@pytest.mark.parametrize("kind", ["mocov1", "mocov2"])
def test_augment_unnormalised__values_stay_in_0_1(kind: str) -> None:
    out = views(kind, colourful_batch(64), seed=3)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_augment__same_seed_same_views_other_seed_other_views() -> None:
    x = colourful_batch(8)
    assert torch.equal(views("mocov2", x, seed=5), views("mocov2", x, seed=5))
    assert not torch.equal(views("mocov2", x, seed=5), views("mocov2", x, seed=6))


def test_augment__consecutive_calls_draw_new_parameters() -> None:
    x, spec, gen = colourful_batch(4), AugmentSpec("mocov2", 32, MEAN, STD), torch.Generator().manual_seed(0)
    assert not torch.equal(augment(x, spec, gen), augment(x, spec, gen))


def test_augment__float_input_in_0_1_matches_uint8_input() -> None:
    x = colourful_batch(8)
    assert torch.allclose(views("mocov2", x, seed=1), views("mocov2", x.float() / 255, seed=1), atol=1e-5)


def test_augment__about_a_fifth_of_the_views_are_grey_with_equal_channels() -> None:
    out = views("mocov2", colourful_batch(500), seed=0)
    grey = (out[:, 0] == out[:, 1]).flatten(1).all(1) & (out[:, 1] == out[:, 2]).flatten(1).all(1)
    assert 60 <= int(grey.sum()) <= 140  # p = 0.2 of 500; the coloured input is never grey otherwise


def test_augment__none_only_normalises() -> None:
    x = colourful_batch(2)
    out = augment(x, AugmentSpec("none", 32, MEAN, STD), torch.Generator())
    assert torch.allclose(out, (x.float() / 255 - 0.5) / 0.25, atol=1e-6)


def test_augment__rejects_non_image_batches() -> None:
    with pytest.raises(SflauditError, match=r"B×3×H×W.*\(2, 32, 32\)"):
        augment(torch.zeros(2, 32, 32), AugmentSpec("mocov2", 32, MEAN, STD), torch.Generator())


def test_augment_spec__unknown_kind_lists_the_valid_ones() -> None:
    with pytest.raises(SflauditError, match="mocov1, mocov2, none"):
        AugmentSpec("simclr", 32, MEAN, STD)


def test_normalize__uint8_and_float_inputs_hand_computed() -> None:
    x = torch.tensor([0, 255, 51], dtype=torch.uint8).view(1, 3, 1, 1)  # 0.0, 1.0, 0.2
    out = normalize(x, (0.5, 0.5, 0.2), (0.25, 0.5, 0.1))
    assert torch.allclose(out.flatten(), torch.tensor([-2.0, 1.0, 0.0]), atol=1e-6)
    assert torch.allclose(normalize(x.float() / 255, (0.5, 0.5, 0.2), (0.25, 0.5, 0.1)), out, atol=1e-6)


# --- building blocks --------------------------------------------------------------------------------------------


def test_crop_boxes__stay_inside_the_image_with_area_and_aspect_in_range() -> None:
    u = torch.rand(2000, 22, generator=torch.Generator().manual_seed(0))
    top, left, h, w = crop_boxes(u, 32, 32).unbind(1)
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 32).all() and (left + w <= 32).all()
    area = h * w / 1024
    assert area.min() >= 0.06 and area.max() <= 1.0  # scale (0.08, 1), widened by integer rounding
    assert (w / h).min() >= 0.6 and (w / h).max() <= 1.67  # ratio (3/4, 4/3), widened by rounding


def test_crop_boxes__no_valid_attempt_falls_back_to_the_whole_image() -> None:
    u = torch.ones(1, 22) * 0.999  # area ≈ 100 %, aspect ≈ 4/3 → w = 37 > 32 in every attempt
    assert crop_boxes(u, 32, 32).tolist() == [[0.0, 0.0, 32.0, 32.0]]


def test_resample_matrix__whole_image_at_same_size_is_the_identity_and_flip_reverses() -> None:
    start, length = torch.tensor([0.0]), torch.tensor([4.0])
    assert torch.equal(resample_matrix(start, length, 4, 4)[0], torch.eye(4))
    assert torch.equal(resample_matrix(start, length, 4, 4, flip=torch.tensor([True]))[0], torch.eye(4).flip(1))


def test_resample_matrix__two_pixel_crop_upscaled_to_four_is_bilinear_within_the_crop() -> None:
    # Crop pixels 1..2 of 4 → 4 outputs at source positions 1.25-0.5.. : weights (1, 0), (.75,.25), (.25,.75), (0, 1)
    m = resample_matrix(torch.tensor([1.0]), torch.tensor([2.0]), 4, 4)[0]
    expected = torch.tensor([[0, 1, 0, 0], [0, 0.75, 0.25, 0], [0, 0.25, 0.75, 0], [0, 0, 1, 0]])
    assert torch.allclose(m, expected)


def test_blur_matrix__rows_sum_to_one_and_tiny_sigma_is_the_identity() -> None:
    g = blur_matrix(torch.tensor([0.1, 2.0]), 8)
    assert torch.allclose(g.sum(2), torch.ones(2, 8))
    assert torch.allclose(g[0], torch.eye(8), atol=1e-6)
    assert g[1, 0, 0] > g[1, 3, 3]  # the edge pixel also collects the weight beyond the border


def test_separable__applies_rows_then_columns_in_the_hcw_layout() -> None:
    x = torch.arange(4.0).view(1, 2, 1, 2)  # B×H×C×W: one channel [[0, 1], [2, 3]]
    swap = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])
    assert separable(x, swap, torch.eye(2)[None]).flatten().tolist() == [2.0, 3.0, 0.0, 1.0]
    assert separable(x, torch.eye(2)[None], swap).flatten().tolist() == [1.0, 0.0, 3.0, 2.0]


def test_separable__channels_are_resampled_independently() -> None:
    x = torch.rand(2, 5, 3, 4)
    rows, cols = torch.rand(2, 6, 5), torch.rand(2, 7, 4)
    expected = rows[:, None] @ x.permute(0, 2, 1, 3) @ cols.transpose(1, 2)[:, None]  # B×C×S×T
    assert torch.allclose(separable(x, rows, cols), expected.permute(0, 2, 1, 3), atol=1e-5)


def test_hue_shift__a_third_turn_maps_red_to_green_and_green_to_blue() -> None:
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]).view(1, 1, 3, 2)  # B×H×3×W: a red and a green pixel
    out = hue_shift(x, torch.tensor([1 / 3]))
    assert torch.allclose(out.view(3, 2), torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), atol=1e-6)


def test_hue_shift__a_sixth_turn_maps_red_to_yellow_and_keeps_grey() -> None:
    x = torch.tensor([[1.0, 0.5], [0.0, 0.5], [0.0, 0.5]]).view(1, 1, 3, 2)  # red, mid grey
    out = hue_shift(x, torch.tensor([1 / 6]))
    assert torch.allclose(out.view(3, 2), torch.tensor([[1.0, 0.5], [1.0, 0.5], [0.0, 0.5]]), atol=1e-6)


def test_color_jitter__hand_computed_brightness_contrast_saturation() -> None:
    x = torch.tensor([0.8, 0.4, 0.2]).view(1, 1, 3, 1).repeat(3, 1, 1, 2)  # B×H×3×W, two pixels
    x[:, :, :, 1] = 0.0  # second pixel black
    factors = torch.tensor([[0.5, 1.0, 1.0, 0.0], [1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    order = torch.tensor([[0, 1, 2, 3]]).repeat(3, 1)
    out = color_jitter(x.clone(), factors, order)
    assert torch.allclose(out[0, 0, :, 0], torch.tensor([0.4, 0.2, 0.1]))  # brightness ½
    luma = 0.299 * 0.8 + 0.587 * 0.4 + 0.114 * 0.2
    assert torch.allclose(out[1], torch.full((1, 3, 2), luma / 2))  # contrast 0 → mean grey of the image
    assert torch.allclose(out[2, 0, :, 0], torch.full((3,), luma))  # saturation 0 → per-pixel grey


def test_color_jitter__order_is_per_sample() -> None:
    x = torch.tensor([0.8, 0.0]).view(1, 1, 1, 2).repeat(2, 1, 3, 1)  # two grey pixels, 0.8 and 0
    factors = torch.tensor([[1.4, 0.5, 1.0, 0.0]]).repeat(2, 1)
    order = torch.tensor([[0, 1, 2, 3], [1, 0, 2, 3]])  # brightness first / contrast first
    out = color_jitter(x, factors, order)
    # b then c: [1.12 → 1, 0], mean ½ → ½·x + ¼ = [0.75, 0.25]; c then b: mean 0.4 → [0.6, 0.2] → ×1.4 = [0.84, 0.28]
    assert torch.allclose(out[0, 0, 0], torch.tensor([0.75, 0.25]), atol=1e-6)
    assert torch.allclose(out[1, 0, 0], torch.tensor([0.84, 0.28]), atol=1e-6)
