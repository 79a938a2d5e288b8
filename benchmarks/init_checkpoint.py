"""Random-init checkpoints: what a run's client and server are before the first step, as ``best.pt`` files that
``sflaudit invert`` attacks like any finished run (the "random-init" rows of the attack-suite table).

    python benchmarks/init_checkpoint.py --preset cifar10-cpu --method monacosfl --depths 1,5,9 --out runs/x/init

Each ``<out>/d<depth>/`` gets the checkpoint of a Trainer built from the preset at that depth (the seeded
initialisation every run of that config starts from); an existing file is kept.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sflaudit.artifacts import RunDir
from sflaudit.config import load_config
from sflaudit.sfl.checkpoint import write_checkpoint
from sflaudit.sfl.trainer import Trainer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cifar10-cpu")
    ap.add_argument("--method", default="monacosfl")
    ap.add_argument("--depths", default="1,5,9,13,17")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    for depth in [int(d) for d in args.depths.split(",")]:
        run = RunDir(args.out / f"d{depth}")
        if run.best.is_file():
            continue
        cfg = load_config(preset=args.preset, overrides=[f"sfl.method={args.method}", f"model.depth={depth}"])
        write_checkpoint(Trainer(cfg, run.path).weights(), run.best)
        print(f"wrote {run.best}")


if __name__ == "__main__":
    main()
