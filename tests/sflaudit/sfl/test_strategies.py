"""Methods as sync strategies: plans, the registry, and a new method's metered traffic equal to profiles' count."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sflaudit.profiles.run import run_profile
from sflaudit.profiles.table import profile_rows
from sflaudit.config import SflConfig, load_config
from sflaudit.errors import SflauditError
from sflaudit.sfl.strategies import (
    SyncPlan,
    SyncStrategy,
    get_strategy,
    register_strategy,
    strategy_names,
    unregister_strategy,
)
from sflaudit.sfl.trainer import Trainer

# 10 steps, avg_freq 3 → I = 3 → syncs after batches 2, 5, 8, 9: four syncs; 2 clients, both in every pool.
FAST = ["optim.epochs=1", "data.fraction=0.03", "sfl.avg_freq=3", "eval.every=100", "eval.linear_epochs=0"]


class OnlineDownEverySecondSync(SyncStrategy):
    """Toy method: online weights up at every sync, the average down only at every 2nd sync; no momentum."""

    name = "toy_down_every_2nd"

    def plan(self, sync: int, sfl: SflConfig) -> SyncPlan:
        return SyncPlan(up=("online",), down=("online",) if sync % 2 == 0 else ())


@pytest.fixture
def toy() -> Iterator[SyncStrategy]:
    strategy = register_strategy(OnlineDownEverySecondSync())
    yield strategy
    unregister_strategy(strategy.name)


def _plans(method: str, syncs: int, **sfl: int) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    strategy, settings = get_strategy(method), SflConfig(**sfl)
    return [(p.up, p.down) for p in (strategy.plan(s, settings) for s in range(1, syncs + 1))]


def test_plan__mocosfl_sends_online_weights_at_every_sync() -> None:
    assert _plans("mocosfl", 3) == [(("online",), ("online",))] * 3


def test_plan__monacosfl_sends_momentum_every_kth_sync() -> None:
    both, online = (("online", "momentum"), ("online", "momentum")), (("online",), ("online",))
    assert _plans("monacosfl", 2) == [both, both]                                   # k = 1: the paper's method
    assert _plans("monacosfl", 6, momentum_sync_every=3) == [online, online, both, online, online, both]


def test_sync_plan__merged_payload_must_have_been_uploaded() -> None:
    with pytest.raises(SflauditError, match="without uploading"):
        SyncPlan(up=("online",), down=("online", "momentum"))
    with pytest.raises(SflauditError, match="'bias' is not one of online, momentum"):
        SyncPlan(up=("bias",), down=())


def test_registry__built_ins_first_unknown_and_duplicate_names_are_errors() -> None:
    assert strategy_names()[:2] == ("mocosfl", "monacosfl")
    with pytest.raises(SflauditError, match="sfl.method = 'fedprox' is not one of mocosfl, monacosfl"):
        get_strategy("fedprox")
    with pytest.raises(SflauditError, match="already registered"):
        register_strategy(get_strategy("mocosfl").__class__())


def test_config__accepts_a_registered_strategy_only_while_registered(toy: SyncStrategy) -> None:
    assert load_config(preset="smoke", overrides=[f"sfl.method={toy.name}"]).sfl.method == toy.name
    unregister_strategy(toy.name)
    with pytest.raises(SflauditError, match=f"sfl.method = '{toy.name}' is not one of mocosfl, monacosfl"):
        load_config(preset="smoke", overrides=[f"sfl.method={toy.name}"])


def _train(tmp_path: Path, *overrides: str) -> tuple[Trainer, dict]:
    cfg = load_config(preset="smoke", overrides=[*FAST, *overrides])
    trainer = Trainer(cfg, tmp_path / "run")
    trainer.fit()
    measured = trainer.run.read_traffic()
    analytic = run_profile(cfg, trainer.schedule).analytic_traffic
    assert measured is not None and measured.matches(analytic)
    assert (measured.per_step, measured.per_sync) == (analytic["per_step"], analytic["per_sync"])
    assert all(v == analytic["client_full"] for v in measured.per_client.values())   # full participation
    return trainer, measured.by_kind


def test_new_strategy__measured_traffic_equals_the_analytic_count(tmp_path: Path, toy: SyncStrategy) -> None:
    trainer, by_kind = _train(tmp_path, f"sfl.method={toy.name}")
    s, n = trainer.schedule.total_syncs, trainer.cfg.sfl.clients
    assert (s, n) == (4, 2)
    w = sum(t.numel() * t.element_size() for t in trainer.clients.online[0].state_dict().values())
    assert by_kind["weights"] == {"up": s * n * w, "down": (s // 2) * n * w}
    assert by_kind["momentum"] == {"up": 0, "down": 0}


def test_monacosfl__momentum_sync_every_2_halves_the_momentum_bytes(tmp_path: Path) -> None:
    trainer, by_kind = _train(tmp_path, "sfl.method=monacosfl", "sfl.momentum_sync_every=2")
    s, n = trainer.schedule.total_syncs, trainer.cfg.sfl.clients
    assert (s, n) == (4, 2)                                              # an even number of syncs
    w = sum(t.numel() * t.element_size() for t in trainer.clients.online[0].state_dict().values())
    assert by_kind["weights"] == {"up": s * n * w, "down": s * n * w}
    assert by_kind["momentum"] == {"up": (s // 2) * n * w, "down": (s // 2) * n * w}   # half of k = 1's s·n·w


@pytest.mark.parametrize("k", [1, 3])
def test_monacosfl__measured_traffic_equals_the_analytic_count_for_any_k(tmp_path: Path, k: int) -> None:
    _, by_kind = _train(tmp_path, "sfl.method=monacosfl", f"sfl.momentum_sync_every={k}")
    assert by_kind["momentum"]["up"] == (4 // k) * by_kind["weights"]["up"] // 4     # syncs 1-4 (k=1) or 3 (k=3)


def test_profile_rows__have_columns_for_every_registered_strategy(toy: SyncStrategy) -> None:
    (row,) = profile_rows("resnet18", [1], width=0.125, batch=2, steps_per_epoch=4, epochs=1, pool_size=2,
                          clients=3, syncs_per_epoch=2, memory=False)
    w = row["weight_bytes"]
    assert (row[f"run_up_{toy.name}"] - row["run_up_mocosfl"], row[f"sync_down_{toy.name}"]) == (0, 3 * w)
    assert row["run_down_mocosfl"] - row[f"run_down_{toy.name}"] == 1 * 3 * w   # sync 1 of 2 sends nothing down
