"""Reconstruction grids for the page: one per depth × series, the worst-case attack's shown, the others on demand.

The run directory keeps each attack's exact ``invert.png``; the page carries a compact copy: the grid is shrunk
back to the images' own resolution (``sflaudit.attacks.job`` upscales small images with nearest-neighbour, which the page's
CSS redoes with ``image-rendering: pixelated``) and encoded as lossless WebP, which keeps every pixel while taking
a fraction of the PNG's bytes. The worst-case attack's grid is lossless; the other attacks' grids, shown on demand,
are lossy WebP at quality :data:`ON_DEMAND_QUALITY` (about a quarter of the bytes; the exact files stay in the run
directories). Images that cannot be read are left out with the reason.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from sflaudit.reports.plotkit import series_key, series_label


ON_DEMAND_QUALITY = 80


def compact_uri(png_path: Path, scale: int = 1, *, lossless: bool = True) -> str | None:
    """``png_path`` as a ``data:image/webp`` URI, shrunk by the integer ``scale`` it was upscaled with (nearest),
    lossless or at quality :data:`ON_DEMAND_QUALITY`; None when the file is missing or unreadable."""
    try:
        with Image.open(png_path) as img:
            img = img.convert("RGB")
            if scale > 1:
                img = img.resize((img.width // scale, img.height // scale), Image.NEAREST)
            buf = io.BytesIO()
            if lossless:
                img.save(buf, format="WEBP", lossless=True, quality=100, method=4)
            else:
                img.save(buf, format="WEBP", quality=ON_DEMAND_QUALITY, method=4)
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    return "data:image/webp;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def upscale_of(image_size: int | None) -> int:
    """The nearest-neighbour factor sflaudit.attacks.job applied to images of ``image_size`` pixels."""
    from sflaudit.attacks.job import GRID_MIN_SIDE

    if not image_size:
        return 1
    return max(1, -(-GRID_MIN_SIDE // int(image_size)))


def grids(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per depth: per series, the worst-case attack's grid first and every other attack's grid after it.

    Each image is ``{"kind", "uri", "worst"}``; a series without a result carries its row (status, error).
    """
    keys: list[str] = []
    for r in rows:
        if series_key(r) not in keys:
            keys.append(series_key(r))
    out = []
    for depth in sorted({r["depth"] for r in rows}):
        panels = []
        for key in keys:
            row = next((r for r in rows if r["depth"] == depth and series_key(r) == key), None)
            paths = (row or {}).get("grids") or {}
            worst = (row or {}).get("attack_ssim_by")
            scale = upscale_of((row or {}).get("image_size"))
            order = sorted(paths, key=lambda k: (k != worst, list(paths).index(k)))
            images = [{"kind": k, "uri": compact_uri(Path(paths[k]), scale, lossless=k == worst),
                       "worst": k == worst,
                       "ssim": (row or {}).get(f"attack_{k}_ssim"), "psnr": (row or {}).get(f"attack_{k}_psnr")}
                      for k in order]
            panels.append({"series": key, "label": series_label(key), "row": row,
                           "images": [i for i in images if i["uri"]]})
        out.append({"depth": depth, "panels": panels})
    return out
