"""The time model against a real TCP run on a tbf-shaped loopback (root only), and the prediction's arithmetic."""

from __future__ import annotations

import pytest

from sflaudit.profiles.run import config_rows, schedule_for
from sflaudit.profiles.shaped import can_shape, predicted, validate, workload_flops
from sflaudit.flags import resolve_config

SETS = ["eval.every=0", "eval.linear_epochs=0", "run.threads=1", "model.depth=1"]


def test_prediction_shares_the_rate_among_the_concurrent_clients():
    cfg = resolve_config(None, "smoke", SETS)
    schedule = schedule_for(cfg)
    row = config_rows(cfg, [1], schedule, memory=False)[0]
    up, down = row[f"step_up_{cfg.ssl.symmetric}"], row[f"step_down_{cfg.ssl.symmetric}"]
    split = predicted(SETS, 3, 0, 8e6, flops=1e30)
    # two clients on one 8 Mbit/s queue: each step moves both clients' bytes, up then down, at 8 Mbit/s in all
    assert split.transfer == pytest.approx(3 * 2 * (up + down) * 8 / 8e6, rel=1e-9)
    assert split.latency == 0.0
    assert split.compute == pytest.approx(0.0, abs=1e-12)


def test_prediction_counts_the_syncs_it_is_given():
    without, with_one = (predicted(SETS, 8, n, 8e6, flops=1e30).transfer for n in (0, 1))
    assert with_one > without


@pytest.mark.skipif(can_shape() is not None, reason=str(can_shape()))
def test_measured_seconds_per_step_on_a_shaped_loopback_are_within_15_percent_of_the_model():
    flops = workload_flops(SETS, 4)
    v = validate(16e6, SETS, 4, flops=flops)
    assert v.bytes_per_step == pytest.approx(3_146_430, rel=0.02)      # analytic 3.1457 MB + headers and state
    assert abs(v.error) <= 0.15, v
