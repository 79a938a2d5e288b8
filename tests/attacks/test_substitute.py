"""Substitute-client attack: the attacker never holds the client's weights, its substitute learns the received
activations' distribution, and an end-to-end tiny run returns well-shaped metrics."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sflaudit.attacks.inversion import AttackResult
from sflaudit.attacks.metrics import ssim_skimage
from sflaudit.attacks.decoders import build_decoder
from sflaudit.attacks.flops import forward_flops, step_cap
from sflaudit.attacks.substitute import (DEFAULT_BUDGET, DEFAULT_STEPS, SubstituteInputs, attack_models, budget_cap,
                                         observe, observed_indices, run_substitute, substitute_attack)
from sflaudit.attacks.substitute_fit import ClientSpec, eval_steps, init_substitute
from sflaudit.config import AttackConfig, Config, ModelConfig
from sflaudit.errors import SflauditError

MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)
SIDE = 16


def smooth_images(n: int, seed: int) -> torch.Tensor:
    """n×3×16×16 uint8: random 4×4 colour fields upsampled bilinearly."""
    coarse = torch.rand(n, 3, 4, 4, generator=torch.Generator().manual_seed(seed))
    return (F.interpolate(coarse, size=(SIDE, SIDE), mode="bilinear", align_corners=False) * 255).round().to(
        torch.uint8)


def tiny_cfg(**attack: object) -> Config:
    cfg = Config(model=ModelConfig(arch="resnet18", depth=1, width=0.125),
                 attack=AttackConfig(settings=dict(decoder="res_normN0C8", epochs=2, batch=16, targets=6)))
    cfg.run.seed = 7
    for key, value in {"substitute_steps": 10, "substitute_observed": 48, **attack}.items():
        cfg.attack.settings[key] = value   # the attack plug-ins' settings table
    return cfg


def real_client(seed: int = 7) -> nn.Module:
    """A 'trained' tiny client: the run seed's init (as the trainer seeds it) with a shifted GroupNorm, frozen."""
    torch.manual_seed(seed)
    client = ClientSpec("resnet18", 1, 0.125, SIDE).build()
    with torch.no_grad():
        client.stem.norm.weight.fill_(2.0)
        client.stem.norm.bias.fill_(1.0)
    return client.eval().requires_grad_(False)


def data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    train, test = smooth_images(120, seed=1), smooth_images(10, seed=2)
    return train, test, torch.arange(0, 40), torch.arange(6)


def _tensors(x: object) -> list[torch.Tensor]:
    if isinstance(x, torch.Tensor):
        return [x]
    if dataclasses.is_dataclass(x):
        return [t for f in dataclasses.fields(x) for t in _tensors(getattr(x, f.name))]
    return []


def test_substitute_inputs__hold_no_module_and_no_client_weight() -> None:
    client = real_client()
    train, test, aux, tgt = data()
    inputs, _ = observe(client, tiny_cfg(), train, test, aux, tgt, mean=MEAN, std=STD)
    for f in dataclasses.fields(inputs):
        value = getattr(inputs, f.name)
        assert not isinstance(value, nn.Module)
        assert isinstance(value, (torch.Tensor, ClientSpec)), f.name
    assert all(isinstance(getattr(inputs.client, f.name), (str, int, float))
               for f in dataclasses.fields(inputs.client))
    params = list(client.state_dict().values())
    ptrs = {p.data_ptr() for p in params}
    for t in _tensors(inputs):
        assert not isinstance(t, nn.Parameter) and not t.requires_grad
        assert t.data_ptr() not in ptrs
        assert not any(t.shape == p.shape and torch.equal(t, p) for p in params)


def test_substitute_attack__runs_when_the_real_client_is_gone() -> None:
    client = real_client()
    train, test, aux, tgt = data()
    inputs, _ = observe(client, tiny_cfg(), train, test, aux, tgt, mean=MEAN, std=STD)
    before = inputs.observed.clone()

    def refuse(*_: object) -> None:
        raise AssertionError("the substitute attack called the real client")

    client.register_forward_pre_hook(refuse)
    with torch.no_grad():
        for p in client.parameters():
            p.fill_(math.nan)   # any read of the weights would turn the reconstructions into NaN
    out = substitute_attack(inputs, decoder="res_normN0C8", epochs=1, batch=16, steps=5, seed=7)
    assert out.reconstructions.shape == (6, 3, SIDE, SIDE)
    assert bool(torch.isfinite(out.reconstructions).all())
    assert torch.equal(inputs.observed, before)   # the attack does not overwrite what it received


def test_init_substitute__differs_from_the_real_clients_init() -> None:
    torch.manual_seed(7)   # the trainer initialises the real client from the run seed
    real = ClientSpec("resnet18", 1, 0.125, SIDE).build()
    sub = init_substitute(ClientSpec("resnet18", 1, 0.125, SIDE), seed=7)
    w_real, w_sub = real.stem.conv.weight, sub.stem.conv.weight
    assert w_real.shape == w_sub.shape and not torch.allclose(w_real, w_sub)
    again = init_substitute(ClientSpec("resnet18", 1, 0.125, SIDE), seed=7)
    assert torch.equal(again.stem.conv.weight, w_sub)   # seeded


def test_observed_indices__outside_aux_seeded_and_capped() -> None:
    aux = torch.arange(0, 100, 2)
    idx = observed_indices(100, aux, 30)
    assert idx.numel() == 30 and len(set(idx.tolist())) == 30
    assert not set(idx.tolist()) & set(aux.tolist())
    assert torch.equal(idx, observed_indices(100, aux, 30))
    assert observed_indices(100, aux, 1000).numel() == 50   # only 50 images lie outside the aux set


