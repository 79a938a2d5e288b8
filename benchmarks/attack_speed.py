"""Decoder-attack speed: seconds per epoch at ResNet-18 depths 1 and 11, and the projected default attack time.

Setting of the default attack (protocol §5): width 1, random-init client, 500 auxiliary images (450 train / 50
validation), batch 32, ``res_normN4C64``, 128 targets. Runs a few epochs through :func:`sflaudit.attacks.inversion.
decoder_attack` (the real code path), times each epoch from the progress callback, and projects
``setup + 50 · median epoch + finish`` (setup = activations; finish = reconstructing targets + metrics).

Data: real CIFAR-10 from ``../shared/data/cifar10`` (train.npz / test.npz) relative to the repository root when
present, else the embedded ``photos`` dataset.

    python benchmarks/attack_speed.py [--epochs 3] [--threads 0] [--depths 1,11]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from common import default_attack_data
from sflaudit.attacks.inversion import decoder_attack
from sflaudit.models import split_model

BUDGET_S = 300.0     # the default attack should finish within 5 minutes on a 2-core CPU
DEFAULT_EPOCHS = 50


def measure(depth: int, aux: torch.Tensor, targets: torch.Tensor, mean: tuple, std: tuple,
            epochs: int) -> dict[str, float]:
    """Time a short decoder attack on a random-init ResNet-18 width-1 client cut at ``depth``."""
    torch.manual_seed(0)
    client = split_model("resnet18", depth, width=1.0).client.eval().requires_grad_(False)
    stamps: list[float] = []
    start = time.perf_counter()
    result = decoder_attack(client, aux, targets, mean=mean, std=std, epochs=epochs, batch=32, seed=0,
                            progress=lambda _: stamps.append(time.perf_counter()))
    end = time.perf_counter()
    epoch_s = [b - a for a, b in zip(stamps, stamps[1:])]
    first = stamps[0] - start   # setup (pairs, activations, decoder) + epoch 1
    per_epoch = statistics.median(epoch_s) if epoch_s else first
    setup = max(0.0, first - per_epoch)
    finish = end - stamps[-1]
    return {"per_epoch": per_epoch, "setup": setup, "finish": finish,
            "projected": setup + DEFAULT_EPOCHS * per_epoch + finish,
            "activation": result.activation_shape}  # type: ignore[dict-item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs actually run per depth (≥ 2)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    parser.add_argument("--depths", default="1,11")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    aux, targets, mean, std, source = default_attack_data()
    print(f"data: {source}; 500 aux (450 train / 50 val), 128 targets, batch 32, res_normN4C64; "
          f"torch threads {torch.get_num_threads()}")
    print(f"{'depth':>5} {'activation':>12} {'s/epoch':>8} {'setup s':>8} {'finish s':>8} "
          f"{'50-epoch s':>10} {'vs 300 s':>8}")
    for depth in (int(d) for d in args.depths.split(",")):
        r = measure(depth, aux, targets, mean, std, max(2, args.epochs))
        act = "×".join(str(v) for v in r["activation"])  # type: ignore[union-attr]
        print(f"{depth:>5} {act:>12} {r['per_epoch']:>8.2f} {r['setup']:>8.2f} {r['finish']:>8.2f} "
              f"{r['projected']:>10.0f} {r['projected'] / BUDGET_S:>7.2f}×", flush=True)


if __name__ == "__main__":
    main()
