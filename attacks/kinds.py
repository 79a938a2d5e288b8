"""The built-in attacks' runners (declared as plug-ins in :mod:`sflaudit.attacks.builtin`) and :func:`run_attack`,
which runs any registered attack plug-in with exactly what its threat model grants.

Every runner has the signature ``(client, cfg, train, test, aux_idx, tgt_idx, *, mean, std, lpips, progress) ->
AttackResult`` (train/test: the dataset's N×3×H×W uint8 splits; aux_idx / tgt_idx: the seeded attacker and target
indices of :func:`sflaudit.attacks.job.attack_indices`); a plug-in with ``reuse`` also takes ``trained_decoder``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from sflaudit.attacks.hybrid import hybrid_attack
from sflaudit.attacks.inversion import Q7_TARGET_STD, AttackResult, decoder_attack, prepare_pairs
from sflaudit.attacks.metrics import LpipsScorer, LpipsUnavailable, summarize
from sflaudit.attacks.prior import prior_attack
from sflaudit.attacks.whitebox import whitebox_invert
from sflaudit.auditors import AttackPlugin, get_attack
from sflaudit.config import Config
from sflaudit.errors import SflauditError
from sflaudit.models import cut_info
from sflaudit.sfl.setup import pick_device

ProgressFn = Callable[[dict[str, object]], None]
Lpips = LpipsScorer | LpipsUnavailable

def _decoder_kw(cfg: Config) -> dict[str, Any]:
    a = cfg.attack
    return dict(decoder=a.decoder, epochs=a.epochs, batch=a.batch, lr=a.lr, patience=a.patience, seed=cfg.run.seed,
                faithful=a.faithful)


def activation_shape(cfg: Config, image_size: int) -> tuple[int, int, int]:
    """(C, h, w) of one image's activation at the config's cut, analytically (no weights): the sent tensors'
    channels summed (both tensors at a mid-block cut), their common spatial size."""
    info = cut_info(cfg.model.arch, cfg.model.depth, width=cfg.model.width, input_size=image_size,
                    bottleneck=cfg.defence.bottleneck)
    if info.frontier is not None:
        return info.frontier.regridded       # a traced cut: the attacker's view (frontier.attacker_view)
    return sum(c for c, _, _ in info.sent), info.sent[0][1], info.sent[0][2]


def run_prior(client: nn.Module | None, cfg: Config, train: Tensor, test: Tensor, aux_idx: Tensor, tgt_idx: Tensor,
              *, mean: tuple, std: tuple, lpips: Lpips, progress: ProgressFn | None) -> AttackResult:
    """The prior: ``client`` is ignored (never passed on); only the aux images and the targets' ground truth."""
    del client
    return prior_attack(train[aux_idx], test[tgt_idx], activation_shape=activation_shape(cfg, int(train.shape[-1])),
                        mean=mean, std=std, device=pick_device(cfg.run.device), lpips=lpips, progress=progress,
                        **_decoder_kw(cfg))


def run_decoder(client: nn.Module, cfg: Config, train: Tensor, test: Tensor, aux_idx: Tensor, tgt_idx: Tensor, *,
                mean: tuple, std: tuple, lpips: Lpips, progress: ProgressFn | None) -> AttackResult:
    return decoder_attack(client, train[aux_idx], test[tgt_idx], mean=mean, std=std, lpips=lpips, progress=progress,
                          **_decoder_kw(cfg))


def run_hybrid(client: nn.Module, cfg: Config, train: Tensor, test: Tensor, aux_idx: Tensor, tgt_idx: Tensor, *,
               mean: tuple, std: tuple, lpips: Lpips, progress: ProgressFn | None,
               trained_decoder: tuple[dict[str, Tensor], dict[str, Any]] | None = None) -> AttackResult:
    a = cfg.attack
    return hybrid_attack(client, train[aux_idx], test[tgt_idx], mean=mean, std=std, steps=a.hybrid_steps,
                         step_lr=a.hybrid_lr, tv_weight=a.tv_weight, pull=a.hybrid_pull, lpips=lpips,
                         progress=progress, trained_decoder=trained_decoder, **_decoder_kw(cfg))


