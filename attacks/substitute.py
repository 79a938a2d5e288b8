"""Substitute-client attack (FORA, Xu et al., CVPR 2024): reconstruct without the client's weights.

Threat model: the curious server does *not* hold the client's weights (secure aggregation, or a separate
aggregator). It holds its auxiliary images, the real cut-layer activations it received during training and the
activations of the targets. It trains a substitute client — the client's architecture, fresh initialisation — on its
auxiliary images so that the substitute's activations are distributed like the received ones (multi-kernel MMD plus
a non-saturating GAN discriminator, :mod:`sflaudit.attacks.mmd`), trains an inverse network (a decoder) on
(substitute(aux), aux) pairs and applies it to the real target activations. It trains at most
``attack.substitute_steps``, fewer where ``attack.substitute_budget`` of the inverse network's work is less.

The split is structural: :func:`run_substitute` holds the real client only to produce the traffic (activations of
a seeded sample of training images the clients sent, and the targets'); :func:`substitute_attack` receives a
:class:`SubstituteInputs` of tensors and plain values — no module, no weight — and does the rest.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from sflaudit.attacks.decoder_fit import ProgressFn, decode, fit_decoder, split_train_val
from sflaudit.attacks.decoders import build_decoder
from sflaudit.attacks.flops import forward_flops, step_cap
from sflaudit.attacks.inversion import (Q7_TARGET_STD, AttackResult, _device_of, check_images, client_activations,
                                        prepare_pairs)
from sflaudit.attacks.metrics import LpipsScorer, LpipsUnavailable, negated, ssim_skimage, summarize
from sflaudit.attacks.mmd import ActivationCritic
from sflaudit.attacks.substitute_fit import ClientSpec, init_substitute, train_substitute
from sflaudit.config import Config
from sflaudit.errors import SflauditError

OBSERVED_SEED = 125          # sample of training images whose activations the server received (aux 123, target 124)
DEFAULT_STEPS = 1000         # attack.substitute_steps (50 left the substitute unmatched: docs/results.md)
DEFAULT_BUDGET = 0.75        # attack.substitute_budget: the substitute's training may take at most this share of
                             # the inverse network's arithmetic, so the attack costs ≤ 2× the decoder attack (FLOPs
                             # and the clock differ by up to a fifth at deep cuts: docs/results.md)
DEFAULT_LR = 1e-3            # Adam lr of the substitute and the critic (attack.substitute_lr)
BATCH_SEED_OFFSET = 2        # the substitute's batches are drawn by a generator seeded run seed + this


@dataclass(frozen=True)
class SubstituteInputs:
    """Everything the substitute attacker holds. Tensors are float32 on the CPU.

    observed: No×C×h×w real activations the server received during training (not of aux or target images).
    targets: Nt×C×h×w real activations of the target images.
    aux_inputs: Na×3×H×W the attacker's auxiliary images, normalised as the client normalises its inputs.
    aux_truth: Na×3×H×W the same images in [0, 1] (the inverse network's training targets).
    client: the client's architecture.
    """

    observed: Tensor
    targets: Tensor
    aux_inputs: Tensor
    aux_truth: Tensor
    client: ClientSpec

    def __post_init__(self) -> None:
        for name in ("observed", "targets", "aux_inputs", "aux_truth"):
            t = getattr(self, name)
            if not isinstance(t, Tensor) or t.dim() != 4 or t.requires_grad or isinstance(t, nn.Parameter):
                raise SflauditError(f"SubstituteInputs.{name} must be a plain N×C×H×W tensor")
        if self.observed.shape[1:] != self.targets.shape[1:] or self.observed.shape[0] < 2:
            raise SflauditError(f"observed {tuple(self.observed.shape)} and target {tuple(self.targets.shape)} "
                                f"activations must share C×h×w, with at least 2 observed")
        if self.aux_inputs.shape != self.aux_truth.shape or self.aux_inputs.shape[1] != 3:
            raise SflauditError(f"aux inputs {tuple(self.aux_inputs.shape)} and truth {tuple(self.aux_truth.shape)} "
                                f"must both be Na×3×H×W")


@dataclass
class SubstituteOutcome:
    """reconstructions: Nt×3×H×W in [0, 1] on the CPU. mmd_curve: (step, MMD² of the substitute's activations of
    fixed aux images to fixed observed activations, fixed bandwidths) from step 0. Decoder curves as in
    :func:`sflaudit.attacks.decoder_fit.train_decoder`."""

    reconstructions: Tensor
    mmd_curve: list[tuple[int, float]] = field(default_factory=list)
    step_cap: int | None = None        # the budget's cap on the substitute steps (None: no budget)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0
    best_val: float = float("nan")


def observed_indices(n_train: int, exclude: Tensor, count: int) -> Tensor:
    """Indices into the training split of the images whose activations the server keeps: the first ``count`` of
    ``randperm(n_train)`` seeded OBSERVED_SEED that are not in ``exclude`` (the aux indices)."""
    perm = torch.randperm(n_train, generator=torch.Generator().manual_seed(OBSERVED_SEED))
    keep = perm[~torch.isin(perm, exclude.to(perm.dtype))]
    return keep[:max(0, count)]


def budget_cap(inputs: SubstituteInputs, sub: nn.Module, *, decoder: str, epochs: int, batch: int,
               share: float) -> int | None:
    """:func:`step_cap` of substitute ``sub`` and the inverse network for ``inputs`` (one sample; RNG untouched)."""
    if share <= 0:
        return None
    n_train = len(split_train_val(inputs.aux_inputs.shape[0], faithful=False, generator=torch.Generator())[0])
    c, h, _ = inputs.observed.shape[1:]
    with torch.random.fork_rng(devices=[]):
        client_flops = forward_flops(sub, inputs.aux_inputs[:1].to(_device_of(sub)))
        net = build_decoder(decoder, c, h, inputs.aux_truth.shape[-1])
        decoder_flops = forward_flops(net, inputs.observed[:1])
    return step_cap(client_flops=client_flops, decoder_flops=decoder_flops,
                    decoder_steps=epochs * math.ceil(n_train / batch), share=share)


def substitute_attack(inputs: SubstituteInputs, *, decoder: str = "res_normN4C64", epochs: int = 50, batch: int = 32,
                      lr: float = 1e-3, patience: int = 0, steps: int = DEFAULT_STEPS, budget: float = DEFAULT_BUDGET,
                      substitute_lr: float = DEFAULT_LR, seed: int, faithful: bool = False,
                      device: str | torch.device = "cpu", progress: ProgressFn | None = None) -> SubstituteOutcome:
    """Train a substitute client and an inverse network on it; reconstruct the target activations.

    Args:
        inputs: what the attacker holds (no module, no weight of the real client).
        decoder, epochs, batch, lr, patience: the inverse network and its training, as
            :func:`sflaudit.attacks.inversion.decoder_attack` (:func:`sflaudit.attacks.decoder_fit.fit_decoder`: the
            same 90/10 split of the aux pairs and the same decoder init for a given seed).
        steps, substitute_lr: substitute training (batch ``batch`` of aux images and of observed activations).
        budget: cap the steps at :func:`budget_cap` (the substitute's share of the inverse network's arithmetic;
            0 = run ``steps``).
        seed: decoder init, split and batch order; the substitute's init uses seed + SUBSTITUTE_SEED_OFFSET.
        faithful: the decoder's reference validation quirk (:func:`sflaudit.attacks.decoder_fit.train_decoder`).
        device: where to train.
        progress: per MMD-curve point {"stage": "substitute", …} and per decoder epoch {"stage": "decoder", …}.
    Returns:
        SubstituteOutcome with Nt×3×H×W reconstructions in [0, 1].
    """
    if steps < 0 or batch < 1 or substitute_lr <= 0:
        raise SflauditError(f"substitute training needs steps ≥ 0, batch ≥ 1, substitute_lr > 0 "
                            f"(got {steps}, {batch}, {substitute_lr})")
    dev = torch.device(device)
    sub, critic = attack_models(inputs, seed, dev)
    cap = budget_cap(inputs, sub, decoder=decoder, epochs=epochs, batch=batch, share=budget)
    curve = train_substitute(sub, critic, inputs.aux_inputs.to(dev), inputs.observed.to(dev),
                             steps=steps if cap is None else min(steps, cap), batch=batch, lr=substitute_lr,
                             generator=torch.Generator().manual_seed(seed + BATCH_SEED_OFFSET), progress=progress)
    out = invert_through(sub, inputs, decoder=decoder, epochs=epochs, batch=batch, lr=lr, patience=patience,
                         seed=seed, faithful=faithful, progress=progress)
    out.mmd_curve, out.step_cap = curve, cap
    return out


def attack_models(inputs: SubstituteInputs, seed: int, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """(fresh substitute client, fresh activation critic) on ``device``, both seeded from ``seed``; checks that the
    substitute sends activations of the observed C×h×w."""
    sub = init_substitute(inputs.client, seed).to(device)
    with torch.no_grad():
        probe = sub.eval()(inputs.aux_inputs[:1].to(device))
    if probe.shape[1:] != inputs.observed.shape[1:]:
        raise SflauditError(f"the substitute of {inputs.client} sends {tuple(probe.shape[1:])}, the observed "
                            f"activations are {tuple(inputs.observed.shape[1:])}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        critic = ActivationCritic(inputs.observed.shape[1]).to(device)
    return sub, critic


def invert_through(sub: nn.Module, inputs: SubstituteInputs, *, decoder: str, epochs: int, batch: int, lr: float,
                   patience: int, seed: int, faithful: bool,
                   progress: ProgressFn | None = None) -> SubstituteOutcome:
    """Train the inverse network on (sub(aux), aux) pairs and apply it to the real target activations (mmd_curve
    left empty). ``sub`` is frozen in place."""
    dev = _device_of(sub)
    sub.requires_grad_(False).eval()
    fit = fit_decoder(client_activations(sub, inputs.aux_inputs.to(dev)), inputs.aux_truth.to(dev), decoder=decoder,
                      epochs=epochs, batch=batch, lr=lr, seed=seed, faithful=faithful, patience=patience,
                      progress=progress)
    return SubstituteOutcome(reconstructions=decode(fit.net, inputs.targets.to(dev)), train_loss=fit.train_loss,
                             val_loss=fit.val_loss, best_epoch=fit.best_epoch, best_val=fit.best_val)


def observe(client: nn.Module, cfg: Config, train: Tensor, test: Tensor, aux_idx: Tensor, tgt_idx: Tensor, *,
            mean: Sequence[float], std: Sequence[float]) -> tuple[SubstituteInputs, Tensor]:
    """The network traffic and public data of the attack: (SubstituteInputs, Nt×3×H×W target ground truth).

    The real client computes the activations of ``attack.substitute_observed`` seeded training images outside the
    aux set (what the clients sent) and of the targets (normalised like
    :func:`sflaudit.attacks.inversion.decoder_attack`, Q7 target std when faithful); the module itself does not leave
    this function.
    """
    check_images(train=train, test=test)
    a, m = cfg.attack, cfg.model
    faithful = bool(a.faithful)
    count = a.substitute_observed
    obs_idx = observed_indices(train.shape[0], aux_idx, count)
    if obs_idx.numel() < 2:
        raise SflauditError(f"the substitute attack needs at least 2 observed training images outside the aux set, "
                            f"got {obs_idx.numel()} (attack.substitute_observed = {count})")
    aux_in, aux_gt = prepare_pairs(train[aux_idx], mean, std, faithful=faithful)
    obs_in, _ = prepare_pairs(train[obs_idx], mean, std, faithful=False)
    tgt_in, tgt_gt = prepare_pairs(test[tgt_idx], mean, std, faithful=faithful,
                                   input_std=Q7_TARGET_STD if faithful else None)
    spec = ClientSpec(arch=m.arch, depth=m.depth, width=m.width, input_size=int(train.shape[-1]),
                      bottleneck=cfg.defence.bottleneck, norm=m.norm)
    inputs = SubstituteInputs(observed=client_activations(client, obs_in).cpu().contiguous(),
                              targets=client_activations(client, tgt_in).cpu().contiguous(),
                              aux_inputs=aux_in.contiguous(), aux_truth=aux_gt.contiguous(), client=spec)
    return inputs, tgt_gt


def run_substitute(client: nn.Module, cfg: Config, train: Tensor, test: Tensor, aux_idx: Tensor, tgt_idx: Tensor,
                   *, mean: tuple, std: tuple, lpips: LpipsScorer | LpipsUnavailable | None,
                   progress: ProgressFn | None = None) -> AttackResult:
    """The substitute attack on ``client`` of a run: targets are ``test[tgt_idx]``, aux images ``train[aux_idx]``.

    train: N×3×H×W uint8, test: M×3×H×W uint8 (as :mod:`sflaudit.attacks.job` loads them). Reads ``cfg.attack``'s
    decoder, epochs, batch, lr, faithful, patience, substitute_steps, substitute_budget, substitute_lr and
    substitute_observed; seed ``cfg.run.seed``. Returns an AttackResult (metrics of the reconstructions against the
    targets' ground truth; extra: epochs_run, substitute_steps, substitute_step_cap, observed_activations, mmd_curve,
    and ssim_of_negatives — the evaluator's diagnosis, never the attacker's: the mean SSIM of the reconstructions
    reflected through the normalisation mean, high when the substitute matched the client fed −x, a sign the
    received activations barely tell apart; docs/results.md).
    """
    start = time.perf_counter()
    a = cfg.attack
    device = _device_of(client)
    inputs, tgt_gt = observe(client, cfg, train, test, aux_idx, tgt_idx, mean=mean, std=std)
    out = substitute_attack(inputs, decoder=a.decoder, epochs=a.epochs, batch=a.batch, lr=a.lr,
                            patience=a.patience, steps=a.substitute_steps, budget=a.substitute_budget,
                            substitute_lr=a.substitute_lr, seed=cfg.run.seed,
                            faithful=bool(a.faithful), device=device, progress=progress)
    return AttackResult(reconstructions=out.reconstructions, targets=tgt_gt,
                        metrics=summarize(out.reconstructions, tgt_gt, lpips=lpips), train_loss=out.train_loss,
                        val_loss=out.val_loss, best_epoch=out.best_epoch, best_val=out.best_val,
                        wall_s=time.perf_counter() - start, activation_shape=tuple(inputs.targets.shape[1:]),
                        extra={"epochs_run": len(out.val_loss), "substitute_steps": out.mmd_curve[-1][0],
                               "substitute_step_cap": out.step_cap,
                               "ssim_of_negatives": float(ssim_skimage(negated(out.reconstructions, mean),
                                                                       tgt_gt).mean()),
                               "observed_activations": int(inputs.observed.shape[0]),
                               "mmd_curve": [[step, round(v, 6)] for step, v in out.mmd_curve]})
