"""attacks/hybrid.py: the decoder output refined through the client never ends with a worse activation error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sflaudit.attacks.hybrid import activation_errors, hybrid_attack, refine
from sflaudit.attacks.metrics import ssim_skimage
from sflaudit.attacks.whitebox import activation_mse
from sflaudit.data.augment import normalize

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_client(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()).eval().requires_grad_(False)


def smooth(n: int, side: int, seed: int) -> torch.Tensor:
    """n×3×side×side float images in [0, 1] with 2×2 structure."""
    coarse = torch.rand(n, 3, 2, 2, generator=torch.Generator().manual_seed(seed))
    return F.interpolate(coarse, size=(side, side), mode="bilinear", align_corners=False)


def observe(client: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return client(normalize(x, MEAN, STD))


def test_activation_errors__is_the_per_image_mse_of_activations() -> None:
    client = tiny_client()
    x = smooth(3, 8, seed=0)
    h = observe(client, x)
    assert activation_errors(client, x, h, mean=MEAN, std=STD).tolist() == [0.0, 0.0, 0.0]
    shifted = h + torch.arange(3.0).view(3, 1, 1, 1)               # image b off by b everywhere: MSE b²
    assert activation_errors(client, x, shifted, mean=MEAN, std=STD).tolist() == pytest.approx([0.0, 1.0, 4.0])


def test_refine__improves_a_perturbed_start_and_never_ends_worse() -> None:
    client = tiny_client()
    x = smooth(4, 8, seed=1)
    h = observe(client, x)
    x0 = (x + 0.2 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    out, err, start, _ = refine(client, h, x0, mean=MEAN, std=STD, steps=30, lr=0.05, tv_weight=0.0, pull=0.0)
    assert torch.all(err <= start)
    assert float(err.mean()) < 0.5 * float(start.mean())             # the optimisation does its job
    assert torch.allclose(err, activation_errors(client, out, h, mean=MEAN, std=STD), rtol=1e-5, atol=1e-7)
    assert float((out - x).pow(2).mean()) < float((x0 - x).pow(2).mean())


def test_refine__a_diverging_optimiser_keeps_the_decoder_start() -> None:
    client = tiny_client()
    x0 = 0.1 + 0.8 * smooth(3, 8, seed=3)                            # the decoder start is already the answer
    h = observe(client, x0)
    out, err, start, _ = refine(client, h, x0, mean=MEAN, std=STD, steps=5, lr=50.0, tv_weight=0.0, pull=0.0)
    assert start.tolist() == [0.0, 0.0, 0.0]
    assert torch.equal(out, x0) and torch.equal(err, start)          # nothing beat it (lr 50 diverges): kept


def test_refine__pull_keeps_the_result_at_the_start() -> None:
    client = tiny_client()
    x = smooth(2, 8, seed=4)
    x0 = (x + 0.2).clamp(0, 1)
    free, _, _, _ = refine(client, observe(client, x), x0, mean=MEAN, std=STD, steps=20, lr=0.05, tv_weight=0.0,
                        pull=0.0)
    pulled, _, _, _ = refine(client, observe(client, x), x0, mean=MEAN, std=STD, steps=20, lr=0.05, tv_weight=0.0,
                          pull=1e4)
    assert float((pulled - x0).abs().mean()) < 0.5 * float((free - x0).abs().mean())


def test_hybrid_attack__end_to_end_records_errors_and_the_decoder_start() -> None:
    client = tiny_client()
    aux = (smooth(24, 16, seed=5) * 255).round().to(torch.uint8)
    targets = (smooth(3, 16, seed=6) * 255).round().to(torch.uint8)
    seen: list[dict] = []
    result = hybrid_attack(client, aux, targets, mean=MEAN, std=STD, decoder="res_normN0C8", epochs=2, batch=8,
                           seed=0, steps=10, step_lr=0.05, pull=0.01, progress=seen.append)
    ex = result.extra
    start, end = ex["activation_mse_start_per_image"], ex["activation_mse_end_per_image"]
    assert len(start) == len(end) == 3 and all(e <= s for e, s in zip(end, start))
    assert ex["activation_mse_end"] <= ex["activation_mse_start"]
    h = observe(client, targets.float() / 255)
    got = activation_mse(client, result.reconstructions, h, mean=MEAN, std=STD)
    assert got.tolist() == pytest.approx(end, rel=1e-4, abs=1e-7)
    assert set(ex["decoder_start"]) == {"mse", "psnr", "ssim", "ssim_ref"}
    assert [p["stage"] for p in seen][:2] == ["decoder", "decoder"]
    curve, k = ex["refine_val_ssim"], ex["refine_steps"]
    assert len(curve) == 11 and curve[k] == max(curve)                      # steps chosen on the aux validation
    assert ex["improved_images"] == sum(e < s for e, s in zip(end, start))
    assert result.reconstructions.shape == (3, 3, 16, 16) and len(result.val_loss) == 2


def test_refine__records_the_ssim_of_every_iterate() -> None:
    client = tiny_client()
    x = smooth(2, 16, seed=7)
    x0 = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(8))).clamp(0, 1)
    _, _, _, curve = refine(client, observe(client, x), x0, mean=MEAN, std=STD, steps=4, lr=0.05, tv_weight=0.0,
                            pull=0.0, gt=x)
    assert len(curve) == 5 and curve[0] == pytest.approx(float(ssim_skimage(x0, x).mean()), abs=1e-6)
    assert curve[-1] > curve[0]


def test_refine__validation_stops_after_patience_steps_without_a_better_ssim() -> None:
    client = tiny_client()
    x = smooth(2, 16, seed=7)
    # the start is the truth itself: every step can only lower the SSIM, so the best step stays 0
    _, _, _, curve = refine(client, observe(client, x) + 0.5, x.clone(), mean=MEAN, std=STD, steps=30, lr=0.2,
                            tv_weight=0.0, pull=0.0, gt=x, patience=3)
    assert max(range(len(curve)), key=lambda i: (curve[i], -i)) == 0 and len(curve) == 4   # steps 0..3, then stop
    _, _, _, full = refine(client, observe(client, x) + 0.5, x.clone(), mean=MEAN, std=STD, steps=30, lr=0.2,
                           tv_weight=0.0, pull=0.0, gt=x)
    assert len(full) == 31 and full[:4] == curve                    # patience 0 runs every step, same iterates
