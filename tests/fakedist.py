"""A fake installed distribution with an ``sflaudit.attacks`` entry point, for the plug-in tests (tests/ is on
sys.path through its conftest.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

MEAN_IMAGE = '''
"""A third-party attack: every target reconstructed as the auxiliary set's mean image."""
import time
from dataclasses import dataclass

from sflaudit.auditors import AttackPlugin, ThreatModel


@dataclass(frozen=True)
class Settings:
    mean_gain: float = 1.0


def run(client, cfg, train, test, aux_idx, tgt_idx, *, mean, std, lpips, progress):
    from sflaudit.attacks.inversion import AttackResult
    from sflaudit.attacks.metrics import summarize

    assert client is None, "the threat model grants no client"
    start = time.perf_counter()
    gt = test[tgt_idx].float() / 255
    guess = (train[aux_idx].float().mean(0, keepdim=True) / 255 * cfg.attack.mean_gain).clamp(0, 1)
    recon = guess.expand_as(gt).contiguous()
    return AttackResult(reconstructions=recon, targets=gt, metrics=summarize(recon, gt, lpips=lpips),
                        wall_s=time.perf_counter() - start, activation_shape=(1,))


PLUGIN = AttackPlugin(name="meanimg", settings=Settings, run=run,
                      threat=ThreatModel(holds=("auxiliary set",), client_weights=False, uses_aux=True,
                                         target_activations=False),
                      describe=lambda s: "the auxiliary mean image")
'''


def fake_distribution(root: Path, dist: str, module: str, code: str, entries: str) -> Path:
    """A minimal installed distribution on ``root``: ``module.py`` and ``<dist>-0.1.dist-info`` with entry points."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(code)
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"   # the wheel spelling: name, dash, version
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entries))
    return root
