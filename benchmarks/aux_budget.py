"""The aux-budget table of docs/results.md, read from the run directories benchmarks/aux_budget.sh fills.

    python benchmarks/aux_budget.py OUT_DIR

One row per (depth, attack, auxiliary images): MSE / PSNR / SSIM with its 95 % bootstrap interval over the
targets / SSIM ref / LPIPS, epochs run (and the early-stop patience), and wall time; then per depth and budget the
decoder's SSIM above the prior of the same budget ("leakage above prior").
"""

from __future__ import annotations

import sys
from pathlib import Path

from common import attack_records, attacked_runs
from sflaudit.reports.intervals import bootstrap_mean


def rows(out: Path) -> list[dict]:
    """Every prior/decoder attack record of the run directories ``out/init/d*``, sorted by depth, attack, aux size."""
    found = []
    for run in attacked_runs(out / "init"):
        if not run.path.name.startswith("d"):
            continue
        for rec in attack_records(run):
            kind = rec.settings["kind"]
            if kind not in ("prior", "decoder"):
                continue
            ci = bootstrap_mean(rec.metrics["ssim"])
            found.append({"depth": rec.run["depth"], "attack": kind, "aux": rec.threat_model["aux_images"],
                          **rec.mean, "ssim_low": ci.low, "ssim_high": ci.high,
                          "epochs": len(rec.training.get("val_loss") or []), "patience": rec.settings.get("patience"),
                          "wall_s": rec.attack_wall_s})
    return sorted(found, key=lambda r: (r["depth"], r["attack"] != "prior", r["aux"]))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    table = rows(Path(argv[0]))
    print("| depth | attack | aux images | MSE | PSNR | SSIM [95 %] | SSIM ref | LPIPS | epochs run (patience) "
          "| wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in table:
        print(f"| {r['depth']} | {r['attack']} | {r['aux']:,} | {r['mse']:.4f} | {r['psnr']:.2f} | {r['ssim']:.3f} "
              f"[{r['ssim_low']:.3f}, {r['ssim_high']:.3f}] | {r['ssim_ref']:.3f} | "
              f"{'–' if r['lpips'] is None else format(r['lpips'], '.3f')} | {r['epochs']} ({r['patience']}) "
              f"| {r['wall_s']:.0f} |")
    prior = {r["aux"]: r["ssim"] for r in table if r["attack"] == "prior"}
    print()
    for r in table:
        if r["attack"] == "decoder" and r["aux"] in prior:
            print(f"depth {r['depth']}, {r['aux']:,} aux: decoder SSIM {r['ssim']:.3f}, "
                  f"above the prior {r['ssim'] - prior[r['aux']]:+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
