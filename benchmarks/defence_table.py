"""The defence table of docs/results.md, read from finished report cells (benchmarks/defence_table.sh runs them).

    python benchmarks/defence_table.py RUNS_DIR [RUNS_DIR …]

Every run directory below the given folders with a summary.json is one row: kNN (the monitor's best, Wilson 95 %
interval over the test images), linear probe, the SSIM of every attack run on it (mean over the targets) and the
worst case (highest SSIM, naming its attack), the up-link activation bytes per step — measured on the wire
(traffic.json) beside the analytic count (profile.json) — and dCor(x, h), the distance correlation between 512
test images and the activations the server receives (defences applied, the same draw for every cell), which NoPeek
lowers. Printed as a Markdown table.
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from pathlib import Path

import torch
from scipy.stats import binomtest

from attacks.job import TARGET_SEED
from sflaudit.config import config_from_toml
from sflaudit.data import load_dataset
from sflaudit.sfl.checkpoint import read_checkpoint
from sflaudit.sfl.dcor import distance_correlation
from sflaudit.sfl.defences import defended
from sflaudit.sfl.setup import load_client0, to_nchw

DCOR_IMAGES = 512


def _setting(cfg) -> str:
    d, default = cfg.defence, type(cfg.defence)()
    changed = [f"{k}={getattr(d, k)}" for k in vars(d) if getattr(d, k) != getattr(default, k)]
    return ", ".join(changed) or "none"


@lru_cache(maxsize=None)
def _dcor_images(spec: str) -> tuple[torch.Tensor, object]:
    """The fixed 512 test images of dataset ``spec`` in [0, 1] and the dataset (loaded once for every row)."""
    ds = load_dataset(spec)
    idx = torch.randperm(len(ds.test.y), generator=torch.Generator().manual_seed(TARGET_SEED))[:DCOR_IMAGES]
    return to_nchw(ds.test.x)[idx].float().div(255), ds


def _dcor(run: Path, cfg) -> float:
    x, ds = _dcor_images(cfg.data.dataset)
    mean, std = torch.tensor(ds.mean).view(1, 3, 1, 1), torch.tensor(ds.std).view(1, 3, 1, 1)
    client = load_client0(read_checkpoint(run / "best.pt"), cfg, input_size=x.shape[-1], device=torch.device("cpu"))
    client = defended(client, cfg.defence, wire_dtype=cfg.sfl.wire_dtype, seed=0)
    with torch.no_grad():
        h = client((x - mean) / std)
    return float(distance_correlation(x.flatten(1).double(), h.flatten(1).double()))


def row(run: Path) -> dict:
    cfg = config_from_toml((run / "config.toml").read_text(), source=str(run / "config.toml"))
    summary = json.loads((run / "summary.json").read_text())
    evals = [json.loads(p.read_text()) for p in sorted((run / "evals").glob("*.json"))]
    knn = summary["knn_best"]
    n_test = evals[0]["test_images"] if evals else None
    knn_ci = (binomtest(round(knn * n_test / 100), n_test).proportion_ci(method="wilson") if n_test else None)
    ssim = {}
    for p in sorted((run / "attacks").glob("*/invert.json")):
        rec = json.loads(p.read_text())
        ssim[rec["settings"]["kind"]] = rec["mean"]["ssim"]
    worst = max(ssim, key=ssim.get) if ssim else None
    traffic, profile = (json.loads((run / f).read_text()) for f in ("traffic.json", "profile.json"))
    return {"cell": run.name, "defence": _setting(cfg), "knn": knn,
            "knn_ci": (100 * knn_ci.low, 100 * knn_ci.high) if knn_ci else None,
            "probe": evals[0]["linear_probe_best"] if evals else None, "ssim": ssim, "worst": worst,
            "act_up_measured": traffic["by_kind"]["query"]["up"] // traffic["steps"],
            "act_up_analytic": profile["analytic_traffic"]["by_kind"]["query"]["up"] // profile["analytic_traffic"]["steps"],
            "client_mib": profile["client_run_up"] / 2**20 + profile["client_run_down"] / 2**20,
            "dcor": _dcor(run, cfg), "train_s": summary["wall_time_s"]}


def main(argv: list[str]) -> int:
    runs = sorted({p.parent.resolve() for root in argv for p in Path(root).rglob("summary.json")})
    if not runs:
        print("error: no finished cells (summary.json) under " + " ".join(argv), file=sys.stderr)
        return 2
    rows = [row(r) for r in runs]
    kinds = sorted({k for r in rows for k in r["ssim"]})
    print("| defence | kNN % [95 %] | probe % | " + " | ".join(f"SSIM {k}" for k in kinds)
          + " | worst SSIM (attack) | query bytes/step measured = analytic | MiB per client | dCor(x, h) | train s |")
    print("|" + "---|" * (8 + len(kinds)))
    for r in rows:
        ci = f" [{r['knn_ci'][0]:.1f}, {r['knn_ci'][1]:.1f}]" if r["knn_ci"] else ""
        worst = f"{r['ssim'][r['worst']]:.3f} ({r['worst']})" if r["worst"] else "–"
        same = "=" if r["act_up_measured"] == r["act_up_analytic"] else "≠"
        print(f"| {r['defence']} | {r['knn']:.1f}{ci} | {r['probe']:.1f} | "
              + " | ".join(f"{r['ssim'][k]:.3f}" if k in r["ssim"] else "–" for k in kinds)
              + f" | {worst} | {r['act_up_measured']:,} {same} {r['act_up_analytic']:,} | {r['client_mib']:.0f} | "
              f"{r['dcor']:.3f} | {r['train_s']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
