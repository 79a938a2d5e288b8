"""The canary detector: rows with wrong positives, their gradient gap, and its alarms in real runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sflaudit.config import load_config
from sflaudit.sfl import sides
from sflaudit.sfl.canary import canary_gap, is_check_step, with_canaries
from sflaudit.sfl.trainer import Trainer

FAST = ["optim.epochs=1", "data.fraction=0.03", "sfl.avg_freq=3", "eval.every=100", "eval.linear_epochs=0"]


def test_with_canaries__copies_queries_and_pairs_them_with_other_images_keys() -> None:
    q, k = torch.arange(12.0).view(4, 3), -torch.arange(12.0).view(4, 3)
    q2, k2 = with_canaries(q, k, 2)
    assert torch.equal(q2, torch.cat([q, q[:2]])) and torch.equal(k2, torch.cat([k, k[1:3]]))
    with pytest.raises(ValueError, match="at least 4 query rows"):
        with_canaries(q[:3], k[:3], 3)


def test_canary_gap__is_zero_for_key_blind_gradients_and_relative_otherwise() -> None:
    g = torch.tensor([[1.0, 0.0], [0.0, 2.0], [5.0, 5.0], [1.0, 0.0], [0.0, 2.0]])   # 3 real rows, 2 canaries
    assert canary_gap(g, 3, 2) == 0.0
    g[3] = torch.tensor([-1.0, 0.0])
    assert canary_gap(g, 3, 2) == pytest.approx(2.0 / 5 ** 0.5)    # ‖(−2, 0)‖ / ((√5 + √5) / 2)
    assert canary_gap(torch.zeros(5, 2), 3, 2) == 0.0


def test_is_check_step() -> None:
    assert [s for s in range(1, 10) if is_check_step(s, 3)] == [3, 6, 9]
    assert not any(is_check_step(s, 0) for s in range(1, 10))


def _alarms(tmp_path: Path, name: str, *overrides: str) -> list[tuple[int, float, int]]:
    cfg = load_config(preset="smoke", overrides=[*FAST, "defence.canary=3", *overrides])
    Trainer(cfg, tmp_path / name).fit()
    rows = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["canary_gap"], r["canary_alarm"]) for r in rows if "canary_gap" in r]


def test_detector__is_silent_on_an_honest_run_and_alarms_at_the_first_check_of_a_hijack(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    applied: list[int] = []
    real_update = sides.client_update
    monkeypatch.setattr(sides, "client_update", lambda clients, c, h_q, grad, *a, **k: (
        applied.append(grad.shape[0] - h_q.shape[0]), real_update(clients, c, h_q, grad, *a, **k))[1])
    honest = _alarms(tmp_path, "honest")
    assert [s for s, _, _ in honest] == [3, 6, 9] and all(a == 0 and gap > 0.5 for _, gap, a in honest)
    assert set(applied) == {0}                                # the canaries' gradients never reach the update
    hijacked = _alarms(tmp_path, "fsha", "attacker.kind=fsha", "attacker.batch=8", 'attacker.decoder="res_normN0C8"')
    assert hijacked[0][0] == 3 and all(a == 1 and gap < 1e-3 for _, gap, a in hijacked)


def test_config__refuses_more_canary_rows_than_the_batch_allows() -> None:
    from sflaudit.errors import SflauditError

    with pytest.raises(SflauditError, match="defence.canary_rows = 8 needs sfl.batch > it"):
        load_config(preset="smoke", overrides=["defence.canary=2", "defence.canary_rows=8"])
