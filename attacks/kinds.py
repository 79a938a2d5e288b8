"""The attack kinds behind ``sflaudit invert --attack``: one runner per kind and what each attacker holds.

Every runner has the signature ``(client, cfg, train, test, aux_idx, tgt_idx, *, mean, std, lpips, progress) ->
AttackResult`` (train/test: the dataset's N×3×H×W uint8 splits; aux_idx / tgt_idx: the seeded attacker and target
indices of :func:`attacks.job.attack_indices`). The threat model of each kind is data (:data:`THREAT_MODELS`):

* ``prior``      — the auxiliary set only: no client weights, no activation at all (the knows-nothing floor);
* ``decoder``    — client weights + auxiliary set + target activations;
* ``hybrid``     — the same as ``decoder`` (decoder output refined through the client weights);
* ``substitute`` — auxiliary set + the activations received during training + target activations; no weights;
* ``whitebox``   — client weights + target activations (no auxiliary set).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from attacks.hybrid import hybrid_attack
from attacks.inversion import Q7_TARGET_STD, AttackResult, decoder_attack, prepare_pairs
from attacks.metrics import LpipsScorer, LpipsUnavailable, summarize
from attacks.prior import prior_attack
from attacks.whitebox import whitebox_invert
from sflaudit.config import Config
from sflaudit.errors import SflauditError
from sflaudit.models import cut_info
from sflaudit.sfl.setup import pick_device

ProgressFn = Callable[[dict[str, object]], None]
Lpips = LpipsScorer | LpipsUnavailable

KINDS: tuple[str, ...] = ("prior", "decoder", "hybrid", "substitute", "whitebox")
DECODER_KINDS: frozenset[str] = frozenset({"prior", "decoder", "hybrid"})   # train the decoder of attack.decoder

_WEIGHTS = "synced client weights (client 0 online, eval mode)"
_AUX = "auxiliary set"
_TARGETS = "target activations"
THREAT_MODELS: dict[str, dict[str, Any]] = {
    "prior": {"holds": [_AUX], "client_weights": False, "uses_aux": True, "target_activations": False,
              "training_activations": False},
    "decoder": {"holds": [_WEIGHTS, _AUX, _TARGETS], "client_weights": True, "uses_aux": True,
                "target_activations": True, "training_activations": False},
    "hybrid": {"holds": [_WEIGHTS, _AUX, _TARGETS], "client_weights": True, "uses_aux": True,
               "target_activations": True, "training_activations": False},
    "substitute": {"holds": [_AUX, "activations received during training", _TARGETS], "client_weights": False,
                   "uses_aux": True, "target_activations": True, "training_activations": True},
    "whitebox": {"holds": [_WEIGHTS, _TARGETS], "client_weights": True, "uses_aux": False,
                 "target_activations": True, "training_activations": False},
}


def threat_model(kind: str, *, aux_images: int) -> dict[str, Any]:
    """The record's threat model of ``kind`` (without the checkpoint fields): attacker, holds, client_weights,
    aux_images (0 when the kind uses no auxiliary set), aux_source, target/training activations used."""
    if kind not in THREAT_MODELS:
        raise SflauditError(f"attack.kind = {kind!r} is not one of {', '.join(KINDS)}")
    tm = THREAT_MODELS[kind]
    return {"attacker": "honest-but-curious server", "holds": list(tm["holds"]),
            "client_weights": tm["client_weights"], "aux_images": aux_images if tm["uses_aux"] else 0,
            "aux_source": "train split, seeded" if tm["uses_aux"] else None,
            "target_activations": tm["target_activations"], "training_activations": tm["training_activations"]}


def _decoder_kw(cfg: Config) -> dict[str, Any]:
    a = cfg.attack
    return dict(decoder=a.decoder, epochs=a.epochs, batch=a.batch, lr=a.lr, patience=a.patience, seed=cfg.run.seed,
                faithful=a.faithful)


def activation_shape(cfg: Config, image_size: int) -> tuple[int, int, int]:
    """(C, h, w) of one image's activation at the config's cut, analytically (no weights): the sent tensors'
    channels summed (both tensors at a mid-block cut), their common spatial size."""
    sent = cut_info(cfg.model.arch, cfg.model.depth, width=cfg.model.width, input_size=image_size,
                    bottleneck=cfg.defence.bottleneck).sent
    return sum(c for c, _, _ in sent), sent[0][1], sent[0][2]


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
    from attacks.substitute import run_substitute   # lazy: its own module, written separately

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


RUNNERS: dict[str, Callable[..., AttackResult]] = {
    "prior": run_prior, "decoder": run_decoder, "hybrid": run_hybrid, "substitute": run_substitute_kind,
    "whitebox": run_whitebox,
}


def run_attack(kind: str, client: nn.Module | None, cfg: Config, train: Tensor, test: Tensor, aux_idx: Tensor,
               tgt_idx: Tensor, *, mean: tuple, std: tuple, lpips: Lpips,
               progress: ProgressFn | None = None,
               trained_decoder: tuple[dict[str, Tensor], dict[str, Any]] | None = None) -> AttackResult:
    """Run attack ``kind`` (``client`` may be None for ``prior``, which never reads it); ``trained_decoder`` (the
    decoder attack's weights and training record, same settings and client) spares the hybrid its decoder fit."""
    if kind not in RUNNERS:
        raise SflauditError(f"attack.kind = {kind!r} is not one of {', '.join(KINDS)}")
    if client is None and kind != "prior":
        raise SflauditError(f"the {kind} attack needs the checkpoint's client")
    extra = {"trained_decoder": trained_decoder} if kind == "hybrid" else {}
    return RUNNERS[kind](client, cfg, train, test, aux_idx, tgt_idx, mean=mean, std=std, lpips=lpips,
                         progress=progress, **extra)
