"""DP-SGD on the client (Opacus): accounting, the clipped and noised update by hand, BatchNorm refused, and a run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from opacus.accountants import RDPAccountant
from torch import nn

from sflaudit.config import load_config
from sflaudit.errors import SflauditError
from sflaudit.sfl.checkpoint import read_checkpoint
from sflaudit.sfl.client_step import client_update
from sflaudit.sfl.clients import ClientPool
from sflaudit.sfl.dp import DPSettings, dp_client, dp_settings
from sflaudit.sfl.setup import client_split, load_client0
from sflaudit.sfl.trainer import train


def test_dp_settings__the_noise_reaches_the_target_epsilon_and_no_less() -> None:
    cfg = load_config(preset="smoke", overrides=["defence.dp_epsilon=3", "defence.dp_delta=1e-4"])
    s = dp_settings(cfg, partition_size=400, steps=500)
    assert s is not None and s.sample_rate == pytest.approx(8 / 400) and s.rows_per_image == 2
    acc = RDPAccountant()
    acc.history = [(s.noise_multiplier, s.sample_rate, s.steps)]
    eps = acc.get_epsilon(delta=1e-4)
    assert 3 - 0.05 <= eps <= 3                     # Opacus's tolerance is 0.01; the bound is never exceeded
    stricter = dp_settings(load_config(preset="smoke", overrides=["defence.dp_epsilon=1"]), 400, 500)
    assert stricter is not None and stricter.noise_multiplier > s.noise_multiplier
    assert dp_settings(load_config(preset="smoke"), 400, 500) is None


def _pool(width: int, settings: DPSettings) -> ClientPool:
    torch.manual_seed(0)
    pool = ClientPool(nn.Linear(width, width, bias=False), 1, lr=1.0, momentum=0.0, weight_decay=0.0, ema=0.99)
    pool.enable_dp(settings, seed=5)
    return pool


def _settings(noise: float, clip: float, rows_per_image: int = 1) -> DPSettings:
    return DPSettings(epsilon=1.0, delta=1e-5, clip=clip, noise_multiplier=noise, sample_rate=0.1, steps=1,
                      rows_per_image=rows_per_image)


def test_client_update__rows_clipped_then_averaged_over_the_pool_rows_by_hand() -> None:
    pool = _pool(3, _settings(noise=0.0, clip=0.5))
    w0 = pool.online[0].weight.detach().clone()
    x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    g_row = torch.tensor([[3.0, 0.0, 4.0], [0.1, 0.0, 0.0]])     # each row's own loss gradient ∂ℓ_i/∂h_i
    rows_total = 4                                                # the server's loss: a mean over 4 pool rows
    h = pool.online[0](x)
    client_update(pool, 0, h, g_row / rows_total, lr=1.0, rows_total=rows_total)
    per_row = [torch.outer(g, xi) for g, xi in zip(g_row, x)]     # ∂ℓ_i/∂W = g_i x_iᵀ; norms 5 and 0.2
    clipped = [p * min(1.0, 0.5 / float(p.norm())) for p in per_row]
    assert torch.allclose(pool.online[0].weight, w0 - sum(clipped) / rows_total, atol=1e-6)


def test_client_update__two_views_per_image_share_one_bound() -> None:
    pool = _pool(2, _settings(noise=0.0, clip=1.0, rows_per_image=2))
    w0 = pool.online[0].weight.detach().clone()
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0]])                    # one image's two views
    g_row = torch.tensor([[10.0, 0.0], [10.0, 0.0]])
    client_update(pool, 0, pool.online[0](x), g_row / 2, lr=1.0, rows_total=2)
    step = (w0 - pool.online[0].weight).detach()
    assert float(step.norm()) * 2 == pytest.approx(1.0, rel=1e-5)  # the image's summed gradient has norm C = 1


def test_client_update__noise_std_is_sigma_clip_over_rows() -> None:
    pool = _pool(100, _settings(noise=2.0, clip=0.5))
    w0 = pool.online[0].weight.detach().clone()
    x = torch.zeros(3, 100)                                       # zero gradients: the step is pure noise
    client_update(pool, 0, pool.online[0](x), torch.zeros(3, 100), lr=1.0, rows_total=5)
    noise = (w0 - pool.online[0].weight).detach().flatten()
    assert float(noise.std()) == pytest.approx(2.0 * 0.5 / 5, rel=0.05)   # σ·C / R over 10,000 draws


def test_client_update__refuses_a_dp_step_without_the_pool_rows() -> None:
    pool = _pool(2, _settings(noise=0.0, clip=1.0))
    with pytest.raises(ValueError):
        client_update(pool, 0, pool.online[0](torch.ones(1, 2)), torch.ones(1, 2), lr=1.0)


def test_dp_client__batchnorm_becomes_groupnorm_and_validation_refuses_nopeek() -> None:
    fixed = dp_client(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(inplace=True)))
    kinds = [type(m) for m in fixed.modules()]
    assert nn.BatchNorm2d not in kinds and nn.GroupNorm in kinds and not fixed[2].inplace
    with pytest.raises(SflauditError, match="nopeek"):
        load_config(preset="smoke", overrides=["defence.dp_epsilon=2", "defence.nopeek=0.5"])


def test_dp_run__trains_logs_its_mechanism_and_every_stage_loads_the_same_client(tmp_path: Path) -> None:
    cfg = load_config(preset="smoke", overrides=["defence.dp_epsilon=4", "optim.epochs=1", "eval.linear_epochs=0",
                                                 "sfl.clients=1", "data.fraction=0.02"])
    summary = train(cfg, tmp_path / "run")
    assert summary is not None
    first = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert first["type"] == "dp" and first["epsilon"] == 4 and first["noise_multiplier"] > 0
    ckpt = read_checkpoint(tmp_path / "run" / "best.pt")
    client = load_client0(ckpt, cfg, input_size=32)               # the attacks' and monitors' constructor
    assert type(client) is type(client_split(cfg, 32).client)
    resumable = read_checkpoint(tmp_path / "run" / "ckpt.pt")
    assert resumable.trainer is not None and len(resumable.trainer["dp"]) == 1   # the noise stream resumes


def test_dp_run__an_interrupted_run_resumes_to_identical_weights(tmp_path: Path) -> None:
    cfg = load_config(preset="smoke", overrides=["defence.dp_epsilon=4", "optim.epochs=1", "eval.linear_epochs=0",
                                                 "eval.every=0", "sfl.clients=1", "data.fraction=0.02",
                                                 "run.ckpt_every=1000"])
    train(cfg, tmp_path / "full")
    assert train(cfg, tmp_path / "cut", stop_after_steps=2) is None
    train(cfg, tmp_path / "cut")
    a, b = (read_checkpoint(tmp_path / d / "ckpt.pt") for d in ("full", "cut"))
    assert all(torch.equal(x, y) for x, y in zip(a.clients_online[0].values(), b.clients_online[0].values()))
