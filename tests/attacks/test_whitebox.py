"""attacks/whitebox.py: inversion through a tiny known client recovers the image; the client is left untouched."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sflaudit.attacks.whitebox import activation_mse, optimize_images, total_variation, whitebox_invert
from sflaudit.data.augment import normalize
from sflaudit.errors import SflauditError

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)


def tiny_client(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())


def targets(batch: int = 4, size: int = 32) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    coarse = torch.rand(batch, 3, size // 4, size // 4, generator=gen)
    return F.interpolate(coarse, size=size, mode="bilinear", align_corners=False)


def observe(client: nn.Module, x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        return client((x - mean) / std)


def test_total_variation__by_hand() -> None:
    x = torch.zeros(1, 1, 2, 3)
    x[0, 0, :, 2] = 1.0  # one vertical edge: horizontal diffs [0, 1] per row, no vertical diffs
    assert total_variation(x).tolist() == pytest.approx([0.5])


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny convolutions run faster on one thread (and do not fight other work for cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_whitebox_invert__recovers_images_through_a_random_conv() -> None:
    client = tiny_client()
    x = targets()
    h = observe(client, x)
    seen: list[tuple[int, float]] = []
    recon = whitebox_invert(client, h, mean=MEAN, std=STD, steps=300, lr=0.05, tv_weight=0.001,
                            generator=torch.Generator().manual_seed(0), progress=lambda s, m: seen.append((s, m)))
    assert recon.shape == x.shape and float(recon.min()) >= 0 and float(recon.max()) <= 1
    start_mse = float((torch.full_like(x, 0.5) - x).pow(2).mean())
    end_mse = float((recon - x).pow(2).mean())
    assert end_mse < start_mse / 20, (start_mse, end_mse)  # ≈ 0.040 → ≈ 0.0005 in practice
    assert [s for s, _ in seen] == [50, 100, 150, 200, 250, 300]
    assert seen[-1][1] < seen[0][1]


def test_whitebox_invert__leaves_client_untouched() -> None:
    client = tiny_client().train()
    before = {k: v.clone() for k, v in client.state_dict().items()}
    whitebox_invert(client, observe(client, targets(2, 16)), mean=MEAN, std=STD, image_size=16, steps=5)
    assert client.training
    assert all(p.grad is None for p in client.parameters())
    assert all(torch.equal(before[k], v) for k, v in client.state_dict().items())


def test_whitebox_invert__same_generator_same_result() -> None:
    client = tiny_client()
    h = observe(client, targets(2, 16))
    a, b = (whitebox_invert(client, h, mean=MEAN, std=STD, image_size=16, steps=10,
                            generator=torch.Generator().manual_seed(3)) for _ in range(2))
    assert torch.equal(a, b)


def test_whitebox_invert__wrong_image_size_is_a_clear_error() -> None:
    client = tiny_client()
    h = observe(client, targets(1, 16))
    with pytest.raises(SflauditError, match="image_size"):
        whitebox_invert(client, h, mean=MEAN, std=STD, image_size=32, steps=1)


def test_normalize__is_the_differentiable_normalisation_whitebox_optimises_through() -> None:
    x = torch.tensor([0.0, 0.5, 1.0]).view(1, 3, 1, 1).requires_grad_(True)
    out = normalize(x, MEAN, STD)
    assert out.flatten().tolist() == pytest.approx([(v - m) / s for v, m, s in zip((0.0, 0.5, 1.0), MEAN, STD)],
                                                   rel=1e-6)
    out.sum().backward()
    assert x.grad is not None
    assert x.grad.flatten().tolist() == pytest.approx([1 / s for s in STD], rel=1e-6)   # ∂/∂x (x − m)/s = 1/s


def test_optimize_images__keep_best_returns_the_lowest_error_iterate() -> None:
    client = tiny_client()
    x = targets(2, 16)
    h = observe(client, x)
    start = torch.zeros(2, 3, 16, 16)
    last, last_err = optimize_images(client, h, start, mean=MEAN, std=STD, steps=8, lr=5.0, tv_weight=0.0)
    best, best_err = optimize_images(client, h, start, mean=MEAN, std=STD, steps=8, lr=5.0, tv_weight=0.0,
                                     keep_best=True)
    assert torch.all(best_err <= last_err)
    with torch.no_grad():
        assert torch.allclose(activation_mse(client, best, h, mean=MEAN, std=STD), best_err, rtol=1e-5)
        assert torch.allclose(activation_mse(client, last, h, mean=MEAN, std=STD), last_err, rtol=1e-5)
    start_err = activation_mse(client, torch.sigmoid(start), h, mean=MEAN, std=STD).detach()
    assert torch.all(best_err <= start_err)   # the start itself is one of the iterates


def test_optimize_images__pull_needs_an_anchor() -> None:
    client = tiny_client()
    h = observe(client, targets(1, 16))
    with pytest.raises(SflauditError, match="anchor"):
        optimize_images(client, h, torch.zeros(1, 3, 16, 16), mean=MEAN, std=STD, steps=1, lr=0.1, tv_weight=0.0,
                        pull=1.0)
