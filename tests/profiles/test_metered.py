"""The analytic run traffic equals what the metered link records in a real (smoke) run, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profiles.traffic import run_traffic_for_schedule, state_dict_bytes, wire_dtype_bytes
from sflaudit.config import load_config
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
