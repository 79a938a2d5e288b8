"""Default decoder attack (early stop) against the full 50-epoch schedule: SSIM, epochs and wall time per depth.

The speed issue's item 2: the default attack stops the decoder once ``attack.patience`` (12) epochs in a row have
improved neither its validation MSE nor its validation SSIM (:mod:`sflaudit.attacks.stopping`), and keeps the
best-validation-MSE decoder either way. This script runs, per depth, the default and the same attack with
``patience=0`` (all 50 epochs; what ``--faithful`` also runs), both from seed 0 through
:func:`sflaudit.attacks.inversion.decoder_attack` (the real code path), and prints SSIM (scikit-image's, the page's
default), PSNR, the epochs run, the best epoch and the wall time of each.

Setting (protocol §5, as ``benchmarks/attack_speed.py``): width-1 random-init ResNet-18 client, 500 auxiliary images
(450 train / 50 validation), 128 targets, batch 32, ``res_normN4C64``. Data: real CIFAR-10 from
``../shared/data/cifar10`` when present, else the embedded ``photos`` dataset.

    GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184 \
        python benchmarks/early_stop.py [--depths 1,9,17] [--threads 0] [--patience 12]
    python benchmarks/early_stop.py --curves runs/early_stop_curves.json [--seeds 0,1]

``--curves`` runs only the full schedule and records, per epoch, the validation MSE and SSIM the stopping rule sees
and the SSIM on the targets of that epoch's decoder (the same training as
:func:`sflaudit.attacks.decoder_fit.fit_decoder`: same split, init and batch order). An early-stopped run is this run
truncated (tests/attacks/test_inversion.py), so the default's result is read off the curves exactly:
:func:`sflaudit.attacks.stopping.should_stop` gives its last epoch, and it keeps the best-validation-MSE epoch among
those it ran. The default attack's data comes from ``benchmarks/common.py`` (shared with ``attack_speed.py``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from common import default_attack_data, to_channels_last
from sflaudit.attacks.decoders import build_decoder
from sflaudit.attacks.decoder_fit import decode, split_train_val, train_decoder
from sflaudit.attacks.inversion import attack_pairs, client_activations, decoder_attack
from sflaudit.attacks.metrics import ssim_skimage
from sflaudit.attacks.stopping import patience_epochs, should_stop
from sflaudit.models import split_model

EPOCHS = 50
TOLERANCE = 0.01     # the target: the fast default's SSIM within 0.01 of the full run's


def one_attack(depth: int, aux: torch.Tensor, targets: torch.Tensor, mean: tuple, std: tuple,
               patience: int) -> dict[str, float]:
    """Decoder attack on a random-init width-1 ResNet-18 client cut at ``depth``; metrics, epochs, seconds."""
    torch.manual_seed(0)
    client = split_model("resnet18", depth, width=1.0).client.eval().requires_grad_(False)
    start = time.perf_counter()
    r = decoder_attack(client, aux, targets, mean=mean, std=std, epochs=EPOCHS, batch=32, seed=0,
                       patience=patience)
    return {"ssim": float(r.metrics["ssim_mean"]), "psnr": float(r.metrics["psnr_mean"]), "epochs": len(r.val_loss),
            "best": r.best_epoch, "wall_s": time.perf_counter() - start}


def curve(depth: int, aux: torch.Tensor, targets: torch.Tensor, mean: tuple, std: tuple,
          seed: int) -> dict:
    """Full-schedule decoder training at ``depth``: per epoch the validation MSE and the targets' mean SSIM."""
    start = time.perf_counter()
    torch.manual_seed(0)
    client = split_model("resnet18", depth, width=1.0).client.eval().requires_grad_(False)
    aux_in, aux_gt, tgt_in, tgt_gt = attack_pairs(aux, targets, mean, std, faithful=False)
    acts, tgt_acts = client_activations(client, aux_in), client_activations(client, tgt_in)
    generator = torch.Generator().manual_seed(seed)
    train_idx, val_idx = split_train_val(acts.shape[0], faithful=False, generator=generator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_decoder("res_normN4C64", acts.shape[1], acts.shape[2], aux_gt.shape[-1])
    net = net.to(memory_format=torch.channels_last)
    setup_s = time.perf_counter() - start
    ssims: list[float] = []
    epoch_s: list[float] = []
    mark = [time.perf_counter()]   # end of the last scoring: an epoch's seconds leave the targets' scoring out

    def score(_: dict) -> None:
        epoch_s.append(time.perf_counter() - mark[0])
        ssims.append(float(ssim_skimage(decode(net, tgt_acts), tgt_gt).mean()))
        mark[0] = time.perf_counter()

    _, train_loss, val_loss, _, _, val_ssim = train_decoder(
        net, to_channels_last(acts), to_channels_last(aux_gt), train_idx, val_idx, epochs=EPOCHS, batch=32, lr=1e-3,
        faithful=False, generator=generator, progress=score)
    return {"val_loss": val_loss, "val_ssim": val_ssim, "train_loss": train_loss, "ssim": ssims,
            "epoch_s": epoch_s, "setup_s": setup_s}


def replay(c: dict, patience: int, steps_per_epoch: int, *, ssim: bool = True) -> tuple[int, int]:
    """(last epoch, kept epoch) of an early-stopped run with ``patience``, read off a full run's curves
    (``ssim=False``: the rule before sflaudit 0.3, progress = a better validation MSE only)."""
    wait = patience_epochs(patience, steps_per_epoch)
    stop = next((e for e in range(1, EPOCHS + 1)
                 if should_stop(c["val_loss"][:e], c["val_ssim"][:e] if ssim else [], wait)), EPOCHS)
    kept = min(range(stop), key=lambda i: c["val_loss"][i]) + 1
    return stop, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", default="1,9,17")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    parser.add_argument("--patience", type=int, default=12, help="the default's patience (attack.patience)")
    parser.add_argument("--curves", type=Path, help="record per-epoch curves of the full schedule to this JSON")
    parser.add_argument("--seeds", default="0", help="--curves: decoder seeds")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    aux, targets, mean, std, source = default_attack_data()
    print(f"data: {source}; 500 aux, 128 targets, batch 32, res_normN4C64, {EPOCHS} epochs; "
          f"torch threads {torch.get_num_threads()}; ATen capability {torch.backends.cpu.get_cpu_capability()}")
    if args.curves:
        doc = json.loads(args.curves.read_text()) if args.curves.is_file() else {}
        for depth in (int(d) for d in args.depths.split(",")):
            for seed in (int(v) for v in args.seeds.split(",")):
                key = f"d{depth}s{seed}"
                if key not in doc:   # resumable: finished curves are kept
                    doc[key] = curve(depth, aux, targets, mean, std, seed)
                    args.curves.parent.mkdir(parents=True, exist_ok=True)
                    tmp = args.curves.with_suffix(".tmp")
                    tmp.write_text(json.dumps(doc))
                    tmp.replace(args.curves)
                c = doc[key]
                full = min(range(EPOCHS), key=lambda i: c["val_loss"][i]) + 1
                stop, kept = replay(c, args.patience, 15)   # 450 training pairs at batch 32: 15 steps per epoch
                secs = sum(c["epoch_s"][:stop]) + c["setup_s"]
                gap = c["ssim"][kept - 1] - c["ssim"][full - 1]
                print(f"{key}: full run kept epoch {full}, SSIM {c['ssim'][full - 1]:.4f}, "
                      f"{sum(c['epoch_s']) + c['setup_s']:.0f} s | patience {args.patience}: stops after {stop}, "
                      f"keeps {kept}, SSIM {c['ssim'][kept - 1]:.4f} ({gap:+.4f}, "
                      f"{'within' if abs(gap) <= TOLERANCE else 'OUTSIDE'} {TOLERANCE}), {secs:.0f} s", flush=True)
                old_stop, old_kept = replay(c, 8, 15, ssim=False)
                print(f"{'':>{len(key)}}  old rule (patience 8, MSE only): stops after {old_stop}, keeps {old_kept}, "
                      f"SSIM {c['ssim'][old_kept - 1] - c['ssim'][full - 1]:+.4f}, "
                      f"{sum(c['epoch_s'][:old_stop]) + c['setup_s']:.0f} s", flush=True)
        return
    print(f"{'depth':>5} {'run':>14} {'epochs':>6} {'best':>4} {'SSIM':>7} {'PSNR':>6} {'wall s':>7}")
    for depth in (int(d) for d in args.depths.split(",")):
        fast = one_attack(depth, aux, targets, mean, std, args.patience)
        full = one_attack(depth, aux, targets, mean, std, 0)
        for name, r in ((f"patience {args.patience}", fast), ("full", full)):
            print(f"{depth:>5} {name:>14} {r['epochs']:>6} {r['best']:>4} {r['ssim']:>7.4f} {r['psnr']:>6.2f} "
                  f"{r['wall_s']:>7.1f}", flush=True)
        gap = fast["ssim"] - full["ssim"]
        print(f"{depth:>5} {'difference':>14} {'':>6} {'':>4} {gap:>+7.4f} {fast['psnr'] - full['psnr']:>+6.2f} "
              f"{fast['wall_s'] / full['wall_s']:>6.2f}× {'within' if abs(gap) <= TOLERANCE else 'OUTSIDE'} "
              f"{TOLERANCE}", flush=True)


if __name__ == "__main__":
    main()
