"""Decoder attack across ResNet-18 depths on real CIFAR-10 (random-init width-1 clients): does the leak fall?

For each depth: 1% of the CIFAR-10 training split as auxiliary data (500 images), ``res_normN4C64``, Adam 1e-3,
batch 32, the given epochs, 128 fixed test targets; prints MSE / PSNR / SSIM / LPIPS and writes the reconstruction
grid ``attack_d<depth>.png`` into --out.

    python benchmarks/attack_depths.py --depths 1,5,9,13,17 --epochs 20 --out runs/attack_depths
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from common import dataset_spec
from sflaudit.attacks.inversion import decoder_attack
from sflaudit.attacks.job import attack_indices, png_bytes, reconstruction_grid
from sflaudit.attacks.metrics import LpipsScorer
from sflaudit.data import load_dataset
from sflaudit.models import split_model
from sflaudit.runs import atomic_write_bytes
from sflaudit.sfl.setup import to_nchw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depths", default="1,5,9,13,17")
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--out", type=Path, default=Path("runs/attack_depths"))
    args = ap.parse_args()
    ds = load_dataset(dataset_spec())   # CIFAR-10 from ../shared/data/cifar10 when present, else photos
    train, test = to_nchw(ds.train.x), to_nchw(ds.test.x)
    aux_idx, tgt_idx = attack_indices(train.shape[0], test.shape[0], 0.01, 128)
    lpips = LpipsScorer.load()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"dataset {ds.name}: {len(aux_idx)} aux, {len(tgt_idx)} targets, {args.epochs} epochs, random-init clients")
    print(f"{'depth':>5} {'act':>10} {'MSE':>8} {'PSNR':>7} {'SSIM':>6} {'LPIPS':>6} {'wall s':>7}")
    rows = []
    for depth in [int(d) for d in args.depths.split(",")]:
        torch.manual_seed(0)
        client = split_model("resnet18", depth, width=1.0).client.eval().requires_grad_(False)
        res = decoder_attack(client, train[aux_idx], test[tgt_idx], mean=ds.mean, std=ds.std, epochs=args.epochs,
                             seed=1138, lpips=lpips)
        m = res.metrics
        lp = m["lpips_mean"] if m.get("lpips_mean") is not None else float("nan")
        act = "×".join(map(str, res.activation_shape))
        print(f"{depth:>5} {act:>10} {m['mse_mean']:>8.4f} {m['psnr_mean']:>7.2f} {m['ssim_mean']:>6.3f} "
              f"{lp:>6.3f} {res.wall_s:>7.1f}", flush=True)
        grid = reconstruction_grid(res.targets, res.reconstructions)
        atomic_write_bytes(args.out / f"attack_d{depth}.png", png_bytes(grid))
        rows.append({"depth": depth, "mse": m["mse_mean"], "psnr": m["psnr_mean"], "ssim": m["ssim_mean"],
                     "lpips": m.get("lpips_mean"), "wall_s": res.wall_s})
    (args.out / "attack_depths.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
