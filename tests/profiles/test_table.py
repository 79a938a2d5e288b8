"""profile_rows: one row per depth with shapes, params, FLOPs, bytes (step/sync/run), reference MB, memory."""

from __future__ import annotations

import json

import pytest

from sflaudit.profiles.table import profile_rows
from sflaudit.errors import SflauditError

# 20-client setting (protocol §7.1): B 20, 125 steps/epoch, 800 effective epochs, 5 clients per epoch, 11 syncs.
SCHEDULE = {"batch": 20, "steps_per_epoch": 125, "epochs": 800, "pool_size": 5, "clients": 20, "syncs_per_epoch": 11}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return profile_rows("resnet18", [2, 11], **SCHEDULE)


def test_profile_rows__one_row_per_depth_in_order(rows: list[dict]) -> None:
    assert [r["depth"] for r in rows] == [2, 11]
    assert rows[1]["client_layers"] == ["stem", "layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0"]


def test_profile_rows__shapes_params_and_flops(rows: list[dict]) -> None:
    row = rows[1]
    assert row["sent"] == [[256, 8, 8]]
    assert (row["sent_elements"], row["client_params"], row["weight_bytes"]) == (16384, 1594432, 4 * 1594432)
    assert row["client_flops"] == 348_405_760
    assert row["client_flops"] + row["server_flops"] == 558_489_600 + 512 * 16 + 512 * 1024 + 1024 * 1024
    assert "prim::PythonOp._WeightStandardize" in row["uncounted_ops"]


def test_profile_rows__mid_block_row_sends_two_tensors(rows: list[dict]) -> None:
    row = rows[0]
    assert row["sent"] == [[64, 32, 32], [64, 32, 32]]
    assert row["step_up_client"] == 4 * 20 * 2 * 65536 * 4    # 2B query + 2B key rows, two tensors, fp32


def test_profile_rows__step_columns_for_both_symmetric_modes(rows: list[dict]) -> None:
    row, a = rows[1], 16384
    assert (row["step_up_client"], row["step_down_client"]) == (4 * 20 * a * 4, 2 * 20 * a * 4)
    assert (row["step_up_original"], row["step_down_original"]) == (2 * 20 * a * 4, 20 * a * 4)


def test_profile_rows__sync_and_run_columns_per_method(rows: list[dict]) -> None:
    row, w = rows[1], 4 * 1594432
    steps, syncs = 125 * 800, 11 * 800
    assert (row["sync_up_mocosfl"], row["sync_down_mocosfl"]) == (5 * w, 20 * w)
    assert (row["sync_up_monacosfl"], row["sync_down_monacosfl"]) == (2 * 5 * w, 2 * 20 * w)
    act_up, act_down = 5 * 4 * 20 * 16384 * 4, 5 * 2 * 20 * 16384 * 4   # per step, all pool clients
    assert row["run_up_mocosfl"] == steps * act_up + syncs * 5 * w
    assert row["run_down_monacosfl"] == steps * act_down + 2 * syncs * 20 * w
    assert row["run_client_up_monacosfl"] == steps * act_up // 5 + 2 * syncs * w


def test_profile_rows__reference_calculator_columns(rows: list[dict]) -> None:
    row = rows[1]
    assert (round(row["ref_model_mb"], 2), round(row["ref_activation_mb"], 2), round(row["ref_total_mb"], 2)) == (
        1216.46, 1250.0, 2466.46)
    assert round(row["ref_client_mflops_per_image"], 2) == 996.80
    assert round(row["ref_total_server_gflops"]) == 79148


def test_profile_rows__memory_of_a_2b_row_step(rows: list[dict]) -> None:
    row = rows[1]
    assert (row["memory_batch"], row["memory_method"]) == (40, "dispatch-meta")
    assert row["memory_bytes"] > row["weight_bytes"] + 40 * 3 * 32 * 32 * 4


def test_profile_rows__rows_are_plain_json(rows: list[dict]) -> None:
    assert json.loads(json.dumps(rows)) == rows


def test_profile_rows__original_mode_run_totals_and_reference_overrides() -> None:
    (row,) = profile_rows("mobilenetv2", [5], symmetric="original", wire_dtype="bfloat16", memory=False,
                          reference={"epochs": 10, "num_clients": 2}, **SCHEDULE)
    a = row["sent_elements"]
    assert row["run_up_mocosfl"] == 125 * 800 * 5 * 2 * 20 * a * 2 + 11 * 800 * 5 * row["weight_bytes"]
    assert row["ref_model_mb"] == 10 * row["client_params"] * 4 / 1024**2
    assert (row["memory_bytes"], row["memory_method"]) == (None, None)


def test_profile_rows__unknown_symmetric_mode_is_an_error() -> None:
    with pytest.raises(SflauditError, match="server"):
        profile_rows("resnet18", [1], symmetric="server", memory=False, **SCHEDULE)


def test_config_rows__server_flops_follow_the_configs_moco_version() -> None:
    from sflaudit.profiles.run import config_rows
    from sflaudit.config import load_config
    from sflaudit.sfl.schedule import Schedule

    sched = Schedule(steps_per_epoch=4, epochs=1, pool_size=2, clients=2, sync_batches=(1, 3), rows_per_client=16)
    rows = {v: config_rows(load_config(preset="smoke", overrides=["sfl.method=mocosfl", f"ssl.moco_version={v}"]),
                           [3], sched, memory=False)[0] for v in ("V1", "V2")}
    f = 64                                                   # smoke: ResNet-18 width 0.125 → 512 / 8 features
    assert (rows["V1"]["moco_version"], rows["V2"]["moco_version"]) == ("V1", "V2")
    assert rows["V2"]["server_flops"] - rows["V1"]["server_flops"] == (f * 1024 + 1024 * 1024) - f * 128
