"""Decoder inversion attack: pair preparation (clean / faithful Q7), the 90/10 split and a learnable tiny case."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sflaudit.attacks.decoder_fit import split_train_val
from sflaudit.attacks.inversion import Q7_TARGET_STD, decoder_attack, jpeg_roundtrip, prepare_pairs
from sflaudit.data.augment import normalize
from sflaudit.errors import SflauditError
from sflaudit.models import split_model

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)


def smooth_images(n: int, side: int, seed: int) -> torch.Tensor:
    """n×3×side×side uint8 images: random 4×4 colour fields, bilinearly upsampled (learnable structure)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 4, 4, generator=g)
    return (F.interpolate(coarse, size=(side, side), mode="bilinear", align_corners=False) * 255).round().to(
        torch.uint8)


def test_prepare_pairs__inputs_are_the_standardised_images() -> None:
    x = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    inputs, _ = prepare_pairs(x, MEAN, STD, faithful=False)
    assert inputs[0, :, 0, 0].tolist() == pytest.approx([(1 - m) / s for m, s in zip(MEAN, STD)], rel=1e-6)


def test_prepare_pairs__clean_ground_truth_is_the_image() -> None:
    x = smooth_images(2, 16, seed=0)
    inputs, gt = prepare_pairs(x, MEAN, STD, faithful=False)
    assert torch.equal(gt, x.float() / 255)
    assert torch.equal(inputs, normalize(x, MEAN, STD))       # the one normalisation (sflaudit.data.augment)


def test_prepare_pairs__q7_target_std_shrinks_contrast_around_the_mean() -> None:
    x = torch.full((1, 3, 1, 1), 255, dtype=torch.uint8)   # white: 1.0 in every channel
    inputs, gt = prepare_pairs(x, MEAN, STD, faithful=False, input_std=Q7_TARGET_STD)
    # input = (1 − m) / 0.247…; ground truth = input · 0.2023… + m = m + (1 − m) · 0.2023 / 0.247
    expected_in = [(1 - m) / q for m, q in zip(MEAN, Q7_TARGET_STD)]
    expected_gt = [m + (1 - m) * s / q for m, s, q in zip(MEAN, STD, Q7_TARGET_STD)]
    assert inputs.flatten().tolist() == pytest.approx(expected_in, rel=1e-6)
    assert gt.flatten().tolist() == pytest.approx(expected_gt, rel=1e-6)
    assert expected_gt[0] == pytest.approx(0.4914 + 0.5086 * 0.2023 / 0.247)   # ≈ 0.908, not 1.0


def test_jpeg_roundtrip__flat_grey_survives_and_noise_does_not() -> None:
    grey = torch.full((1, 3, 16, 16), 128 / 255)
    assert (jpeg_roundtrip(grey) - grey).abs().max() <= 1 / 255 + 1e-6
    noise = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    out = jpeg_roundtrip(noise)
    assert out.shape == noise.shape and out.dtype == torch.float32
    assert (out - noise).abs().mean() > 0.02   # q75 JPEG is lossy on white noise


def test_split_train_val__ninety_ten_disjoint_and_complete() -> None:
    train, val = split_train_val(500, faithful=False, generator=torch.Generator().manual_seed(0))
    assert (len(train), len(val)) == (450, 50)
    assert sorted(torch.cat([train, val]).tolist()) == list(range(500))


def test_split_train_val__faithful_matches_numpy_seed_123_shuffle() -> None:
    np.random.seed(123)
    idx = list(range(500))
    np.random.shuffle(idx)   # the reference: first ⌊0.1·500⌋ = 50 indices validate
    train, val = split_train_val(500, faithful=True, generator=torch.Generator())
    assert val.tolist() == idx[:50] and train.tolist() == idx[50:]


def test_split_train_val__needs_two_images() -> None:
    with pytest.raises(SflauditError, match="at least 2"):
        split_train_val(1, faithful=False, generator=torch.Generator())


def test_decoder_attack__identity_like_client_beats_constant_baseline() -> None:
    torch.manual_seed(0)
    client = nn.Conv2d(3, 4, 1).eval().requires_grad_(False)   # a fixed invertible-ish linear map per pixel
    aux, targets = smooth_images(96, 16, seed=1), smooth_images(8, 16, seed=2)
    seen = []
    result = decoder_attack(client, aux, targets, mean=MEAN, std=STD, decoder="res_normN0C8", epochs=25, batch=16,
                            lr=3e-3, seed=0, progress=seen.append)
    gt = targets.float() / 255
    baseline = (aux.float() / 255).mean(dim=(0, 2, 3)).view(1, 3, 1, 1).expand_as(gt)
    baseline_mse = float((baseline - gt).pow(2).mean())
    assert result.metrics["mse_mean"] < 0.1 * baseline_mse   # measured ≈ 0.02 × baseline
    assert result.reconstructions.shape == (8, 3, 16, 16) and torch.equal(result.targets, gt)
    assert len(result.train_loss) == len(result.val_loss) == 25 == len(seen)
    assert 1 <= result.best_epoch <= 25 and result.best_val == min(result.val_loss)
    assert result.activation_shape == (4, 16, 16)
    assert result.metrics["lpips_unavailable"] == "LPIPS not requested"


