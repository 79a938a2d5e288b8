"""Feature-space hijacking: the critic, its penalty, the hijacked gradient, and what each attacker is handed."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from torch import nn

from sflaudit.attacks.fsha import FeatureSpaceHijack, build_critic, gradient_penalty, hijack_gradient, rescaled
from sflaudit.attacks.kinds import run_attack
from sflaudit.attacks.metrics import LpipsUnavailable
from sflaudit.auditors import AttackPlugin, ThreatModel, register_attack
from sflaudit.config import load_config
from sflaudit.errors import SflauditError


def test_gradient_penalty__of_a_linear_critic_is_its_weight_norm_minus_one_squared() -> None:
    critic = nn.Linear(3, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[3.0, 0.0, 4.0]]))        # ‖∇D‖ = 5 everywhere
    g = torch.Generator().manual_seed(0)
    penalty = gradient_penalty(critic, torch.randn(6, 3), torch.randn(6, 3), g)
    assert float(penalty.detach()) == pytest.approx(16.0)


def test_hijack_gradient__is_minus_the_critic_gradient_row_by_row() -> None:
    critic = nn.Linear(4, 1, bias=False)
    h = torch.randn(5, 4)
    assert torch.equal(hijack_gradient(critic, h), -critic.weight.detach().expand(5, 4))
    conv = build_critic((4, 6, 6))
    x = torch.randn(3, 4, 6, 6)
    both = hijack_gradient(conv, torch.cat([x, x[:1]]))
    assert torch.allclose(both[0], both[3], atol=1e-6)               # a row's gradient depends on that row only
    assert torch.allclose(both[:1], hijack_gradient(conv, x[:1]), atol=1e-6)


def test_build_critic__scores_grids_and_flat_frontiers() -> None:
    assert build_critic((8, 4, 4))(torch.randn(2, 8, 4, 4)).shape == (2, 1)
    assert build_critic((8, 1, 1))(torch.randn(2, 8, 1, 1)).shape == (2, 1)
    assert build_critic((40,))(torch.randn(2, 40)).shape == (2, 1)


def test_rescaled__takes_the_honest_norm() -> None:
    g, honest = torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2) * 7
    assert float(rescaled(g, honest).norm()) == pytest.approx(float(honest.norm()), rel=1e-5)
    assert torch.equal(rescaled(torch.zeros(2, 2), honest[:2, :2, 0, 0]), torch.zeros(2, 2))


def test_feature_space_hijack__learns_its_autoencoder_and_separates_the_client() -> None:
    torch.manual_seed(0)
    pilot = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU())
    aux = torch.rand(32, 3, 16, 16)
    hijack = FeatureSpaceHijack(pilot, (aux - 0.5) / 0.25, aux, None, decoder="res_normN0C8", lr=3e-3, batch=16,
                                gp=10.0, match_norm=True, seed=1, device=torch.device("cpu"))
    client_rows = torch.rand(8, 4, 8, 8) * 5                          # far from the pilot's features
    honest = torch.randn(8, 4, 8, 8)
    first = None
    for step in range(1, 41):
        grad = hijack.gradient(client_rows, honest, step)
        log = hijack.log()
        first = first or log
    assert grad.shape == honest.shape and float(grad.norm()) == pytest.approx(float(honest.norm()), rel=1e-5)
    assert log["fsha_ae"] < first["fsha_ae"]                          # the autoencoder learns the aux images
    assert log["fsha_w"] > 0                                          # the critic tells pilot from client apart
    state = copy.deepcopy(hijack.state_dict())       # as read back from a checkpoint: no live tensors
    again = FeatureSpaceHijack(nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU()), (aux - 0.5) / 0.25,
                               aux, None, decoder="res_normN0C8", lr=3e-3, batch=16, gp=10.0, match_norm=True, seed=9,
                               device=torch.device("cpu"))
    again.load_state_dict(state)
    assert torch.equal(again.gradient(client_rows, honest, 41), hijack.gradient(client_rows, honest, 41))


def test_run_attack__only_an_active_attacker_is_handed_the_hijack() -> None:
    seen: dict[str, object] = {}

    def spy(name: str):
        def run(client, cfg, train, test, aux_idx, tgt_idx, **kwargs):
            seen[name] = kwargs
            raise SflauditError("stop")
        return run

    passive = AttackPlugin(name="spy_passive", settings=_NoSettings, run=spy("p"),
                           threat=ThreatModel(holds=("aux",), client_weights=False, uses_aux=True,
                                              target_activations=False))
    active = AttackPlugin(name="spy_active", settings=_NoSettings, run=spy("a"),
                          threat=ThreatModel(holds=("aux",), client_weights=False, uses_aux=True,
                                             target_activations=True, active=True))
    cfg = load_config(preset="smoke")
    images = torch.zeros(4, 3, 16, 16, dtype=torch.uint8)
    from sflaudit.auditors import ATTACKS
    for plugin in (passive, active):
        register_attack(plugin)
        try:
            with pytest.raises(SflauditError, match="stop"):
                run_attack(plugin.name, nn.Identity(), cfg, images, images, torch.arange(2), torch.arange(2),
                           mean=(0.5,) * 3, std=(0.5,) * 3, lpips=LpipsUnavailable("none"), hijack={"decoder": {}})
        finally:
            ATTACKS.unregister(plugin.name)
    assert "hijack" not in seen["p"] and seen["a"]["hijack"] == {"decoder": {}}


@dataclasses.dataclass(frozen=True)
class _NoSettings:
    targets: int = 128


def test_fsha_inversion__refuses_a_checkpoint_of_an_honest_server() -> None:
    cfg = load_config(preset="smoke", overrides=["model.depth=1"])
    images = torch.zeros(4, 3, 16, 16, dtype=torch.uint8)
    with pytest.raises(SflauditError, match="trained by an honest server"):
        run_attack("fsha", nn.Identity(), cfg, images, images, torch.arange(2), torch.arange(2), mean=(0.5,) * 3,
                   std=(0.5,) * 3, lpips=LpipsUnavailable("none"), hijack=None)
