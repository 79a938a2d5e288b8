"""DP-SGD on the clients' parameters (``defence.dp_epsilon``), with Opacus (Abadi et al., CCS 2016).

What it protects, and what it does not: DP-SGD bounds what the **client weights** — and so every sync and the final
model — reveal about any one training image of a client. It does nothing to the forward activations a client sends
every step: the server (and every reconstruction attack) still receives them exactly as without DP. The report
shows the attack results of a DP cell beside the others; it never claims the activations are private.

The mechanism, per client step (Opacus's GradSampleModule records per-row gradients; DPOptimizer clips, noises and
averages them):

* the server's gradient for the client's rows is ∂L/∂h with L the mean InfoNCE over all R rows of the pool, so it
  is multiplied by R to give each row's own loss gradient ∂ℓ_i/∂h_i;
* every row's parameter gradient is clipped to L2 norm C / r, where r = rows per image (2 when the client sends both
  view orders, ``ssl.symmetric = "client"``; else 1), so one image moves the summed gradient by at most C;
* Gaussian noise N(0, (σ·C)²) is added to the sum, which is divided by R (the scale of the non-DP update); the
  optimizer is told σ' = r·σ for a per-row bound C / r, which is the same noise.

σ is chosen by Opacus's RDP accountant (``get_noise_multiplier``) so that the whole run costs at most
(ε = ``dp_epsilon``, δ = ``dp_delta``) per client, with sample rate q = B / |client's partition| and, conservatively,
every step of the schedule counted for every client (clients outside the epoch's pool take fewer steps, so their
real ε is lower). As in Opacus's own non-Poisson loaders, the shuffled fixed-size batches are accounted as Poisson
sampling at rate q.

BatchNorm mixes the rows of a batch, so per-row gradients do not exist for it: a DP client's BatchNorm layers are
replaced by GroupNorm (Opacus's ``ModuleValidator.fix``) in every model built from the config — trainer, TCP client,
attacks and monitors alike.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from sflaudit.config import Config
from sflaudit.errors import SflauditError, first_line


@dataclass(frozen=True)
class DPSettings:
    """The DP-SGD mechanism of a run (one per run: every client's partition has client 0's size, protocol §3.3)."""

    epsilon: float            # target ε over the whole run, per client
    delta: float
    clip: float               # C: per-image L2 bound of a client's parameter gradient
    noise_multiplier: float   # σ: noise std on the summed clipped gradients is σ·C
    sample_rate: float        # q = B / client partition size
    steps: int                # steps accounted (the whole schedule)
    rows_per_image: int       # r: 2 with client-side symmetric views, else 1

    def record(self) -> dict[str, float | int]:
        """The settings as a metrics.jsonl record (``type = "dp"``)."""
        return {"type": "dp", "epsilon": self.epsilon, "delta": self.delta, "clip": self.clip,
                "noise_multiplier": self.noise_multiplier, "sample_rate": self.sample_rate, "steps": self.steps,
                "rows_per_image": self.rows_per_image, "accountant": "rdp (opacus)"}


def dp_settings(cfg: Config, partition_size: int, steps: int) -> DPSettings | None:
    """The mechanism reaching (``defence.dp_epsilon``, ``defence.dp_delta``) in ``steps`` steps of batch B over a
    partition of ``partition_size`` images; None when ``dp_epsilon`` is 0."""
    d = cfg.defence
    if d.dp_epsilon <= 0:
        return None
    from opacus.accountants.utils import get_noise_multiplier

    q = min(1.0, cfg.sfl.batch / max(1, partition_size))
    try:
        with warnings.catch_warnings():      # "optimal order is the largest alpha": a valid, slightly loose bound
            warnings.simplefilter("ignore", UserWarning)
            sigma = get_noise_multiplier(target_epsilon=d.dp_epsilon, target_delta=d.dp_delta, sample_rate=q,
                                         steps=max(1, steps), accountant="rdp")
    except ValueError as exc:
        raise SflauditError(f"defence.dp_epsilon = {d.dp_epsilon}: no noise level reaches it ({first_line(exc)})") \
            from None
    return DPSettings(epsilon=d.dp_epsilon, delta=d.dp_delta, clip=d.dp_clip, noise_multiplier=float(sigma),
                      sample_rate=q, steps=max(1, steps), rows_per_image=2 if cfg.ssl.symmetric == "client" else 1)


def dp_client(module: nn.Module) -> nn.Module:
    """A copy of the client module with BatchNorm replaced by GroupNorm (Opacus's fixers) and in-place activations
    made out-of-place; refused in one line when Opacus still cannot compute its per-row gradients."""
    from opacus.validators import ModuleValidator

    fixed = ModuleValidator.fix(module)
    for m in fixed.modules():              # Opacus's backward hooks forbid in-place ops on a hooked layer's output
        if getattr(m, "inplace", False):
            m.inplace = False
    errors = ModuleValidator.validate(fixed, strict=False)
    if errors:
        raise SflauditError(f"defence.dp_epsilon: this client model is not DP-SGD compatible ({first_line(errors[0])})")
    return fixed


class DPClientStep:
    """One client's DP-SGD: per-row gradient hooks on its online model and Opacus's DPOptimizer around its SGD.

    The hooks live on the module's layers, so calling the module itself records per-row gradients whenever it runs
    in training mode with gradients enabled (never in the no-grad monitors or attacks). The noise is drawn from a
    generator seeded per client, saved in the resume state (``trainer["dp"]``) so that a resumed run continues the
    same stream.
    """

    def __init__(self, module: nn.Module, optimizer: torch.optim.Optimizer, settings: DPSettings, *, seed: int) -> None:
        from opacus import GradSampleModule
        from opacus.optimizers import DPOptimizer

        self.settings = settings
        self.hooks = GradSampleModule(module, loss_reduction="sum")
        device = next(module.parameters()).device                 # Opacus draws the noise where the weights are
        self.generator = torch.Generator(device=device).manual_seed(seed)
        r = settings.rows_per_image
        self.optimizer = DPOptimizer(optimizer, noise_multiplier=r * settings.noise_multiplier,
                                     max_grad_norm=settings.clip / r, expected_batch_size=1, loss_reduction="mean",
                                     generator=self.generator)

    def per_row_gradient(self, grad: Tensor, rows_total: int) -> Tensor:
        """The server's gradient for this client's rows (R×… of a mean over ``rows_total`` rows) as each row's own
        loss gradient; sets the optimizer's divisor to ``rows_total`` (the non-DP update's scale)."""
        self.optimizer.expected_batch_size = rows_total
        return grad * rows_total

    @staticmethod
    def backward(h: Tensor, grad: Tensor) -> None:
        """h.backward(grad), without the hooks' warning that the layer input needs no gradient (the client's input
        images never do)."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Full backward hook is firing", category=UserWarning)
            h.backward(grad)

    def state_dict(self) -> dict[str, Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.generator.set_state(state["generator"])
