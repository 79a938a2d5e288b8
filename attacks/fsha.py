"""Feature-space hijacking (FSHA, Pasquini, Ateniese and Bernaschi, CCS 2021), adapted to split self-supervised training.

The malicious server holds an auxiliary image set and controls the gradients it sends back. Beside the honest
server step it trains

* a *pilot* f̃ — a freshly initialised copy of the client network (the architecture is public in split learning),
  so that its output has exactly the shape of what the clients send;
* a *decoder* f̃⁻¹ — the decoder attack's network (``attack.decoder``'s family), trained with f̃ as an autoencoder
  on the auxiliary images: ``‖f̃⁻¹(f̃(x_aux)) − x_aux‖²``;
* a *critic* D — a Wasserstein critic with gradient penalty (WGAN-GP, as the paper's reference implementation uses)
  that scores pilot outputs high and client activations low.

Instead of the contrastive gradient it sends every client ``∂(−D(h))/∂h`` for its query activations h: the clients'
own SGD then moves their activations into the pilot's feature space, where f̃⁻¹ inverts them. With ``match_norm``
the hijacked gradient is rescaled to the honest gradient's norm, so the clients see gradients of the usual size
(the paper's clients use Adam, which is scale-free; ours use SGD). The honest server step still runs: the server
keeps a plausible model (the kNN monitor and the loss log look normal) and learns nothing else from the hijack.

Differences from the paper, all forced by the setting: the clients are the MocoSFL clients (SGD, their own
schedule; their code is unchanged), a step holds the pool's query activations of several clients, and the
training is as long as the run (the paper trains for 10⁴ iterations or more).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sflaudit.attacks.decoders import build_decoder
from sflaudit.models.frontier import Frontier, regrid


def build_critic(shape: Sequence[int]) -> nn.Module:
    """WGAN critic for one activation of ``shape`` (C×H×W, or a flat N): → B×1. No normalisation layers, so each
    row's score (and its gradient) depends on that row alone."""
    if len(shape) == 3:
        c, h, w = shape
        stride = 2 if min(h, w) >= 4 else 1
        return nn.Sequential(nn.Conv2d(c, 64, 3, padding=1), nn.LeakyReLU(0.2),
                             nn.Conv2d(64, 128, 3, stride=stride, padding=1), nn.LeakyReLU(0.2),
                             nn.Conv2d(128, 128, 3, padding=1), nn.LeakyReLU(0.2),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 1))
    n = math.prod(shape)
    return nn.Sequential(nn.Flatten(), nn.Linear(n, 256), nn.LeakyReLU(0.2), nn.Linear(256, 256), nn.LeakyReLU(0.2),
                         nn.Linear(256, 1))


def gradient_penalty(critic: nn.Module, real: Tensor, fake: Tensor, generator: torch.Generator) -> Tensor:
    """WGAN-GP's ``E[(‖∇D(x̂)‖ − 1)²]`` on random interpolates x̂ of the B rows of ``real`` and ``fake``."""
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), generator=generator).to(real)
    mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mix).sum(), mix, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def hijack_gradient(critic: nn.Module, queries: Tensor) -> Tensor:
    """``∂(−Σ D(h_i))/∂h`` for R×… ``queries``: row i's gradient depends on row i only."""
    h = queries.detach().float().requires_grad_(True)
    (grad,) = torch.autograd.grad(-critic(h).sum(), h)
    return grad


def rescaled(grad: Tensor, like: Tensor) -> Tensor:
    """``grad`` scaled to the Frobenius norm of ``like`` (zero stays zero)."""
    norm = grad.norm()
    return grad * (like.float().norm() / norm) if float(norm) > 0 else grad


class FeatureSpaceHijack:
    """The malicious server's FSHA state during one run (a ``sflaudit.attackers.Hijack``)."""

    def __init__(self, pilot: nn.Module, aux_inputs: Tensor, aux_truth: Tensor, frontier: Frontier | None, *,
                 decoder: str, lr: float, batch: int, gp: float, match_norm: bool, seed: int,
                 device: torch.device) -> None:
        """aux_inputs: Na×3×S×S normalised as the clients normalise; aux_truth: the same images in [0, 1]."""
        self.frontier, self.gp, self.match_norm = frontier, gp, match_norm
        self.batch = min(batch, int(aux_inputs.shape[0]))
        self.generator = torch.Generator().manual_seed(seed)
        self.aux_inputs, self.aux_truth = aux_inputs.to(device), aux_truth.to(device)
        self.pilot = pilot.to(device).train()
        with torch.no_grad():
            probe = self.pilot(self.aux_inputs[:2])
        shape, view = tuple(probe.shape[1:]), tuple(self._view(probe).shape[1:])
        self.decoder = build_decoder(decoder, view[0], view[1], int(aux_inputs.shape[-1])).to(device)
        self.critic = build_critic(shape).to(device)
        self.opt_ae = torch.optim.Adam([*self.pilot.parameters(), *self.decoder.parameters()], lr=lr)
        self.opt_critic = torch.optim.Adam(self.critic.parameters(), lr=lr, betas=(0.5, 0.9))
        self._log: dict[str, float] = {}

    def _view(self, h: Tensor) -> Tensor:
        """What the decoder reads: the attacker's 4-D view of a packed frontier (as the passive attacks see it)."""
        return h if self.frontier is None else regrid(h, self.frontier)

    def _aux_batch(self) -> tuple[Tensor, Tensor]:
        idx = torch.randperm(int(self.aux_inputs.shape[0]), generator=self.generator)[:self.batch]
        idx = idx.to(self.aux_inputs.device)
        return self.aux_inputs[idx], self.aux_truth[idx]

    def gradient(self, queries: Tensor, honest: Tensor, step: int) -> Tensor:
        """One FSHA iteration (autoencoder, then critic), then the hijacked gradient for ``queries``."""
        x, truth = self._aux_batch()
        z = self.pilot(x)
        ae = F.mse_loss(self.decoder(self._view(z)), truth)
        self.opt_ae.zero_grad(set_to_none=True)
        ae.backward()
        self.opt_ae.step()
        real, fake = z.detach(), queries.detach().float()
        rows = min(real.shape[0], fake.shape[0])
        wasserstein = self.critic(fake).mean() - self.critic(real).mean()
        loss = wasserstein + self.gp * gradient_penalty(self.critic, real[:rows], fake[:rows], self.generator)
        self.opt_critic.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_critic.step()
        grad = hijack_gradient(self.critic, queries)
        if self.match_norm:
            grad = rescaled(grad, honest)
        self._log = {"fsha_ae": round(float(ae.detach()), 6), "fsha_w": round(-float(wasserstein.detach()), 6)}
        return grad.to(honest.dtype)

    def log(self) -> dict[str, float]:
        out, self._log = self._log, {}
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"pilot": self.pilot.state_dict(), "decoder": self.decoder.state_dict(),
                "critic": self.critic.state_dict(), "opt_ae": self.opt_ae.state_dict(),
                "opt_critic": self.opt_critic.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pilot.load_state_dict(state["pilot"])
        self.decoder.load_state_dict(state["decoder"])
        self.critic.load_state_dict(state["critic"])
        self.opt_ae.load_state_dict(state["opt_ae"])
        self.opt_critic.load_state_dict(state["opt_critic"])
        self.generator.set_state(state["generator"])
