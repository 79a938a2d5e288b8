"""The analytic run traffic equals what the metered link records in a real (smoke) run, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sflaudit.profiles.runtraffic import run_traffic_for_schedule
from sflaudit.profiles.traffic import state_dict_bytes, wire_dtype_bytes
from sflaudit.artifacts import RunDir
from sflaudit.config import DefenceConfig, load_config
from sflaudit.models import split_model
from sflaudit.sfl.schedule import plan_schedule
from sflaudit.sfl.trainer import Trainer


@pytest.mark.parametrize(
    ("method", "symmetric", "wire_dtype"),
    [("monacosfl", "client", "float32"), ("mocosfl", "original", "bfloat16")],
)
def test_run_traffic__equals_the_metered_smoke_run(tmp_path: Path, method: str, symmetric: str,
                                                   wire_dtype: str) -> None:
    cfg = load_config(None, "smoke", [f"sfl.method={method}", f"ssl.symmetric={symmetric}",
                                      f"sfl.wire_dtype={wire_dtype}", "optim.epochs=1", "data.fraction=0.03", "eval.every=100",
                                      "eval.linear_epochs=0"])
    trainer = Trainer(cfg, tmp_path)
    schedule = plan_schedule(cfg, len(trainer.data.parts[0]))
    trainer.fit()
    measured = json.loads((tmp_path / "traffic.json").read_text())
    split = split_model(cfg.model.arch, cfg.model.depth, width=cfg.model.width)
    analytic = run_traffic_for_schedule(split.info, state_dict_bytes(split.client), method=method,
                                        schedule=schedule, dtype_bytes=wire_dtype_bytes(wire_dtype)).as_dict()
    for key in ("total", "by_kind", "steps", "syncs", "per_step", "per_sync"):
        assert measured[key] == analytic[key], key
    assert all(v == analytic["client_full"] for v in measured["per_client"].values())


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 train / 16 test random 16×16 images in 4 classes: a run of a few steps, loaded in milliseconds."""
    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    for name, n in (("train", 64), ("test", 16)):
        np.savez(root / f"{name}.npz", x=rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8), y=np.arange(n) % 4)
    return root


def _metered_tiny_run(run_dir: Path, tiny_npz: Path, *overrides: str) -> tuple[Any, Any, Any]:
    """(config, schedule, measured traffic) of a finished run of a few steps on ``tiny_npz``."""
    cfg = load_config(None, "smoke", [f"data.dataset=npz:{tiny_npz}", "data.fraction=1.0", "sfl.batch=4", "ssl.K=16",
                                      "optim.epochs=1", "eval.every=0", "eval.bank_size=16", "eval.knn_k=4",
                                      *overrides])
    trainer = Trainer(cfg, run_dir)
    schedule = plan_schedule(cfg, len(trainer.data.parts[0]))
    trainer.fit()
    return cfg, schedule, RunDir(run_dir).read_traffic()


@pytest.mark.parametrize("depth", [1, 2])                 # odd: one tensor; even (mid-block): two, concatenated
@pytest.mark.parametrize("defence", [
    ["defence.noise=0.5"],
    ["defence.quantize=int8"],
    ["defence.topk=7.5"],                                  # k = ⌈7.5 % · n⌉, n = 2048 or 4096 → 154 / 308 per row
    ["defence.topk=7.5", "defence.quantize=int8"],
    ["defence.topk=30", "sfl.wire_dtype=bfloat16", "ssl.symmetric=original", "sfl.method=mocosfl"],
    ["defence.bottleneck=C2S1"],                           # 8 (depth 1) or 2·8 (depth 2) channels → 2
    ["defence.bottleneck=C4S2", "defence.quantize=int8"],
])
def test_run_traffic__with_a_defence_equals_the_metered_run(tmp_path: Path, tiny_npz: Path, depth: int,
                                                            defence: list[str]) -> None:
    cfg, schedule, measured = _metered_tiny_run(tmp_path, tiny_npz, f"model.depth={depth}", *defence)
    split = split_model(cfg.model.arch, depth, width=cfg.model.width, input_size=16,
                        bottleneck=cfg.defence.bottleneck)
    analytic = run_traffic_for_schedule(split.info, state_dict_bytes(split.client), method=cfg.sfl.method,
                                        schedule=schedule, dtype_bytes=wire_dtype_bytes(cfg.sfl.wire_dtype),
                                        sfl=cfg.sfl, defence=cfg.defence).as_dict()
    assert measured is not None and measured.steps == schedule.steps_per_epoch > 1
    assert measured.matches(analytic)
    assert (measured.per_step, measured.per_sync) == (analytic["per_step"], analytic["per_sync"])
    assert all(v == analytic["client_full"] for v in measured.per_client.values())
    bare = split_model(cfg.model.arch, depth, width=cfg.model.width, input_size=16)
    plain = run_traffic_for_schedule(bare.info, state_dict_bytes(bare.client), method=cfg.sfl.method,
                                     schedule=schedule, dtype_bytes=wire_dtype_bytes(cfg.sfl.wire_dtype),
                                     sfl=cfg.sfl).as_dict()
    assert (measured.by_kind["query"] != plain["by_kind"]["query"]) == (cfg.defence.noise == 0)
    if cfg.defence.bottleneck == "C2S1":                   # bytes fall by the channel ratio 2 / (8·k)
        ratio = 2 / (8 * (2 if depth % 2 == 0 else 1))
        assert measured.by_kind["query"]["up"] == plain["by_kind"]["query"]["up"] * ratio
        assert measured.by_kind["grad"]["down"] == plain["by_kind"]["grad"]["down"] * ratio


@pytest.mark.parametrize("defence", [["defence.canary=2"], ["defence.canary=3", "defence.canary_rows=1",
                                                             "defence.quantize=int8", "ssl.symmetric=original"]])
def test_run_traffic__with_the_canary_detector_counts_its_rows(tmp_path: Path, tiny_npz: Path,
                                                               defence: list[str]) -> None:
    cfg, schedule, measured = _metered_tiny_run(tmp_path, tiny_npz, "model.depth=1", "optim.epochs=2", *defence)
    split = split_model(cfg.model.arch, 1, width=cfg.model.width, input_size=16)
    kw = dict(method=cfg.sfl.method, schedule=schedule, dtype_bytes=wire_dtype_bytes(cfg.sfl.wire_dtype), sfl=cfg.sfl)
    analytic = run_traffic_for_schedule(split.info, state_dict_bytes(split.client), defence=cfg.defence, **kw)
    off = DefenceConfig({**cfg.defence.settings, "canary": 0})
    plain = run_traffic_for_schedule(split.info, state_dict_bytes(split.client), defence=off, **kw)
    assert measured is not None and measured.matches(analytic.as_dict())
    assert all(v == analytic.client_full for v in measured.per_client.values())
    checks = measured.steps // cfg.defence.canary
    assert checks >= 2 and analytic.by_kind["grad"]["down"] > plain.by_kind["grad"]["down"]