def run_substitute_kind(client: nn.Module, cfg: Config, train: Tensor, test: Tensor, aux_idx: Tensor,
                        tgt_idx: Tensor, *, mean: tuple, std: tuple, lpips: Lpips,
                        progress: ProgressFn | None) -> AttackResult:
    from sflaudit.attacks.substitute import run_substitute   # lazy: its own module, written separately

    return run_substitute(client, cfg, train, test, aux_idx, tgt_idx, mean=mean, std=std, lpips=lpips,
                          progress=progress)


def run_whitebox(client: nn.Module, cfg: Config, train: Tensor, test: Tensor, aux_idx: Tensor, tgt_idx: Tensor, *,
                 mean: tuple, std: tuple, lpips: Lpips, progress: ProgressFn | None) -> AttackResult:
    """White-box optimisation from grey noise (no auxiliary set: ``train`` and ``aux_idx`` are unused)."""
    start = time.perf_counter()
    a = cfg.attack
    tgt_images = test[tgt_idx]
    inputs, gt = prepare_pairs(tgt_images, mean, std, faithful=a.faithful,
                               input_std=Q7_TARGET_STD if a.faithful else None)
    device = next(iter(client.parameters())).device
    with torch.no_grad():
        h = client(inputs.to(device))

    def report(step: int, act_mse: float) -> None:
        if progress is not None:
            progress({"stage": "whitebox", "step": step, "steps": a.whitebox_steps, "activation_mse": act_mse})

    recon = whitebox_invert(client, h, mean=mean, std=std, image_size=int(tgt_images.shape[-1]),
                            steps=a.whitebox_steps, lr=a.whitebox_lr, tv_weight=a.tv_weight,
                            generator=torch.Generator().manual_seed(cfg.run.seed), progress=report).cpu()
    return AttackResult(reconstructions=recon, targets=gt, metrics=summarize(recon, gt, lpips=lpips),
                        wall_s=time.perf_counter() - start, activation_shape=tuple(h.shape[1:]))


def needs_client(plugin: AttackPlugin) -> bool:
    """Whether the attack is handed the served client at all: only to compute what its threat model grants (client
    weights, target or training activations). An attacker that holds none of them (the prior) gets None."""
    t = plugin.threat
    return t.client_weights or t.target_activations or t.training_activations


def threat_model(kind: str, *, aux_images: int) -> dict[str, Any]:
    """The record's threat model of attack ``kind`` (without the checkpoint fields)."""
    return get_attack(kind).threat.record(aux_images=aux_images)


def run_attack(kind: str, client: nn.Module | None, cfg: Config, train: Tensor, test: Tensor, aux_idx: Tensor,
               tgt_idx: Tensor, *, mean: tuple, std: tuple, lpips: Lpips,
               progress: ProgressFn | None = None,
               trained_decoder: tuple[dict[str, Tensor], dict[str, Any]] | None = None,
               hijack: dict[str, Any] | None = None) -> AttackResult:
    """Run the attack plug-in ``kind``. An attacker whose threat model grants nothing the client computes never
    receives it (``client`` is dropped to None); ``trained_decoder`` (the reused attack's decoder weights and
    training record, same settings and client) goes only to a plug-in that declares ``reuse``, and the checkpoint's
    ``hijack`` state only to an active attacker (``threat.active``)."""
    plugin = get_attack(kind)
    if not needs_client(plugin):
        client = None
    elif client is None:
        raise SflauditError(f"the {kind} attack needs the checkpoint's client")
    extra: dict[str, Any] = {"trained_decoder": trained_decoder} if plugin.reuse else {}
    if plugin.threat.active:                      # only an active attacker gets what it trained during training
        extra["hijack"] = hijack
    return plugin.run(client, cfg, train, test, aux_idx, tgt_idx, mean=mean, std=std, lpips=lpips,
                      progress=progress, **extra)
