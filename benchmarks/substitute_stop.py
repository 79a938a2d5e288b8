"""How many substitute steps the FORA attack needs: its MMD curve and the attack's SSIM after 100…1,000 steps.

One full substitute training per checkpoint (``attack.substitute_steps`` of them, default 1,000), measured on the
attack's own fixed MMD sets every :data:`sflaudit.attacks.substitute_fit.EVAL_EVERY` steps. At each ``--snapshots``
step the substitute the attack would keep if it stopped there (the lowest point of the curve so far) is copied; each
copy then gets the attack's inverse network (``attack.epochs`` of the checkpoint, or ``--epochs``) and its
reconstructions are scored against the targets. A run stopped at step s is this run truncated (the curve's steps are
fixed, the batches come from one seeded generator), so the table says exactly what a stop at s costs in SSIM and
saves in time.

Also printed, for diagnosis only (an attacker without the targets cannot compute it): the SSIM of the
reconstructions negated (reflected through the normalisation mean: what the inverse network gives when the
substitute learnt the client fed −x), flipped left to right (the substitute learnt the client fed mirror images,
which the received activations cannot rule out: the clients train on random flips) and both. A high value there
says the substitute matched the client up to that symmetry.

    python benchmarks/substitute_stop.py runs/sub/init/d9/best.pt … --attack epochs=10 --out runs/sub/stop.json

Results are appended to ``--out`` per checkpoint (an existing entry is kept, so an interrupted run resumes).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import torch

from sflaudit.attacks.job import attack_indices, served_client
from sflaudit.attacks.metrics import negated, ssim_skimage
from sflaudit.attacks.substitute import BATCH_SEED_OFFSET, attack_models, invert_through, observe
from sflaudit.attacks.substitute_fit import train_substitute
from sflaudit.config import config_from_toml
from sflaudit.data import load_dataset
from sflaudit.sfl.checkpoint import read_checkpoint
from sflaudit.sfl.setup import to_nchw


def symmetric_ssims(recon: torch.Tensor, truth: torch.Tensor, mean: tuple) -> dict[str, float]:
    """Mean SSIM of the N×3×H×W reconstructions as they are and under the symmetries the attack cannot resolve."""
    forms = {"ssim": recon, "ssim_negated": negated(recon, mean), "ssim_flipped": recon.flip(-1),
             "ssim_negated_flipped": negated(recon, mean).flip(-1)}
    return {k: round(float(ssim_skimage(v, truth).mean()), 4) for k, v in forms.items()}


def measure(checkpoint: Path, snapshots: list[int], attack: dict[str, str]) -> dict:
    """One checkpoint with ``attack.*`` fields replaced: the MMD curve, and per snapshot step the kept curve point,
    SSIMs and seconds."""
    state = read_checkpoint(checkpoint)
    cfg = config_from_toml(state.config, source=str(checkpoint))
    cfg = replace(cfg, attack=replace(cfg.attack, **{k: type(getattr(cfg.attack, k))(v) for k, v in attack.items()}))
    a = cfg.attack
    ds = load_dataset(cfg.data.dataset, data_dir=cfg.data.data_dir or None, download=False,
                      image_size=cfg.data.image_size)
    train, test = to_nchw(ds.train.x), to_nchw(ds.test.x)
    client = served_client(state, cfg, checkpoint, int(train.shape[-1]))   # as run_invert: defences applied
    aux_idx, tgt_idx = attack_indices(train.shape[0], test.shape[0], a.aux_fraction, a.targets)
    start = time.perf_counter()
    inputs, truth = observe(client, cfg, train, test, aux_idx, tgt_idx, mean=ds.mean, std=ds.std)
    del client
    seed = cfg.run.seed
    sub, critic = attack_models(inputs, seed, torch.device("cpu"))
    best: dict = {"mmd": float("inf"), "state": None}
    kept: dict[int, tuple[int, float, dict, float]] = {}

    def snap(event: dict) -> None:
        step, mmd = int(event["step"]), float(event["mmd"])
        if mmd < best["mmd"]:
            best.update(mmd=mmd, step=step, state={k: v.detach().clone() for k, v in sub.state_dict().items()})
        if step in snapshots:
            kept[step] = (best["step"], best["mmd"], best["state"], time.perf_counter() - start)

    steps = max(snapshots)
    curve = train_substitute(sub, critic, inputs.aux_inputs, inputs.observed, steps=steps, batch=a.batch,
                             lr=a.substitute_lr, generator=torch.Generator().manual_seed(seed + BATCH_SEED_OFFSET),
                             progress=snap)
    rows = []
    for step in sorted(kept):
        best_step, mmd, weights, sub_s = kept[step]
        sub.load_state_dict(weights)
        t0 = time.perf_counter()
        out = invert_through(sub, inputs, decoder=a.decoder, epochs=a.epochs, batch=a.batch, lr=a.lr,
                             patience=a.patience, seed=seed, faithful=bool(a.faithful))
        inverse_s = time.perf_counter() - t0
        rows.append({"stop": step, "kept": best_step, "mmd": round(mmd, 6),
                     **symmetric_ssims(out.reconstructions, truth, ds.mean),
                     "substitute_s": round(sub_s, 1), "inverse_s": round(inverse_s, 1)})
        print(f"  {checkpoint} stop {step:5d} kept {best_step:5d} MMD² {mmd:.5f}  "
              + "  ".join(f"{k} {v:.3f}" for k, v in rows[-1].items() if k.startswith("ssim"))
              + f"  {sub_s:.0f}+{inverse_s:.0f} s", flush=True)
    return {"depth": cfg.model.depth, "epochs": a.epochs, "threads": torch.get_num_threads(),
            "cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY", "native"),
            "curve": [[s, round(v, 6)] for s, v in curve], "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--snapshots", default="100,200,300,500,1000")
    ap.add_argument("--attack", action="append", default=[], metavar="FIELD=VALUE",
                    help="replace an attack.* setting of the checkpoint's config (e.g. epochs=10)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    snapshots = sorted({int(s) for s in args.snapshots.split(",")})
    for ckpt in args.checkpoints:
        done = json.loads(args.out.read_text()) if args.out.is_file() else {}
        key = f"{ckpt}|{args.snapshots}|{','.join(sorted(args.attack))}"
        if key in done:
            continue
        result = measure(ckpt, snapshots, dict(kv.split("=", 1) for kv in args.attack))
        done = json.loads(args.out.read_text()) if args.out.is_file() else {}   # another process may have added
        done[key] = result
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(done, indent=1))
        tmp.replace(args.out)


if __name__ == "__main__":
    main()