def test_decoder_attack__faithful_uses_jpeg_ground_truth_and_batch_minimum() -> None:
    client = nn.Identity()
    aux, targets = smooth_images(40, 16, seed=3), smooth_images(4, 16, seed=4)
    result = decoder_attack(client, aux, targets, mean=MEAN, std=STD, decoder="res_normN0C8", epochs=2, batch=8,
                            seed=0, faithful=True)
    _, expected_gt = prepare_pairs(targets, MEAN, STD, faithful=True, input_std=Q7_TARGET_STD)
    assert torch.equal(result.targets, expected_gt)
    assert result.best_val <= min(result.val_loss)   # a single batch can beat the per-epoch mean


def test_decoder_attack__mid_block_cut_decodes_both_tensors() -> None:
    client = split_model("resnet18", 2, width=0.125).client.eval()   # mid activation + shortcut, 8 ch each
    aux, targets = smooth_images(12, 32, seed=5), smooth_images(2, 32, seed=6)
    result = decoder_attack(client, aux, targets, mean=MEAN, std=STD, decoder="res_normN0C8", epochs=1, batch=8,
                            seed=0)
    assert result.activation_shape == (2 * 8, 32, 32)
    assert result.reconstructions.shape == (2, 3, 32, 32)


def test_decoder_attack__rejects_float_images() -> None:
    with pytest.raises(SflauditError, match="uint8"):
        decoder_attack(nn.Identity(), torch.rand(4, 3, 16, 16), smooth_images(2, 16, seed=0), mean=MEAN, std=STD,
                       seed=0)


def stop_epoch(val: list[float], ssim: list[float], patience: int) -> int:
    """Epochs an early-stopped run of the same seed lasts, from the full run's validation MSE and SSIM curves."""
    last = 0
    for epoch in range(1, len(val) + 1):
        if val[epoch - 1] < min(val[:epoch - 1], default=float("inf")) or \
                ssim[epoch - 1] > max(ssim[:epoch - 1], default=-float("inf")):
            last = epoch
        if epoch - last >= patience:
            return epoch
    return len(val)


@pytest.fixture
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _stalled_runs(n_aux: int, batch: int, epochs: int, patience: int) -> tuple:
    client = nn.Conv2d(3, 4, 1).eval().requires_grad_(False)
    nn.init.zeros_(client.weight), nn.init.zeros_(client.bias)   # activations say nothing: validation stalls
    aux, targets = smooth_images(n_aux, 16, seed=7), smooth_images(2, 16, seed=8)
    kw = dict(mean=MEAN, std=STD, decoder="res_normN0C8", epochs=epochs, batch=batch, lr=3e-2, seed=0)
    return decoder_attack(client, aux, targets, patience=0, **kw), decoder_attack(client, aux, targets,
                                                                                     patience=patience, **kw)


def test_decoder_attack__early_stop_is_the_full_run_truncated(one_thread: None) -> None:
    full, early = _stalled_runs(20, 1, 12, 2)                    # 18 training pairs: 18 steps per epoch
    ssim = full.extra["val_ssim"]
    assert len(ssim) == 12 and all(-1 <= v <= 1 for v in ssim)
    expected = stop_epoch(full.val_loss, ssim, 2)
    assert expected < 12, (full.val_loss, ssim)                  # this tiny case does stop early
    assert len(early.val_loss) == expected and early.extra["epochs_run"] == expected
    assert early.extra["stopped_early"] is True and early.extra["val_ssim"] == pytest.approx(ssim[:expected])
    assert early.val_loss == pytest.approx(full.val_loss[:expected], rel=1e-6)
    assert early.best_val == min(early.val_loss) and early.best_epoch <= expected - 2
    assert full.extra["epochs_run"] == 12 and full.extra["stopped_early"] is False


def test_decoder_attack__short_epochs_wait_for_as_many_steps(one_thread: None) -> None:
    full, early = _stalled_runs(12, 4, 80, 2)                    # 11 training pairs: 3 steps per epoch → wait 10
    ssim = full.extra["val_ssim"]
    expected = stop_epoch(full.val_loss, ssim, 10)
    assert stop_epoch(full.val_loss, ssim, 2) < expected < 80, (full.val_loss, ssim)
    assert len(early.val_loss) == expected and early.best_epoch <= expected - 10


def test_decoder_attack__faithful_runs_every_epoch_whatever_the_patience(one_thread: None) -> None:
    aux, targets = smooth_images(12, 16, seed=7), smooth_images(2, 16, seed=8)
    result = decoder_attack(nn.Identity(), aux, targets, mean=MEAN, std=STD, decoder="res_normN0C8", epochs=4,
                            batch=4, lr=3e-2, seed=0, faithful=True, patience=1)
    assert len(result.val_loss) == 4 and result.extra["stopped_early"] is False
