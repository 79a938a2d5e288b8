"""kNN / probe monitors and checkpoint evaluation without a trainer."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from sflaudit.config import config_to_toml, load_config
from sflaudit.errors import SflauditError
from sflaudit.sfl.checkpoint import read_checkpoint
from sflaudit.sfl.monitor import bank_indices, evaluate_checkpoint_file, evaluate_state, probe_monitor
from sflaudit.sfl.trainer import Trainer


def test_bank_indices__whole_split_unless_a_smaller_size_is_asked() -> None:
    assert torch.equal(bank_indices(5, 0, seed=1), torch.arange(5))
    assert torch.equal(bank_indices(5, 9, seed=1), torch.arange(5))
    sub = bank_indices(10, 4, seed=1)
    assert sub.shape == (4,) and len(set(sub.tolist())) == 4 and int(sub.max()) < 10
    assert torch.equal(sub, bank_indices(10, 4, seed=1)) and not torch.equal(sub, bank_indices(10, 4, seed=2))


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Trainer, Path]:
    cfg = load_config(preset="smoke", overrides=["eval.linear_epochs=2", "eval.bank_size=200", "sfl.clients=3"])
    out = tmp_path_factory.mktemp("monitor") / "run"
    t = Trainer(cfg, out)
    t.fit(stop_after_steps=2)
    return t, out / "ckpt.pt"


def test_evaluate_checkpoint_file__equals_the_trainers_own_monitors(stopped_run: tuple[Trainer, Path]) -> None:
    trainer, ckpt = stopped_run
    result = evaluate_checkpoint_file(ckpt)
    assert result["step"] == 2
    assert result["knn"] == pytest.approx(trainer.knn(), abs=1e-9)
    probe = probe_monitor(trainer.clients.online[0], trainer.server.online[0], trainer.data, trainer.bank_idx,
                          trainer.cfg, device=trainer.device)
    assert result["linear_probe_best"] == pytest.approx(probe["linear_probe_best"], abs=1e-9)
    assert result["linear_probe_last"] == pytest.approx(probe["linear_probe_last"], abs=1e-9)
    assert trainer.clients.online[0].training and trainer.server.online.training   # modes restored


def test_evaluate_state__weights_that_do_not_fit_the_config_are_a_one_line_error(
        stopped_run: tuple[Trainer, Path]) -> None:
    _, ckpt = stopped_run
    other = load_config(preset="smoke", overrides=["model.depth=9"])
    state = replace(read_checkpoint(ckpt), config=config_to_toml(other))
    with pytest.raises(SflauditError, match=r"^incompatible checkpoint x\.pt: client 0's .*depth 9") as err:
        evaluate_state(state, other, source="x.pt")
    assert "\n" not in str(err.value)
