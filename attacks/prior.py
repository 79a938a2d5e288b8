"""The knows-nothing baseline: the best reconstruction an attacker makes without looking at any activation.

Whatever a target's activation says, an attacker who ignores it can only output one guess per target that depends
on its own auxiliary images. Two candidates, both fitted on the training part of the attacker's 90/10 split of its
auxiliary set (the same split the decoder attack uses):

* ``mean_image`` — the per-pixel mean of the auxiliary images (the MSE-optimal constant guess);
* ``noise_decoder`` — the decoder attack's decoder and budget trained on activations replaced by N(0, 1) noise of
  the real activations' shape, drawn independently of the images, and applied to fresh noise for the targets.

The candidate with the lower MSE on the attacker's own validation part wins (never chosen by the targets). Every
attack's metrics can then be read relative to this floor ("leakage above prior"). The functions here take no client
and no target activation: the prior cannot read them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from torch import Tensor

from sflaudit.attacks.decoder_fit import ProgressFn, decode, fit_decoder
from sflaudit.attacks.inversion import Q7_TARGET_STD, AttackResult, check_images, prepare_pairs
from sflaudit.attacks.metrics import LpipsScorer, LpipsUnavailable, summarize
from sflaudit.errors import SflauditError

CANDIDATES = ("mean_image", "noise_decoder")
NOISE_SEED_OFFSET = 7919   # the noise generator is seeded ``seed + NOISE_SEED_OFFSET`` (apart from the decoder's)


def mean_image(gt: Tensor) -> Tensor:
    """Per-pixel mean of N×3×H×W images in [0, 1] → 3×H×W float32, summed in float64 (N equal images give exactly
    that image back)."""
    if gt.dim() != 4 or gt.shape[0] < 1:
        raise SflauditError(f"the mean image needs a non-empty N×3×H×W batch, got {tuple(gt.shape)}")
    return gt.double().mean(dim=0).float()


def image_mse(pred: Tensor, gt: Tensor) -> float:
    """Mean squared error of predictions (N×3×H×W, or one 3×H×W image broadcast) against N×3×H×W ground truth."""
    return float((pred.float() - gt.float()).pow(2).mean())


def prior_attack(aux_images: Tensor, target_images: Tensor, *, activation_shape: Sequence[int],
                 mean: Sequence[float], std: Sequence[float], decoder: str = "res_normN4C64", epochs: int = 50,
                 batch: int = 32, lr: float = 1e-3, patience: int = 0, seed: int, faithful: bool = False,
                 target_std: Sequence[float] | None = None, device: torch.device | str = "cpu",
                 lpips: LpipsScorer | LpipsUnavailable | None = None,
                 progress: ProgressFn | None = None) -> AttackResult:
    """The prior baseline: the better (on the attacker's validation split) of the mean image and a noise decoder.

    Args:
        aux_images: Na×3×H×W uint8 attacker images (Na ≥ 2).
        target_images: Nt×3×H×W uint8 victim images — used only for their ground truth (the metrics), prepared
            exactly as the other attacks prepare theirs (``faithful`` → JPEG q75 and the Q7 target std).
        activation_shape: (C, h, w) of one image's activation (public: the server sees it on the wire); the noise
            decoder's input shape. No activation values are ever read.
        mean, std: the dataset normalisation (only for the faithful ground truth).
        decoder, epochs, batch, lr, patience, seed: the decoder attack's architecture and budget.
        device: where the noise decoder trains.
    Returns:
        AttackResult: Nt×3×H×W reconstructions (the chosen candidate's guesses), ground truth, metrics; ``extra``:
        ``candidates`` {name: validation MSE}, ``chosen``; the noise decoder's curves in train_loss / val_loss.
    """
    start = time.perf_counter()
    check_images(aux=aux_images, target=target_images)
    if len(activation_shape) != 3 or min(activation_shape) < 1:
        raise SflauditError(f"activation_shape must be (C, h, w) with positive sizes, got {tuple(activation_shape)}")
    if faithful and target_std is None:
        target_std = Q7_TARGET_STD
    _, aux_gt = prepare_pairs(aux_images, mean, std, faithful=faithful)
    _, tgt_gt = prepare_pairs(target_images, mean, std, faithful=faithful, input_std=target_std)
    noise_gen = torch.Generator().manual_seed(seed + NOISE_SEED_OFFSET)
    shape = tuple(int(v) for v in activation_shape)
    aux_noise = torch.randn(aux_images.shape[0], *shape, generator=noise_gen)
    fit = fit_decoder(aux_noise.to(device), aux_gt.to(device), decoder=decoder, epochs=epochs, batch=batch, lr=lr,
                      seed=seed, faithful=faithful, patience=patience, progress=progress)
    # both candidates scored alike: eval mode, the mean over the validation part (faithful's batch minimum is not)
    val_gt = aux_gt[fit.val_idx]
    avg = mean_image(aux_gt[fit.train_idx])
    candidates = {"mean_image": image_mse(avg, val_gt),
                  "noise_decoder": image_mse(decode(fit.net, aux_noise[fit.val_idx].to(device)), val_gt)}
    chosen = min(CANDIDATES, key=lambda name: (candidates[name], CANDIDATES.index(name)))
    n_targets = target_images.shape[0]
    if chosen == "mean_image":
        recon = avg.unsqueeze(0).expand(n_targets, -1, -1, -1).contiguous()
    else:
        recon = decode(fit.net, torch.randn(n_targets, *shape, generator=noise_gen).to(device))
    return AttackResult(reconstructions=recon, targets=tgt_gt, metrics=summarize(recon, tgt_gt, lpips=lpips),
                        train_loss=fit.train_loss, val_loss=fit.val_loss, best_epoch=fit.best_epoch,
                        best_val=candidates[chosen], wall_s=time.perf_counter() - start, activation_shape=shape,
                        extra={"candidates": candidates, "chosen": chosen, "epochs_run": len(fit.val_loss),
                               "noise": "N(0, 1), independent of the images"})
