"""attacks/metrics.py: MSE/PSNR/SSIM by hand on tiny images, SSIM conventions against each other, LPIPS."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from sflaudit.attacks.metrics import (
    PSNR_CAP_DB,
    LpipsScorer,
    LpipsUnavailable,
    mse_per_image,
    negated,
    psnr_from_mse,
    ssim_reference,
    ssim_skimage,
    summarize,
)
from sflaudit.errors import SflauditError


def smooth_images(batch: int, size: int, seed: int) -> torch.Tensor:
    """B×3×size×size in [0, 1]: bicubic up-sampling of a coarse random grid (structure at ~size/8 pixels)."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 3, size // 8, size // 8, generator=gen)
    return F.interpolate(coarse, size=size, mode="bicubic", align_corners=False).clamp(0, 1)


def test_mse_psnr__constant_half_vs_constant_point_six() -> None:
    a = torch.full((2, 3, 32, 32), 0.5, dtype=torch.float64)
    b = torch.full((2, 3, 32, 32), 0.6, dtype=torch.float64)
    mse = mse_per_image(a, b)
    assert mse.tolist() == pytest.approx([0.01, 0.01], rel=1e-12)       # (0.6 − 0.5)²
    assert psnr_from_mse(mse).tolist() == pytest.approx([20.0, 20.0])   # 10·log10(1 / 0.01)


def test_psnr__zero_mse_is_inf_or_cap() -> None:
    assert math.isinf(float(psnr_from_mse(torch.zeros(1))[0]))
    assert float(psnr_from_mse(torch.zeros(1), cap_db=100.0)[0]) == 100.0


def test_summarize__identical_images() -> None:
    x = smooth_images(3, 32, seed=0)
    s = summarize(x, x.clone())
    assert s["n"] == 3
    assert s["mse"] == [0.0, 0.0, 0.0]
    assert s["psnr"] == [PSNR_CAP_DB] * 3 and s["psnr_capped"] == 3
    assert s["ssim"] == pytest.approx([1.0] * 3, abs=1e-9)
    assert s["ssim_ref"] == pytest.approx([1.0] * 3, abs=1e-9)
    assert s["lpips"] is None and s["lpips_unavailable"] == "LPIPS not requested"


def test_summarize__means_are_means_of_per_image_values() -> None:
    x = smooth_images(4, 32, seed=1)
    y = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    s = summarize(y, x)
    for key in ("mse", "psnr", "ssim", "ssim_ref"):
        assert s[f"{key}_mean"] == pytest.approx(sum(s[key]) / 4)
    assert s["psnr_capped"] == 0


def test_ssim_skimage__constants_by_hand() -> None:
    # zero variance everywhere: SSIM = (2·a·b + C1) / (a² + b² + C1), C1 = 0.01²
    a = torch.full((1, 3, 16, 16), 0.5)
    b = torch.full((1, 3, 16, 16), 0.6)
    expected = (2 * 0.5 * 0.6 + 1e-4) / (0.25 + 0.36 + 1e-4)
    assert float(ssim_skimage(a, b)[0]) == pytest.approx(expected, abs=1e-6)


def test_ssim_reference__interior_equals_skimage() -> None:
    x = smooth_images(2, 32, seed=3)
    y = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(4))).clamp(0, 1)
    assert ssim_reference(y, x, border=5).tolist() == pytest.approx(ssim_skimage(y, x).tolist(), abs=1e-6)


def test_ssim_reference__agrees_with_skimage_on_interior_dominated_images() -> None:
    x = smooth_images(4, 128, seed=5)
    y = (x + 0.02 * torch.randn(x.shape, generator=torch.Generator().manual_seed(6))).clamp(0, 1)
    diff = (ssim_reference(y, x) - ssim_skimage(y, x)).abs().max()
    assert float(diff) < 0.01


def test_metrics__shape_mismatch_is_a_clear_error() -> None:
    with pytest.raises(SflauditError, match="one shape"):
        mse_per_image(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
    with pytest.raises(SflauditError, match="at least 11"):
        ssim_skimage(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))


def test_lpips_load__missing_file_is_unavailable_with_reason(tmp_path: Path) -> None:
    result = LpipsScorer.load(tmp_path / "nope.pt")
    assert isinstance(result, LpipsUnavailable)
    assert "nope.pt" in result.reason and "no such file" in result.reason


def test_lpips_load__corrupt_file_is_unavailable(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    result = LpipsScorer.load(bad)
    assert isinstance(result, LpipsUnavailable) and "bad.pt" in result.reason


def test_lpips_load__env_variable_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFLAUDIT_LPIPS_WEIGHTS", str(tmp_path / "env.pt"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    result = LpipsScorer.load()
    assert isinstance(result, LpipsUnavailable)
    assert "$SFLAUDIT_LPIPS_WEIGHTS" in result.reason and "env.pt" in result.reason


def test_summarize__unavailable_lpips_is_recorded() -> None:
    x = smooth_images(2, 32, seed=7)
    s = summarize(x, x, lpips=LpipsUnavailable("no weights"))
    assert s["lpips"] is None and s["lpips_mean"] is None and s["lpips_unavailable"] == "no weights"


def test_lpips__identical_is_zero(lpips_scorer: LpipsScorer) -> None:
    x = smooth_images(3, 32, seed=8)
    assert lpips_scorer(x, x.clone()).tolist() == pytest.approx([0.0] * 3, abs=1e-7)


def test_lpips__blurred_is_closer_than_unrelated(lpips_scorer: LpipsScorer) -> None:
    from skimage import data
    photos = [torch.from_numpy(getattr(data, n)().copy()).permute(2, 0, 1).float()[None] / 255
              for n in ("astronaut", "chelsea", "coffee")]
    x = torch.cat([F.interpolate(p, size=(64, 64), mode="area") for p in photos])
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16
    blurred = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), (k[:, None] * k[None, :]).expand(3, 1, 5, 5),
                       groups=3)
    to_blur = lpips_scorer(blurred, x)
    to_other = lpips_scorer(x.roll(1, dims=0), x)
    assert bool((to_blur < to_other).all()), (to_blur, to_other)
    s = summarize(blurred, x, lpips=lpips_scorer)
    assert s["lpips_unavailable"] is None and s["lpips_mean"] == pytest.approx(float(to_blur.mean()))


def test_negated__reflects_each_channel_through_its_mean_and_clamps() -> None:
    x = torch.tensor([0.2, 0.2, 0.9]).view(1, 3, 1, 1)
    out = negated(x, (0.5, 0.4, 0.3))
    assert torch.allclose(out.flatten(), torch.tensor([0.8, 0.6, 0.0]))
    assert torch.allclose(negated(negated(x, (0.5, 0.5, 0.5)), (0.5, 0.5, 0.5)), x)
