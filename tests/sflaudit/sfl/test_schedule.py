"""Schedule arithmetic: syncs per epoch, effective epochs, learning rates."""

import math

import pytest

from sflaudit.errors import SflauditError
from sflaudit.sfl.schedule import (
    Schedule,
    cosine_lr,
    effective_epochs,
    multistep_lr,
    pool_size,
    rows_per_client,
    sync_batches,
)


def test_sync_batches__paper_20_client_setting_gives_11_syncs() -> None:
    marks = sync_batches(125, 10)            # I = 12: batches 11, 23, ..., 119, plus the last (124)
    assert marks == (11, 23, 35, 47, 59, 71, 83, 95, 107, 119, 124)


def test_sync_batches__every_step_when_avg_freq_equals_batches() -> None:
    assert sync_batches(4, 4) == (0, 1, 2, 3)


def test_sync_batches__avg_freq_larger_than_epoch_is_an_error() -> None:
    with pytest.raises(SflauditError, match="larger than the 3 steps per epoch"):
        sync_batches(3, 4)


def test_effective_epochs__scaled_by_inverse_sampling_ratio() -> None:
    assert effective_epochs(200, 0.25) == 800
    assert effective_epochs(200, 1.0) == 200


def test_pool_and_rows() -> None:
    assert pool_size(20, 0.25) == 5
    assert rows_per_client(20, "client") == 40 and rows_per_client(20, "original") == 20
    with pytest.raises(SflauditError, match="symmetric True is not one of client, original"):
        rows_per_client(20, True)  # type: ignore[arg-type]


def test_sync_number__counts_syncs_over_the_whole_run_from_1() -> None:
    sch = Schedule(steps_per_epoch=10, epochs=3, pool_size=2, clients=2, sync_batches=(2, 5, 8, 9),
                   rows_per_client=16)
    assert sch.total_syncs == 12
    assert [sch.sync_number(0, b) for b in (2, 5, 8, 9)] == [1, 2, 3, 4]
    assert sch.sync_number(2, 9) == 12                  # 2 epochs × 4 syncs before, then the 4th of epoch 2


def test_schedule__json_round_trip() -> None:
    sch = Schedule(steps_per_epoch=125, epochs=800, pool_size=5, clients=20, sync_batches=sync_batches(125, 10),
                   rows_per_client=40)
    assert Schedule.from_json(sch.to_json()) == sch and sch.to_json()["sync_batches"][-1] == 124


def test_cosine_lr__periodic_past_t_max() -> None:     # quirk Q1: the client schedule oscillates
    assert cosine_lr(0.06, 0, 200) == pytest.approx(0.06)
    assert cosine_lr(0.06, 200, 200) == pytest.approx(0.0)
    assert cosine_lr(0.06, 400, 200) == pytest.approx(0.06)
    assert cosine_lr(0.06, 100, 200) == pytest.approx(0.03)


def test_multistep_lr__decays_at_60_and_80_percent() -> None:
    assert multistep_lr(1.0, 59, 100, 0.1) == 1.0
    assert multistep_lr(1.0, 60, 100, 0.1) == pytest.approx(0.1)
    assert multistep_lr(1.0, 80, 100, 0.2) == pytest.approx(0.04)
    assert not math.isnan(multistep_lr(1.0, 10**6, 100, 0.1))
