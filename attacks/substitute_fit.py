"""The substitute client of the FORA attack (:mod:`sflaudit.attacks.substitute`) and its training.

:class:`ClientSpec` is the client's public architecture; :func:`init_substitute` builds a fresh client of it with a
seed the real client never had, and :func:`train_substitute` fits it so that its activations of the attacker's
auxiliary images are distributed like the real activations the server received (multi-kernel MMD plus a
non-saturating GAN critic, :mod:`sflaudit.attacks.mmd`), keeping the weights of the best point of its MMD curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from sflaudit.attacks.decoder_fit import ProgressFn
from sflaudit.attacks.mmd import critic_loss, generator_loss, mk_mmd2, sample_bandwidths
from sflaudit.models import split_model
from sflaudit.models.frontier import attacker_view

SUBSTITUTE_SEED_OFFSET = 104_729   # substitute init seed = run seed + this (never the seed the real client had)
MMD_WEIGHT = 1.0
ADV_WEIGHT = 0.1
EVAL_IMAGES = 128            # images in the fixed sets the MMD curve is measured on
EVAL_EVERY = 50              # steps between MMD curve points (and the last step); fixed, so a shorter run's curve
                             # is a prefix of a longer one's


@dataclass(frozen=True)
class ClientSpec:
    """The client's architecture (public: the SFL code is shared), never its weights."""

    arch: str
    depth: int
    width: float
    input_size: int
    bottleneck: str = "none"
    norm: str = "groupnorm"

    def build(self) -> nn.Module:
        """A fresh, untrained client B×3×S×S → B×C×h×w (a traced cut of several grids: regridded as the served
        client is, :func:`~sflaudit.models.frontier.attacker_view`), initialised from torch's global RNG."""
        split = split_model(self.arch, self.depth, width=self.width, input_size=self.input_size,
                            bottleneck=self.bottleneck, norm=self.norm)
        return attacker_view(split.client, split.info.frontier)


def init_substitute(spec: ClientSpec, seed: int) -> nn.Module:
    """Fresh client of ``spec`` initialised with seed + SUBSTITUTE_SEED_OFFSET (the trainer seeds the real client
    with the run seed, so reusing it would rebuild a random-init client's exact weights)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + SUBSTITUTE_SEED_OFFSET)
        return spec.build()


def _adam(module: nn.Module, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(module.parameters(), lr=lr, betas=(0.5, 0.999))


def eval_steps(steps: int, every: int = EVAL_EVERY) -> set[int]:
    """The steps after which the MMD curve is measured: every ``every``-th step and the last one (0 is measured
    before training)."""
    return set(range(every, steps + 1, every)) | ({steps} if steps > 0 else set())


def train_substitute(sub: nn.Module, critic: nn.Module, aux_inputs: Tensor, observed: Tensor, *, steps: int,
                     batch: int, lr: float, generator: torch.Generator,
                     progress: ProgressFn | None = None) -> list[tuple[int, float]]:
    """Fit ``sub`` so that sub(aux) ~ observed: per step one critic update, then one substitute update on
    MMD_WEIGHT · MK-MMD²(flattened sub(x), flattened h) + ADV_WEIGHT · non-saturating GAN loss.

    aux_inputs: Na×3×H×W normalised images, observed: No×C×h×w real activations (same device as ``sub``).
    Returns the MMD curve [(step, MMD²)] on fixed eval sets with bandwidths fixed from the observed eval set;
    ``sub`` ends with the weights of the curve's lowest point (the best match the attacker can measure).
    """
    opt_s, opt_c = _adam(sub, lr), _adam(critic, lr)
    n_aux, n_obs = aux_inputs.shape[0], observed.shape[0]
    eval_x, eval_h = aux_inputs[:EVAL_IMAGES], observed[:EVAL_IMAGES]
    sigmas = sample_bandwidths(eval_h)
    marks = eval_steps(steps)
    curve: list[tuple[int, float]] = []
    best: dict[str, Tensor] = {}

    def evaluate(step: int, d_loss: float, g_loss: float) -> None:
        sub.eval()
        with torch.no_grad():
            value = float(mk_mmd2(sub(eval_x), eval_h, bandwidths=sigmas))
        if not curve or value < min(v for _, v in curve):
            best.update({k: v.detach().clone() for k, v in sub.state_dict().items()})
        curve.append((step, value))
        if progress is not None:
            progress({"stage": "substitute", "step": step, "steps": steps, "mmd": value, "critic_loss": d_loss,
                      "adv_loss": g_loss})

    evaluate(0, float("nan"), float("nan"))
    for step in range(1, steps + 1):
        sub.train()
        xa = aux_inputs[torch.randint(n_aux, (min(batch, n_aux),), generator=generator).to(aux_inputs.device)]
        real = observed[torch.randint(n_obs, (min(batch, n_obs),), generator=generator).to(observed.device)]
        fake = sub(xa)
        critic.requires_grad_(True)
        d_loss = critic_loss(critic(real), critic(fake.detach()))
        opt_c.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_c.step()
        critic.requires_grad_(False)
        g_adv = generator_loss(critic(fake))
        loss = MMD_WEIGHT * mk_mmd2(fake, real) + ADV_WEIGHT * g_adv
        opt_s.zero_grad(set_to_none=True)
        loss.backward()
        opt_s.step()
        if step in marks:
            evaluate(step, float(d_loss.detach()), float(g_adv.detach()))
    sub.load_state_dict(best)
    sub.eval()
    return curve
