"""One ``sflaudit invert`` attack on a run directory's best checkpoint, unless the run already holds its result.

The resumable attack loops of ``attack_suite.sh``, ``aux_budget.sh`` and ``substitute_cost.sh`` call this instead
of ``sflaudit invert``: the attack's settings are the checkpoint's own ``attack`` section with the given fields
replaced (exactly as ``sflaudit invert`` builds them), and a result with the same attack id is kept rather than
recomputed (``run_invert(..., reuse=True)``). The checkpoint's path and the attack id come from the package
(:class:`sflaudit.artifacts.RunDir`, :func:`sflaudit.stages.attack_id`), so no script spells them.

    python benchmarks/invert_once.py runs/x/init/d5 --attack decoder [--epochs 10] [--aux-fraction 0.01] \
        [--patience 8]

Prints one line: ``kept`` (already there) or ``done``, with the attack, depth, SSIM and the result's attack id.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sflaudit.artifacts import RunDir
from sflaudit.attacks.job import invert_settings, run_invert
from sflaudit.errors import SflauditError
from sflaudit.stages import attack_id


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="run directory (e.g. one benchmarks/init_checkpoint.py wrote)")
    ap.add_argument("--attack", required=True, help="prior | decoder | hybrid | substitute | whitebox")
    ap.add_argument("--epochs", type=int, default=None, help="decoder epochs (default: the checkpoint's)")
    ap.add_argument("--aux-fraction", type=float, default=None, help="attacker's share of the training split")
    ap.add_argument("--patience", type=int, default=None, help="decoder early-stop patience (0 = every epoch)")
    args = ap.parse_args(argv)
    run = RunDir(args.run)
    try:
        settings = invert_settings(run.best, kind=args.attack, epochs=args.epochs, aux_fraction=args.aux_fraction,
                                   patience=args.patience)
        kept = run.read_attack(attack_id(settings)) is not None
        rec = run_invert(run.best, settings, reuse=True)
    except SflauditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{'kept' if kept else 'done'}: {rec.settings['kind']} at depth {rec.run['depth']}, "
          f"SSIM {rec.mean['ssim']:.3f} ({rec.attack_id})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
