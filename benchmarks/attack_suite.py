"""The attack-suite table of docs/results.md, read from the run directories benchmarks/attack_suite.sh fills.

    python benchmarks/attack_suite.py OUT_DIR

One row per (client, depth, attack): MSE / PSNR / SSIM (scikit-image's, and the reference's zero-padded Gaussian
SSIM) / LPIPS as means over the targets, the SSIM's 95 % bootstrap interval over the targets (the report's), and
the attack's own wall time (without loading the run). "client"
is ``trained`` (client 0 of the finished run) or ``init`` (the same network before the first step). Printed as a
Markdown table, then per depth whether the expected order holds (prior lowest; hybrid ≥ decoder).
"""

from __future__ import annotations

import sys
from pathlib import Path

from common import attack_records, attacked_runs
from sflaudit.reports.intervals import bootstrap_mean

ORDER = ("prior", "substitute", "decoder", "hybrid")


def rows(out: Path) -> list[dict]:
    """One row per attack result of kind :data:`ORDER` in the run directories under ``out/trained`` and
    ``out/init``, sorted init first, then by depth and attack."""
    found = []
    for client in ("trained", "init"):
        for run in attacked_runs(out / client):
            for rec in attack_records(run):
                kind = rec.settings["kind"]
                if kind not in ORDER:
                    continue
                ci = bootstrap_mean(rec.metrics["ssim"])
                found.append({"client": client, "depth": rec.run["depth"], "attack": kind, **rec.mean,
                              "ssim_low": ci.low, "ssim_high": ci.high, "wall_s": rec.attack_wall_s})
    return sorted(found, key=lambda r: (r["client"] != "init", r["depth"], ORDER.index(r["attack"])))


def _f(x: float | None, fmt: str) -> str:
    return "–" if x is None else format(x, fmt)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    table = rows(Path(argv[0]))
    print("| client | depth | attack | MSE | PSNR | SSIM [95 %] | SSIM ref | LPIPS | wall s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in table:
        ci = f" [{_f(r['ssim_low'], '.3f')}, {_f(r['ssim_high'], '.3f')}]" if r["ssim_low"] is not None else ""
        print(f"| {r['client']} | {r['depth']} | {r['attack']} | {_f(r.get('mse'), '.4f')} "
              f"| {_f(r.get('psnr'), '.2f')} | {_f(r.get('ssim'), '.3f')}{ci} | {_f(r.get('ssim_ref'), '.3f')} "
              f"| {_f(r.get('lpips'), '.3f')} | {_f(r['wall_s'], '.0f')} |")
    print()
    for client in ("init", "trained"):
        for depth in sorted({r["depth"] for r in table if r["client"] == client}):
            s = {r["attack"]: r["ssim"] for r in table if r["client"] == client and r["depth"] == depth}
            notes = []
            if "prior" in s and len(s) > 1:
                notes.append("prior lowest" if s["prior"] == min(s.values()) else "prior NOT lowest")
            if "hybrid" in s and "decoder" in s:
                notes.append("hybrid ≥ decoder" if s["hybrid"] >= s["decoder"] else "hybrid < decoder")
            worst = max(s, key=s.get) if s else None
            print(f"{client} d{depth}: worst {worst} {s.get(worst, float('nan')):.3f}; " + "; ".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