def test_substitute_attack__mmd_to_the_real_activations_falls() -> None:
    client = real_client()
    train, test, aux, tgt = data()
    inputs, _ = observe(client, tiny_cfg(), train, test, aux, tgt, mean=MEAN, std=STD)
    out = substitute_attack(inputs, decoder="res_normN0C8", epochs=1, batch=16, steps=40, substitute_lr=1e-2,
                            budget=0, seed=7)
    steps = [s for s, _ in out.mmd_curve]
    mmd = [v for _, v in out.mmd_curve]
    assert steps[0] == 0 and steps[-1] == 40
    assert mmd[-1] < 0.5 * mmd[0], mmd


def test_run_substitute__end_to_end_metrics_have_the_right_shapes() -> None:
    client = real_client()
    train, test, aux, tgt = data()
    events: list[dict[str, object]] = []
    result = run_substitute(client, tiny_cfg(), train, test, aux, tgt, mean=MEAN, std=STD, lpips=None,
                            progress=events.append)
    assert isinstance(result, AttackResult)
    assert result.reconstructions.shape == result.targets.shape == (6, 3, SIDE, SIDE)
    assert torch.equal(result.targets, test[tgt].float() / 255)
    assert result.activation_shape == (8, SIDE, SIDE)
    assert len(result.metrics["mse"]) == 6 and len(result.metrics["ssim"]) == 6
    assert 0 < result.metrics["mse_mean"] < 1
    assert len(result.train_loss) == len(result.val_loss) == 2 and result.best_epoch in (1, 2)
    assert {e["stage"] for e in events} == {"substitute", "decoder"}
    assert result.wall_s > 0
    negatives = (2 * torch.tensor(MEAN).view(1, 3, 1, 1) - result.reconstructions).clamp(0, 1)
    assert result.extra["ssim_of_negatives"] == pytest.approx(float(ssim_skimage(negatives, result.targets).mean()))


def test_run_substitute__rejects_float_images() -> None:
    train, test, aux, tgt = data()
    with pytest.raises(SflauditError, match="uint8"):
        run_substitute(real_client(), tiny_cfg(), train.float(), test, aux, tgt, mean=MEAN, std=STD, lpips=None)


def test_substitute_inputs__rejects_mismatched_activations() -> None:
    z = torch.zeros(4, 3, 8, 8)
    with pytest.raises(SflauditError, match="share"):
        SubstituteInputs(observed=torch.zeros(4, 2, 4, 4), targets=torch.zeros(2, 3, 4, 4), aux_inputs=z,
                         aux_truth=z, client=ClientSpec("resnet18", 1, 0.125, 8))


def test_config_defaults__are_the_attacks_defaults() -> None:
    assert (AttackConfig().substitute_steps, AttackConfig().substitute_budget) == (DEFAULT_STEPS, DEFAULT_BUDGET)


def test_eval_steps__every_fiftieth_and_the_last() -> None:
    assert eval_steps(120) == {50, 100, 120}
    assert eval_steps(100) == {50, 100}
    assert eval_steps(7) == {7}
    assert eval_steps(0) == set()


def test_train_substitute__a_shorter_run_is_a_prefix_of_a_longer_one() -> None:
    client = real_client()
    train, test, aux, tgt = data()
    inputs, _ = observe(client, tiny_cfg(), train, test, aux, tgt, mean=MEAN, std=STD)
    short = substitute_attack(inputs, decoder="res_normN0C8", epochs=1, batch=16, steps=100, budget=0, seed=7)
    long = substitute_attack(inputs, decoder="res_normN0C8", epochs=1, batch=16, steps=130, budget=0, seed=7)
    assert [s for s, _ in long.mmd_curve] == [0, 50, 100, 130]
    assert long.mmd_curve[:3] == short.mmd_curve


def test_budget_cap__is_the_share_of_the_inverse_networks_arithmetic() -> None:
    client = real_client()
    train, test, aux, tgt = data()
    inputs, _ = observe(client, tiny_cfg(), train, test, aux, tgt, mean=MEAN, std=STD)
    sub, _ = attack_models(inputs, 7, torch.device("cpu"))
    c, h = inputs.observed.shape[1:3]
    client_flops = forward_flops(sub, inputs.aux_inputs[:1])
    decoder_flops = forward_flops(build_decoder("res_normN0C8", c, h, SIDE), inputs.observed[:1])
    # 40 aux pairs: 36 train / 4 validation → 3 batches of 16 per epoch, 2 epochs = 6 decoder steps
    expected = math.floor(0.5 * 6 * decoder_flops / client_flops)
    assert budget_cap(inputs, sub, decoder="res_normN0C8", epochs=2, batch=16, share=0.5) == expected
    assert budget_cap(inputs, sub, decoder="res_normN0C8", epochs=2, batch=16, share=0.0) is None
    out = substitute_attack(inputs, decoder="res_normN0C8", epochs=2, batch=16, steps=10_000, budget=0.5, seed=7)
    assert out.step_cap == expected and out.mmd_curve[-1][0] == expected < 10_000


def test_forward_flops__counts_a_linear_layer_exactly() -> None:
    assert forward_flops(nn.Linear(3, 2), torch.ones(1, 3)) == 2 * 3 * 2
    assert forward_flops(nn.Conv2d(1, 1, 3, padding=1, bias=False), torch.ones(1, 1, 4, 4)) == 2 * 9 * 16


def test_step_cap__exact_cases() -> None:
    assert step_cap(client_flops=6, decoder_flops=4, decoder_steps=150, share=0.75) == 75
    assert step_cap(client_flops=10**9, decoder_flops=1, decoder_steps=1, share=0.75) == 1
    assert step_cap(client_flops=6, decoder_flops=4, decoder_steps=150, share=0.0) is None
