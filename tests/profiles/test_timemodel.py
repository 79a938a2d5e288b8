"""Time model: exact tiny steps and syncs (max over clients, RTT per round trip), runs, and ``profile --link``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sflaudit.profiles.links import Link
from sflaudit.profiles.table import profile_rows
from sflaudit.profiles.timemodel import (
    Node,
    StepWork,
    TimeSplit,
    row_run_time,
    run_hours,
    run_time,
    step_time,
    step_work,
    sync_time,
    time_columns,
)
from sflaudit.config import load_config
from sflaudit.sfl.schedule import Schedule

MB = 1_000_000
# 1 MB up and 2 MB down per step; forward 0.5 GMAC (1 GFLOP), backward 1 GMAC; server 1 GMAC
WORK = StepWork(client_forward_macs=5e8, client_backward_macs=1e9, server_macs=1e9, up_bytes=MB, down_bytes=2 * MB)
LINK = Link(up_bps=8e6, down_bps=16e6, rtt_s=0.1)       # 1 MB up = 1 s, 2 MB down = 1 s


def test_step_time__one_client_adds_up_the_protocol_order() -> None:
    t = step_time(WORK, [Node(1e9, LINK)], server_flops=1e10)
    # forward 1 s + up 1 s + rtt/2 | server 0.2 s | rtt/2 + down 1 s + backward 2 s
    assert (t.compute, t.transfer, t.latency) == pytest.approx((3.2, 2.0, 0.1))
    assert t.total == pytest.approx(5.3) and t.bottleneck == "compute"


def test_step_time__server_waits_for_the_slowest_client_of_each_phase() -> None:
    slow_up = Node(1e9, Link(up_bps=1.6e6, down_bps=16e6, rtt_s=0.1))    # up 5 s
    slow_device = Node(0.25e9, LINK)                                     # forward 4 s, backward 8 s
    t = step_time(WORK, [slow_up, slow_device], server_flops=1e10)
    up = max(1 + 5 + 0.05, 4 + 1 + 0.05)              # slow_up: 6.05
    down = max(0.05 + 1 + 2, 0.05 + 1 + 8)            # slow_device: 9.05
    assert t.total == pytest.approx(up + 0.2 + down)
    assert t.compute == pytest.approx(1 + 0.2 + 8) and t.transfer == pytest.approx(5 + 1)
    alone = [step_time(WORK, [n], server_flops=1e10).total for n in (slow_up, slow_device)]
    assert t.total > max(alone)


def test_step_time__one_round_trip_whatever_the_pool_size() -> None:
    pool = [Node(1e9, LINK)] * 5
    assert step_time(WORK, pool, server_flops=1e10).latency == pytest.approx(0.1)


def test_sync_time__pool_uploads_then_every_client_downloads() -> None:
    pool = [Node(1e9, LINK)]
    idle_slow = Node(1e9, Link(up_bps=8e6, down_bps=1.6e6, rtt_s=0.1))     # 2 MB down = 10 s
    assert sync_time(2 * MB, 2 * MB, pool).total == pytest.approx(2 + 1 + 0.1)
    with_idle = sync_time(2 * MB, 2 * MB, pool, [idle_slow])
    assert (with_idle.transfer, with_idle.latency) == pytest.approx((2 + 10, 0.1))
    assert step_time(WORK, pool, 1e10) == step_time(WORK, pool, 1e10)     # idle clients never slow a step
    assert sync_time(0, 0, pool) == TimeSplit()


def test_step_work__macs_of_both_sides() -> None:
    w = step_work(10, 5, rows=4, batch=2, pool_size=2, up_bytes=7, down_bytes=3, queue=3, key_dim=2)
    assert (w.client_forward_macs, w.client_backward_macs) == (2 * 4 * 10, 2 * 4 * 10)   # online + momentum
    # R = 2 clients × 2B = 8 rows: (online fwd + 2× bwd + momentum fwd)·5 + logits (K+1)·D fwd and grad
    assert w.server_macs == 8 * (4 * 5 + 2 * 4 * 2)
    assert (w.up_bytes, w.down_bytes) == (7, 3)
    original = step_work(10, 5, rows=2, batch=2, pool_size=2, up_bytes=7, down_bytes=3, queue=3, key_dim=2)
    assert original.server_macs == w.server_macs and original.client_forward_macs == 2 * 2 * 10


def test_run_time__steps_plus_every_planned_sync_and_rtt_per_round_trip() -> None:
    sfl = load_config(None, "smoke", ["sfl.momentum_sync_every=2"]).sfl
    node = Node(1e9, Link(up_bps=8e6, down_bps=8e6, rtt_s=0.1))
    w = StepWork(0, 0, 0, 0, 0)                                            # only syncs cost
    moco = run_time(w, MB, method="mocosfl", steps=3, syncs=4, pool=[node], server_flops=1e10, sfl=sfl)
    mona = run_time(w, MB, method="monacosfl", steps=3, syncs=4, pool=[node], server_flops=1e10, sfl=sfl)
    assert moco.run.latency == pytest.approx((3 + 4) * 0.1)                # one round trip per step and sync
    assert moco.run.transfer == pytest.approx(4 * (1 + 1))                  # 1 MB up + 1 MB down per sync
    assert mona.run.transfer == pytest.approx(2 * (1 + 1) + 2 * (2 + 2))    # momentum too at syncs 2 and 4
    assert mona.sync.transfer == pytest.approx(4) and mona.hours == pytest.approx(mona.run.total / 3600)


@pytest.fixture(scope="module")
def tiny() -> tuple[dict, object, Schedule]:
    cfg = load_config(None, "smoke", ["sfl.clients=4", "sfl.sampling_ratio=0.5", "sfl.batch=4"])
    schedule = Schedule(steps_per_epoch=5, epochs=4, pool_size=2, clients=4, sync_batches=(2, 4), rows_per_client=8)
    row = profile_rows("resnet18", [3], width=0.125, batch=4, steps_per_epoch=5, epochs=4, pool_size=2, clients=4,
                       syncs_per_epoch=2, sfl=cfg.sfl, memory=False)[0]
    return row, cfg, schedule


def test_row_run_time__transfer_is_the_profiled_bytes_of_a_full_time_client(tiny) -> None:
    row, cfg, schedule = tiny
    link = Link(up_bps=10e6, down_bps=50e6, rtt_s=0.04)
    for method in ("mocosfl", "monacosfl"):
        rt = row_run_time(row, cfg, schedule, link, 1e9, 1e12, method)
        expected = 8 * row[f"run_client_up_{method}"] / 10e6 + 8 * row[f"run_client_down_{method}"] / 50e6
        assert rt.run.transfer == pytest.approx(expected, rel=1e-12)
        assert (rt.steps, rt.syncs) == (20, 8) and rt.run.latency == pytest.approx(28 * 0.04)
        assert rt.step.compute == pytest.approx(2 * (4 * 8 * row["client_flops"]) / 1e9 + 2 * 8 * 2 * (
            4 * row["server_flops"] + 2 * (cfg.ssl.K + 1) * 1024) / 1e12)


def test_time_columns_and_run_hours__agree(tiny) -> None:
    row, cfg, schedule = tiny
    link = Link(up_bps=1e6, down_bps=1e6, rtt_s=0.0)
    cols = time_columns(row, cfg, schedule, link, 1e9, 1e12)
    for method in ("mocosfl", "monacosfl"):
        hours = run_hours(row, cfg, link, 1e9, 1e12, method, schedule=schedule)
        assert cols[f"time_run_h_{method}"] == pytest.approx(hours, rel=1e-12)
        parts = sum(cols[f"time_run_{p}_h_{method}"] for p in ("compute", "transfer", "latency"))
        assert parts == pytest.approx(hours, rel=1e-12) and cols[f"time_bottleneck_{method}"] == "transfer"
    assert cols["time_run_h_monacosfl"] > cols["time_run_h_mocosfl"]       # twice the weight copies at syncs


def test_profile_cli__link_gives_hours_per_depth_and_method(tmp_path: Path) -> None:
    from sflaudit.cli import app

    out = tmp_path / "t.json"
    args = ["profile", "--link", "up=10Mbit,down=50Mbit,rtt=40ms", "--depths", "1,17", "--preset",
            "paper-resnet18-20c", "--client-device", "1T", "--no-memory", "--format", "json", "--out", str(out)]
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rows = {r["depth"]: r for r in json.loads(out.read_text())}
    assert set(rows) == {1, 17}
    for method in ("mocosfl", "monacosfl"):
        bytes_ = {d: r[f"run_client_up_{method}"] / 10e6 + r[f"run_client_down_{method}"] / 50e6
                  for d, r in rows.items()}
        hours = {d: r[f"time_run_h_{method}"] for d, r in rows.items()}
        assert (hours[1] > hours[17]) == (bytes_[1] > bytes_[17])            # more bytes on a slow link: slower
        assert rows[1][f"time_bottleneck_{method}"] == "transfer"
    assert rows[1]["time_run_h_mocosfl"] > rows[17]["time_run_h_mocosfl"]  # depth 1: 3× the activation bytes


def test_profile_cli__link_table_names_the_setting() -> None:
    from sflaudit.cli import app

    res = CliRunner().invoke(app, ["profile", "--preset", "paper-resnet18-20c", "--set", "model.width=0.125",
                                   "--depths", "1,3", "--link", "lte", "--server-device", "h100", "--no-memory"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "lte (up=12.6Mbit,down=56.7Mbit,rtt=37ms)" in text and "server h100 (26.8 TFLOP/s)" in text
    assert "hours" in text and "monacosfl" in text and "transfer" in text


def test_profile_cli__device_without_link_is_an_error() -> None:
    from sflaudit.cli import app

    res = CliRunner().invoke(app, ["profile", "--preset", "smoke", "--client-device", "jetson-nano"])
    assert res.exit_code != 0 and "need --link" in str(res.exception)
