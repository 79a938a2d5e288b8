"""The decoder's early-stop rule: progress on validation MSE or SSIM, patience stretched for short epochs."""

from __future__ import annotations

import pytest
import torch

from sflaudit.attacks.metrics import ssim_skimage
from sflaudit.attacks.stopping import last_progress, patience_epochs, should_stop, val_ssim


def test_patience_epochs__short_epochs_stretch_the_patience_to_as_many_steps() -> None:
    assert patience_epochs(8, 15) == 8 and patience_epochs(8, 141) == 8    # 1 % and 10 % of CIFAR-10 at batch 32
    assert patience_epochs(8, 2) == 60                                      # 0.1 %: 45 images, 2 batches per epoch
    assert patience_epochs(2, 3) == 10 and patience_epochs(0, 2) == 0


def test_last_progress__a_new_best_of_either_curve_counts() -> None:
    loss = [0.5, 0.4, 0.45, 0.41, 0.42, 0.43]
    assert last_progress(loss, []) == 2                                # MSE alone: the epoch-2 minimum
    assert last_progress(loss, [0.1, 0.2, 0.3, 0.25, 0.31, 0.3]) == 5  # SSIM still climbing at epoch 5
    assert last_progress(loss, [0.1, 0.2, 0.2, 0.2, 0.2, 0.2]) == 2    # a tie is not progress
    assert last_progress([], []) == 0


def test_should_stop__waits_for_that_many_epochs_without_progress() -> None:
    loss = [0.5, 0.4, 0.45, 0.41, 0.42, 0.43]
    assert should_stop(loss, [], 4) and not should_stop(loss, [], 5)
    ssim = [0.1, 0.2, 0.3, 0.25, 0.31, 0.3]
    assert not should_stop(loss, ssim, 2) and should_stop(loss, ssim, 1)
    assert not should_stop(loss, [], 0)                                # 0 = never stop


def test_last_progress__rejects_curves_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="3 validation losses but 2"):
        last_progress([1.0, 0.9, 0.8], [0.1, 0.2])


def test_val_ssim__clamps_outputs_and_skips_images_under_the_window() -> None:
    g = torch.Generator().manual_seed(0)
    truth = torch.rand(2, 3, 16, 16, generator=g)
    out = truth * 1.4 - 0.2                                            # overshoots [0, 1] on both sides
    expected = ssim_skimage(out.clamp(0, 1), truth)
    assert val_ssim(out, truth) == pytest.approx(expected.tolist())
    assert val_ssim(truth, truth) == pytest.approx([1.0, 1.0])
    assert val_ssim(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)) == []
