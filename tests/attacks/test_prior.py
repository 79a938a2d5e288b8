"""attacks/prior.py: the knows-nothing baseline (mean image vs noise decoder, chosen on the aux validation split)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F

from sflaudit.attacks.decoder_fit import split_train_val
from sflaudit.attacks.prior import mean_image, prior_attack
from sflaudit.errors import SflauditError

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)
TINY = dict(decoder="res_normN0C8", epochs=2, batch=8, lr=1e-3, seed=0)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny decoders run faster on one thread (and do not fight other work for cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def smooth_images(n: int, side: int, seed: int) -> torch.Tensor:
    """n×3×side×side uint8 images: random 2×2 colour fields, bilinearly upsampled."""
    coarse = torch.rand(n, 3, 2, 2, generator=torch.Generator().manual_seed(seed))
    return (F.interpolate(coarse, size=(side, side), mode="bilinear", align_corners=False) * 255).round().to(
        torch.uint8)


def test_mean_image__by_hand_and_exact_for_equal_images() -> None:
    a, b = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    assert torch.equal(mean_image(torch.cat([a, b, b, b])), torch.full((3, 2, 2), 0.75))
    v = torch.full((7, 3, 4, 4), 37 / 255)   # not a dyadic fraction: a float32 running sum would round
    assert torch.equal(mean_image(v), v[0])


def test_prior_attack__constant_image_set_reaches_mse_zero() -> None:
    aux = torch.full((10, 3, 16, 16), 91, dtype=torch.uint8)
    aux[:, 1] = 200                                           # a constant colour image, channels differ
    targets = aux[:3].clone()
    result = prior_attack(aux, targets, activation_shape=(4, 16, 16), mean=MEAN, std=STD, **TINY)
    assert result.extra["chosen"] == "mean_image"
    assert result.extra["candidates"]["mean_image"] == 0.0 < result.extra["candidates"]["noise_decoder"]
    assert result.metrics["mse_mean"] == 0.0 and result.metrics["mse"] == [0.0, 0.0, 0.0]
    assert torch.equal(result.reconstructions, targets.float() / 255)


def test_prior_attack__candidates_are_validation_mses_and_the_lower_wins() -> None:
    aux, targets = smooth_images(20, 16, seed=1), smooth_images(4, 16, seed=2)
    result = prior_attack(aux, targets, activation_shape=(4, 4, 4), mean=MEAN, std=STD, **TINY)
    train_idx, val_idx = split_train_val(20, faithful=False, generator=torch.Generator().manual_seed(0))
    gt = aux.float() / 255
    by_hand = float((gt[train_idx].mean(dim=0) - gt[val_idx]).pow(2).mean())   # the same split as the decoder's
    cands = result.extra["candidates"]
    assert cands["mean_image"] == pytest.approx(by_hand, rel=1e-5)
    assert result.extra["chosen"] == min(cands, key=cands.get)
    assert result.best_val == cands[result.extra["chosen"]]
    assert len(result.val_loss) == 2 and result.activation_shape == (4, 4, 4)
    assert result.reconstructions.shape == (4, 3, 16, 16) and torch.equal(result.targets, targets.float() / 255)


def test_prior_attack__guesses_do_not_depend_on_the_targets() -> None:
    aux = smooth_images(20, 16, seed=3)
    first = prior_attack(aux, smooth_images(4, 16, seed=4), activation_shape=(4, 16, 16), mean=MEAN, std=STD, **TINY)
    second = prior_attack(aux, smooth_images(4, 16, seed=5), activation_shape=(4, 16, 16), mean=MEAN, std=STD, **TINY)
    assert torch.equal(first.reconstructions, second.reconstructions)
    assert first.metrics["mse"] != second.metrics["mse"]   # the ground truth differs, the guesses do not


def test_prior_attack__takes_no_client_and_no_activation() -> None:
    params = set(inspect.signature(prior_attack).parameters)
    assert not params & {"client", "acts", "activations", "h", "target_acts"}
    assert "activation_shape" in params   # only the public shape of an activation


def test_prior_attack__bad_shape_is_one_line_error() -> None:
    aux = smooth_images(4, 16, seed=0)
    with pytest.raises(SflauditError, match="activation_shape"):
        prior_attack(aux, aux, activation_shape=(4, 8), mean=MEAN, std=STD, **TINY)
