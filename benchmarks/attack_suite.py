"""The attack-suite table of docs/results.md, read from the run directories benchmarks/attack_suite.sh fills.

    python benchmarks/attack_suite.py OUT_DIR

One row per (client, depth, attack): MSE / PSNR / SSIM (scikit-image's, and the reference's zero-padded Gaussian
SSIM) / LPIPS as means over the targets, the SSIM's 95 % bootstrap interval over the targets (the report's), and
the attack's own wall time (without loading the run). "client"
is ``trained`` (client 0 of the finished run) or ``init`` (the same network before the first step). Printed as a
Markdown table, then per depth whether the expected order holds (prior lowest; hybrid ≥ decoder).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from reports.intervals import bootstrap_mean
from sflaudit.config import config_from_toml
from sflaudit.sfl.checkpoint import read_checkpoint

ORDER = ("prior", "substitute", "decoder", "hybrid")


def _depth(run: Path) -> int:
    if (run / "config.toml").is_file():
        return config_from_toml((run / "config.toml").read_text(), source=str(run)).model.depth
    cfg = read_checkpoint(run / "best.pt").config
    return config_from_toml(cfg, source=str(run)).model.depth


def rows(out: Path) -> list[dict]:
    found = []
    for client in ("trained", "init"):
        runs = sorted({p.parents[2] for p in (out / client).glob("*/attacks/*/invert.json")})
        for run in runs:
            depth = _depth(run)
            for p in sorted(run.glob("attacks/*/invert.json")):
                rec = json.loads(p.read_text())
                kind = rec["settings"]["kind"]
                if kind not in ORDER:
                    continue
                ci = bootstrap_mean(rec["metrics"]["ssim"])
                found.append({"client": client, "depth": depth, "attack": kind, **rec["mean"], "ssim_low": ci.low,
                              "ssim_high": ci.high, "wall_s": rec.get("attack_wall_s")})
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
        print(f"| {r['client']} | {r['depth']} | {r['attack']} | {_f(r.get('mse'), '.4f')} | {_f(r.get('psnr'), '.2f')} "
              f"| {_f(r.get('ssim'), '.3f')}{ci} | {_f(r.get('ssim_ref'), '.3f')} | {_f(r.get('lpips'), '.3f')} "
              f"| {_f(r['wall_s'], '.0f')} |")
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
