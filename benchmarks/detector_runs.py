"""The canary detector on many short runs: false alarms on honest runs of different seeds, detection (and its
first step) on hijacked ones, with exact binomial (Clopper–Pearson) intervals, and what the checks cost.

Each run is the ``smoke`` preset (2 clients, B 8, ResNet-18 at width 0.125, 32 steps on the embedded photos) with
``defence.canary`` set, honest (``attacker.kind=none``) or hijacked (``attacker.kind=fsha``), seeds 1138, 1139, ….
A run alarms when any of its checks does. Runs are resumable: a finished run directory is read, not retrained.
Cost: bytes of the canary rows from each run's traffic.json against the same run's analytic count without them,
and seconds per step from its summary against an honest run of the same seed without the detector (``--timing``;
timings are only meaningful with nothing else running).

    GLIBC_TUNABLES=… python benchmarks/detector_runs.py --honest 12 --hijacked 6 --every 4 --out runs/detector
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scipy.stats import binomtest

from sflaudit.artifacts import RunDir
from sflaudit.config import load_config
from sflaudit.runs import read_jsonl
from sflaudit.sfl.trainer import Trainer

HIJACK = ["attacker.kind=fsha", "attacker.batch=16", 'attacker.decoder="res_normN0C8"']


def run(out: Path, seed: int, overrides: list[str]) -> RunDir:
    """Train (or reuse) one smoke run of ``seed`` with ``overrides``."""
    cfg = load_config(preset="smoke", overrides=[*overrides, f"run.seed={seed}", "eval.linear_epochs=0"])
    run_dir = RunDir(out)
    if not run_dir.is_complete():
        Trainer(cfg, out).fit()
    return run_dir


def checks(run_dir: RunDir) -> list[dict]:
    return [r for r in read_jsonl(run_dir.metrics) if r.get("type") == "train" and "canary_gap" in r]


def rate(hits: int, n: int) -> str:
    ci = binomtest(hits, n).proportion_ci(confidence_level=0.95, method="exact")
    return f"{hits}/{n} = {hits / n:.2f} [95 % CI {ci.low:.2f}, {ci.high:.2f}]"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--honest", type=int, default=12)
    p.add_argument("--hijacked", type=int, default=6)
    p.add_argument("--every", type=int, default=4, help="defence.canary: check every k-th step")
    p.add_argument("--seed", type=int, default=1138)
    p.add_argument("--threshold", type=float, default=load_config(preset="smoke").defence.canary_threshold,
                   help="alarm when a check's gap is below this (default: defence.canary_threshold's); the runs' "
                        "logged gaps are re-read, so another threshold needs no retraining")
    p.add_argument("--timing", action="store_true", help="also train detector-off twins and compare s/step")
    p.add_argument("--out", type=Path, default=Path("runs/detector"))
    a = p.parse_args()
    detector = [f"defence.canary={a.every}"]
    table = {"honest": [], "hijacked": []}
    for kind, n, extra in (("honest", a.honest, []), ("hijacked", a.hijacked, HIJACK)):
        for i in range(n):
            seed = a.seed + i
            rd = run(a.out / f"{kind}-seed{seed}", seed, [*detector, *extra])
            c = checks(rd)
            alarms = [r["step"] for r in c if r["canary_gap"] < a.threshold]
            entry = {"seed": seed, "checks": len(c), "alarms": len(alarms), "first_alarm": alarms[0] if alarms else None,
                     "min_gap": min(r["canary_gap"] for r in c), "max_gap": max(r["canary_gap"] for r in c),
                     "s_per_step": 1 / rd.read_summary().steps_per_s}
            if a.timing:
                twin = run(a.out / f"{kind}-seed{seed}-off", seed, extra)
                entry["s_per_step_off"] = 1 / twin.read_summary().steps_per_s
            table[kind].append(entry)
            print(json.dumps({"run": kind, **entry}), flush=True)
    honest, hijacked = table["honest"], table["hijacked"]
    print(f"\nchecks every {a.every} steps, smoke preset, alarm below gap {a.threshold:g}")
    print(f"false alarms (honest runs with any alarm): {rate(sum(e['alarms'] > 0 for e in honest), len(honest))}")
    print(f"  honest gaps: {min(e['min_gap'] for e in honest):.3f} … {max(e['max_gap'] for e in honest):.3f}")
    if hijacked:
        print(f"detection (hijacked runs with an alarm): {rate(sum(e['alarms'] > 0 for e in hijacked), len(hijacked))}")
        firsts = [e["first_alarm"] for e in hijacked if e["first_alarm"] is not None]
        print(f"  first alarm at step {min(firsts)}–{max(firsts)}; hijacked gaps ≤ {max(e['max_gap'] for e in hijacked):.2e}")
    if a.timing:
        for kind, rows in table.items():
            if rows:
                ratio = sum(e["s_per_step"] / e["s_per_step_off"] for e in rows) / len(rows)
                print(f"  {kind}: s/step with the detector ÷ without, mean over seeds: {ratio:.3f}")
    (a.out / "detector.json").write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
