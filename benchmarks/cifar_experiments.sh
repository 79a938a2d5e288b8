#!/usr/bin/env bash
# Real-CIFAR-10 experiments for the closing note (CPU, minutes each). Run from the repo root:
#   bash benchmarks/cifar_experiments.sh [OUT_DIR]
# 1. both methods at depth 15 with the paper's client setting (20 clients, 25% sampling, non-IID 0.2), one equal
#    budget (narrow ResNet-18 so it fits a 2-core CPU); kNN curves and divergences land in metrics.jsonl;
#    then prints per method the kNN by epoch, the linear probe, the wall time and the mean sync divergences.
# (The decoder attack at depths 1, 5, 9, 13, 17 on randomly initialised width-1 ResNet-18 clients, once part 2 of
# this script, is benchmarks/attack_depths.py.)
set -euo pipefail
export GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184
OUT=${1:-runs/cifar}
DATA="npz:$(cd "$(dirname "$0")/../../shared/data/cifar10" && pwd)"
EPOCHS=${EPOCHS:-3}          # base epochs; × 4 (1 / 25% sampling) = effective epochs
COMMON=(--preset paper-resnet18-20c --set "data.dataset=\"$DATA\"" --set model.width=0.25 --depth 15
        --set optim.epochs="$EPOCHS" --set optim.client_schedule=per_epoch --set eval.bank_size=10000
        --set eval.every=1 --set eval.linear_epochs=10 --set run.ckpt_every=500)
for method in monacosfl mocosfl; do
  sflaudit train "${COMMON[@]}" --method "$method" --out "$OUT/$method-d15"
done
python - "$OUT" <<'PY'
import sys
from pathlib import Path
from sflaudit.artifacts import RunDir
from sflaudit.jobs import stored_config
from sflaudit.runs import read_jsonl
from sflaudit.stages import eval_id
out = Path(sys.argv[1])
for method in ("monacosfl", "mocosfl"):
    run = RunDir(out / f"{method}-d15")
    rows = read_jsonl(run.metrics)
    knn = [(r["epoch"] + 1, r["knn"]) for r in rows if r["type"] == "eval"]
    syncs = [r for r in rows if r["type"] == "sync"]
    mean = lambda k: sum(r[k] for r in syncs) / len(syncs)
    s = run.read_summary()
    probe = run.read_eval(eval_id(stored_config(run).eval))   # the linear probe `sflaudit train` ran after training
    print(f"{method}: kNN by epoch {knn}; linear probe best {probe and probe.linear_probe_best}, last "
          f"{probe and probe.linear_probe_last}; wall {s.wall_time_s:.0f}s; mean divergences over {len(syncs)} syncs: "
          + ", ".join(f"{k} {mean(k):.3g}" for k in ("ol-og/mean", "ol-ml/mean", "ml-mg/mean", "ol-ml/after")))
PY
