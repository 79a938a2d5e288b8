"""Page copies of the reconstruction grids: the worst case pixel-exact, the on-demand ones smaller."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
from PIL import Image

from sflaudit.reports.gridimages import compact_uri


def _decode(uri: str) -> np.ndarray:
    head, data = uri.split(",", 1)
    assert head == "data:image/webp;base64"
    with Image.open(io.BytesIO(base64.b64decode(data))) as img:
        return np.asarray(img.convert("RGB"))


def test_compact_uri__lossless_is_exact_after_undoing_the_upscale_and_lossy_is_smaller(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    small = (rng.random((32, 48, 3)) * 255).astype(np.uint8)
    smooth = np.clip(small.astype(float).cumsum(1) / np.arange(1, 49)[None, :, None], 0, 255).astype(np.uint8)
    Image.fromarray(smooth).resize((96, 64), Image.NEAREST).save(tmp_path / "g.png")   # as sflaudit.attacks.job upscales ×2
    exact = compact_uri(tmp_path / "g.png", 2)
    lossy = compact_uri(tmp_path / "g.png", 2, lossless=False)
    assert exact is not None and lossy is not None
    assert np.array_equal(_decode(exact), smooth)
    assert len(lossy) < len(exact) and _decode(lossy).shape == smooth.shape
    assert compact_uri(tmp_path / "missing.png") is None
