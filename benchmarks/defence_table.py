"""The defence table of docs/results.md, read from finished report cells (benchmarks/defence_table.sh runs them).

    python benchmarks/defence_table.py RUNS_DIR [RUNS_DIR …]

Every run directory below the given folders whose training finished is one row: kNN (the monitor's best, Wilson
95 % interval over the test images), the linear probe of the cell's own eval settings, the SSIM of every attack run
on it (mean over the targets) and the worst case (highest SSIM, naming its attack), the up-link activation bytes per
step — measured on the wire (the run's traffic record) beside the analytic count (its profile) — and dCor(x, h), the
distance correlation between 512 test images and the activations the server receives (defences applied, the same
draw for every cell), which NoPeek lowers. Printed as a Markdown table.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

import torch
from scipy.stats import binomtest

from common import attack_records, finished_runs
from sflaudit.artifacts import RunDir
from sflaudit.attacks.job import TARGET_SEED
from sflaudit.config import Config, config_to_dict
from sflaudit.data import load_dataset
from sflaudit.errors import SflauditError
from sflaudit.jobs import stored_config
from sflaudit.sfl.checkpoint import read_checkpoint
from sflaudit.sfl.dcor import distance_correlation
from sflaudit.sfl.defences import defended
from sflaudit.sfl.setup import load_client0, to_nchw
from sflaudit.stages import eval_id

DCOR_IMAGES = 512


def _setting(cfg: Config) -> str:
    """The cell's ``defence.*`` values that differ from the defaults, e.g. ``noise=0.3`` (``none``: no defence)."""
    given, default = config_to_dict(cfg)["defence"], config_to_dict(Config())["defence"]
    changed = [f"{k}={v}" for k, v in given.items() if v != default.get(k)]
    return ", ".join(changed) or "none"


@lru_cache(maxsize=None)
def _dcor_images(spec: str) -> tuple[torch.Tensor, object]:
    """The fixed 512 test images of dataset ``spec`` in [0, 1] and the dataset (loaded once for every row)."""
    ds = load_dataset(spec)
    idx = torch.randperm(len(ds.test.y), generator=torch.Generator().manual_seed(TARGET_SEED))[:DCOR_IMAGES]
    return to_nchw(ds.test.x)[idx].float().div(255), ds


def _dcor(run: RunDir, cfg: Config) -> float:
    x, ds = _dcor_images(cfg.data.dataset)
    mean, std = torch.tensor(ds.mean).view(1, 3, 1, 1), torch.tensor(ds.std).view(1, 3, 1, 1)
    client = load_client0(read_checkpoint(run.best), cfg, input_size=x.shape[-1], device=torch.device("cpu"))
    client = defended(client, cfg.defence, wire_dtype=cfg.sfl.wire_dtype, seed=0)
    with torch.no_grad():
        h = client((x - mean) / std)
    return float(distance_correlation(x.flatten(1).double(), h.flatten(1).double()))


def row(run: RunDir) -> dict:
    """One finished cell: its defence setting, accuracy, attacks, measured and analytic bytes, dCor, train time."""
    cfg = stored_config(run)
    summary, traffic, profile = run.read_summary(), run.read_traffic(), run.read_profile()
    if summary is None or traffic is None or profile is None:
        raise SflauditError(f"{run.path} lacks its summary, traffic or profile; re-run its report")
    evaluation = run.read_eval(eval_id(cfg.eval))     # the linear probe of the cell's own eval settings
    knn = summary.knn_best
    n_test = evaluation.test_images if evaluation else None
    knn_ci = (binomtest(round(knn * n_test / 100), n_test).proportion_ci(method="wilson")
              if n_test and knn is not None else None)
    ssim = {rec.settings["kind"]: rec.mean["ssim"] for rec in attack_records(run)}
    worst = max(ssim, key=ssim.get) if ssim else None
    analytic = profile.analytic_traffic
    return {"cell": run.path.name, "defence": _setting(cfg), "knn": knn,
            "knn_ci": (100 * knn_ci.low, 100 * knn_ci.high) if knn_ci else None,
            "probe": evaluation.linear_probe_best if evaluation else None, "ssim": ssim, "worst": worst,
            "act_up_measured": traffic.by_kind["query"]["up"] // traffic.steps,
            "act_up_analytic": analytic["by_kind"]["query"]["up"] // analytic["steps"],
            "client_mib": profile.client_run_up / 2**20 + profile.client_run_down / 2**20,
            "dcor": _dcor(run, cfg), "train_s": summary.wall_time_s}


def _f(x: float | None, fmt: str) -> str:
    return "–" if x is None else format(x, fmt)


def main(argv: list[str]) -> int:
    runs = finished_runs(Path(root) for root in argv)
    if not runs:
        print("error: no finished cells (run directories whose training completed) under " + " ".join(argv),
              file=sys.stderr)
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
        print(f"| {r['defence']} | {_f(r['knn'], '.1f')}{ci} | {_f(r['probe'], '.1f')} | "
              + " | ".join(f"{r['ssim'][k]:.3f}" if k in r["ssim"] else "–" for k in kinds)
              + f" | {worst} | {r['act_up_measured']:,} {same} {r['act_up_analytic']:,} | {r['client_mib']:.0f} | "
              f"{r['dcor']:.3f} | {r['train_s']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
