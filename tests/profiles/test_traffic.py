"""Analytic bytes per step, per sync and per run (protocol §1.2, §1.5, §6.2's per-step paragraph)."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from sflaudit.profiles.runtraffic import run_traffic, run_traffic_for_schedule
from sflaudit.profiles.traffic import (activation_traffic, payload_bytes, state_dict_bytes, step_traffic, sync_traffic,
                                       wire_dtype_bytes)
from sflaudit.config import DefenceConfig, SflConfig
from sflaudit.errors import SflauditError
from sflaudit.models import cut_info


@dataclass(frozen=True)
class FakeCut:
    """A CutInfo-like object: the shapes sent per image."""

    sent: tuple[tuple[int, int, int], ...]

    @property
    def sent_elements(self) -> int:
        return sum(c * h * w for c, h, w in self.sent)


def test_step_traffic__client_symmetric_sends_2b_query_and_key_rows() -> None:
    t = step_traffic(FakeCut(((256, 8, 8),)), batch=20, symmetric=True)
    assert t.query_up == 2 * 20 * 256 * 8 * 8 * 4
    assert t.key_up == 2 * 20 * 256 * 8 * 8 * 4
    assert t.grad_down == 2 * 20 * 256 * 8 * 8 * 4
    assert (t.up, t.down) == (4 * 20 * 16384 * 4, 2 * 20 * 16384 * 4)   # protocol §6.2: up 4·B·A, down 2·B·A


def test_step_traffic__original_sends_b_rows() -> None:
    t = step_traffic(FakeCut(((256, 8, 8),)), batch=20, symmetric=False)
    assert (t.up, t.down) == (2 * 20 * 16384 * 4, 20 * 16384 * 4)      # protocol §6.2: up 2·B·A, down B·A


def test_step_traffic__mid_block_depth_sends_two_tensors() -> None:
    cut = cut_info("resnet18", 2)                       # mid activation + shortcut, 64×32×32 each
    t = step_traffic(cut, batch=20, symmetric=True)
    assert t.query_up == 2 * 20 * 2 * 64 * 32 * 32 * 4  # 2B rows × two tensors × elements × fp32


def test_step_traffic__bfloat16_wire_halves_the_bytes() -> None:
    t = step_traffic(65536, batch=3, symmetric=False, dtype_bytes=wire_dtype_bytes("bfloat16"))
    assert (t.query_up, t.key_up, t.grad_down) == (3 * 65536 * 2,) * 3


def test_activation_traffic__rows_are_taken_as_given() -> None:
    assert activation_traffic(10, 7, dtype_bytes=2).up == 2 * 7 * 10 * 2


def test_wire_dtype_bytes__unknown_name_is_an_error() -> None:
    with pytest.raises(SflauditError, match="float64"):
        wire_dtype_bytes("float64")


def test_sync_traffic__mocosfl_uploads_from_pool_and_broadcasts_to_all() -> None:
    s = sync_traffic(1000, method="mocosfl", pool_size=5, clients=20)
    assert (s.weights_up, s.weights_down, s.momentum_up, s.momentum_down) == (5000, 20000, 0, 0)
    assert (s.up, s.down) == (5000, 20000)


def test_sync_traffic__monacosfl_also_sends_momentum_weights() -> None:
    s = sync_traffic(1000, method="monacosfl", pool_size=5, clients=20)
    assert (s.weights_up, s.weights_down, s.momentum_up, s.momentum_down) == (5000, 20000, 5000, 20000)


def test_sync_traffic__unknown_method_is_an_error() -> None:
    with pytest.raises(SflauditError, match="fedavg"):
        sync_traffic(1, method="fedavg", pool_size=1, clients=1)


def test_sync_traffic__monacosfl_momentum_only_at_every_kth_sync() -> None:
    every2 = SflConfig(momentum_sync_every=2)
    odd = sync_traffic(1000, method="monacosfl", pool_size=5, clients=20, sync=3, sfl=every2)
    even = sync_traffic(1000, method="monacosfl", pool_size=5, clients=20, sync=4, sfl=every2)
    assert (odd.momentum_up, odd.momentum_down, odd.weights_up) == (0, 0, 5000)
    assert (even.momentum_up, even.momentum_down) == (5000, 20000)


def test_run_traffic__momentum_sync_every_k_counts_syncs_k_2k_and_reports_the_last() -> None:
    step = step_traffic(8, batch=1, symmetric=False)
    def run(k: int):
        return run_traffic(step, 10, method="monacosfl", steps_per_epoch=4, epochs=2, pool_size=2, clients=3,
                           syncs_per_epoch=11, sfl=SflConfig(momentum_sync_every=k))
    two, three = run(2), run(3)                              # 22 syncs: momentum at 11 of them (k=2), 7 (k=3)
    assert two.by_kind["momentum"] == {"up": 11 * 2 * 10, "down": 11 * 3 * 10}
    assert three.by_kind["momentum"] == {"up": 7 * 2 * 10, "down": 7 * 3 * 10}
    assert two.by_kind["weights"] == three.by_kind["weights"] == {"up": 22 * 2 * 10, "down": 22 * 3 * 10}
    assert two.per_sync == {"up": 2 * 2 * 10, "down": 2 * 3 * 10}     # sync 22: 22 % 2 == 0, with momentum
    assert three.per_sync == {"up": 2 * 10, "down": 3 * 10}           # 22 % 3 != 0: online weights only
    assert two.client_full["up"] == 8 * step.up + (22 + 11) * 10


def test_state_dict_bytes__counts_int64_batchnorm_counter_as_8_bytes() -> None:
    bn = nn.BatchNorm2d(16)                             # weight, bias, running mean/var: 16 fp32 each; counter int64
    assert state_dict_bytes(bn) == 4 * 16 * 4 + 8


def test_state_dict_bytes__follows_the_stored_dtype() -> None:
    assert state_dict_bytes(nn.Linear(3, 2).to(torch.float16)) == (6 + 2) * 2


def test_run_traffic__totals_by_kind_for_the_20_client_setting() -> None:
    # 20 clients, 5 per epoch, 125 steps/epoch, 11 syncs/epoch, 800 effective epochs (protocol §7.1).
    step = step_traffic(100, batch=20, symmetric=True)  # 40 rows × 100 elements × 4 B = 16,000 B per kind
    run = run_traffic(step, 3000, method="monacosfl", steps_per_epoch=125, epochs=800, pool_size=5,
                      clients=20, syncs_per_epoch=11)
    steps, syncs = 125 * 800, 11 * 800
    assert (run.steps, run.syncs) == (steps, syncs)
    assert run.by_kind["query"] == {"up": steps * 5 * 16000, "down": 0}
    assert run.by_kind["key"] == {"up": steps * 5 * 16000, "down": 0}
    assert run.by_kind["grad"] == {"up": 0, "down": steps * 5 * 16000}
    assert run.by_kind["weights"] == {"up": syncs * 5 * 3000, "down": syncs * 20 * 3000}
    assert run.by_kind["momentum"] == {"up": syncs * 5 * 3000, "down": syncs * 20 * 3000}
    assert run.total == {"up": steps * 5 * 32000 + 2 * syncs * 5 * 3000,
                         "down": steps * 5 * 16000 + 2 * syncs * 20 * 3000}
    assert run.per_step == {"up": 5 * 32000, "down": 5 * 16000}
    assert run.per_sync == {"up": 2 * 5 * 3000, "down": 2 * 20 * 3000}


def test_run_traffic__mocosfl_sends_no_momentum() -> None:
    run = run_traffic(step_traffic(8, batch=1, symmetric=False), 10, method="mocosfl", steps_per_epoch=4,
                      epochs=2, pool_size=2, clients=3, syncs_per_epoch=1)
    assert run.by_kind["momentum"] == {"up": 0, "down": 0}
    assert run.by_kind["weights"] == {"up": 2 * 2 * 10, "down": 2 * 3 * 10}


def test_run_traffic__per_client_numbers() -> None:
    # Full participation: every client is in the pool every epoch, so the mean client equals the full one.
    step = step_traffic(8, batch=2, symmetric=True)      # up 2·4·8·4 = 256, down 128
    run = run_traffic(step, 100, method="monacosfl", steps_per_epoch=10, epochs=3, pool_size=4, clients=4,
                      syncs_per_epoch=2)
    assert run.client_full == {"up": 30 * 256 + 6 * 2 * 100, "down": 30 * 128 + 6 * 2 * 100}
    assert run.client_mean == {"up": float(run.client_full["up"]), "down": float(run.client_full["down"])}


def test_run_traffic__as_dict_has_the_traffic_json_keys() -> None:
    run = run_traffic(step_traffic(8, batch=1, symmetric=True), 10, method="mocosfl", steps_per_epoch=1,
                      epochs=1, pool_size=1, clients=1, syncs_per_epoch=1)
    d = run.as_dict()
    assert {"total", "by_kind", "steps", "syncs", "per_step", "per_sync"} <= set(d)
    assert set(d["by_kind"]) == {"query", "key", "grad", "weights", "momentum"}


def test_run_traffic_for_schedule__reads_rows_and_syncs_from_the_schedule() -> None:
    sched = SimpleNamespace(steps_per_epoch=125, epochs=2, pool_size=5, clients=20,
                         sync_batches=(11, 23, 35, 47, 59, 71, 83, 95, 107, 119, 124), rows_per_client=40)
    run = run_traffic_for_schedule(16384, 500, method="mocosfl", schedule=sched, dtype_bytes=2)
    assert run.by_kind["query"]["up"] == 250 * 5 * 40 * 16384 * 2
    assert run.syncs == 22
    assert run.by_kind["weights"]["down"] == 22 * 20 * 500


def test_run_traffic_for_schedule__agrees_with_the_real_schedule() -> None:
    schedule = pytest.importorskip("sflaudit.sfl.schedule")
    sched = schedule.Schedule(steps_per_epoch=125, epochs=800, pool_size=5, clients=20,
                              sync_batches=schedule.sync_batches(125, 10), rows_per_client=40)
    run = run_traffic_for_schedule(16384, 6377728, method="monacosfl", schedule=sched)
    assert run.syncs == 11 * 800                          # protocol §1.5: 125 steps, avg_freq 10 → 11 syncs
    assert run.by_kind["momentum"]["down"] == 11 * 800 * 20 * 6377728


def test_payload_bytes__int8_is_one_byte_per_element_plus_a_float32_scale() -> None:
    assert payload_bytes(40, 16384, quantize="int8") == 40 * 16384 + 4


def test_payload_bytes__topk_sends_ceil_k_values_and_int32_indices_per_row() -> None:
    assert payload_bytes(3, 1000, topk=0.25) == 3 * 3 * (4 + 4)                  # ⌈2.5⌉ = 3 per row
    assert payload_bytes(3, 1000, topk=0.25, dtype_bytes=2) == 3 * 3 * (2 + 4)
    assert payload_bytes(3, 1000, topk=0.25, quantize="int8") == 3 * 3 * (1 + 4) + 4


def test_activation_traffic__int8_applies_to_gradients_topk_does_not() -> None:
    t = activation_traffic(2048, rows=8, defence=DefenceConfig(topk=10, quantize="int8"))
    assert (t.query_up, t.key_up) == (8 * 205 * 5 + 4,) * 2                        # ⌈204.8⌉ = 205
    assert t.grad_down == 8 * 2048 + 4


def test_step_traffic__noise_changes_no_byte_and_a_mid_block_cut_is_one_tensor() -> None:
    cut = cut_info("resnet18", 2)                                                # 2 × 64×32×32 per image
    plain = step_traffic(cut, batch=20, symmetric=True)
    assert step_traffic(cut, batch=20, symmetric=True, defence=DefenceConfig(noise=1.0)) == plain
    int8 = step_traffic(cut, batch=20, symmetric=True, defence=DefenceConfig(quantize="int8"))
    assert int8.query_up == 40 * 2 * 64 * 32 * 32 + 4                            # one scale for [mid, shortcut]
