"""Hybrid attack: the decoder's reconstruction refined by white-box optimisation through the client weights.

The strongest passive attacker that holds the client weights: it trains the decoder attack's decoder on its
auxiliary set, decodes the target activations h, and starts the white-box optimisation of
:mod:`sflaudit.attacks.whitebox` (image logits, x = sigmoid(z), Adam) at that output x_dec, minimising per target

    mean (client(normalize(x)) − h)²  +  tv_weight · TV(x)  +  pull · mean (x − x_dec)²

(activation matching — relative to the start's error, so the weights mean the same at every depth —, the
total-variation image prior, and a pull towards the decoder's natural-image guess). Matching deep activations can
drift away from the image (adversarial-like solutions), so the attacker picks the number of steps by SSIM on its
own validation images (0 keeps the decoder output). Per image it keeps the iterate with the lowest activation error,
the decoder output itself included, so the result never matches the activations worse than its start.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from sflaudit.attacks.decoder_fit import ProgressFn, decode, fit_decoder
from sflaudit.attacks.inversion import AttackResult, attack_pairs, client_activations
from sflaudit.attacks.metrics import LpipsScorer, LpipsUnavailable, ssim_reference, summarize
from sflaudit.attacks.whitebox import activation_mse, optimize_images

LOGIT_EPS = 1e-4   # decoder outputs are clamped to [eps, 1 − eps] before taking the logit
VAL_PATIENCE = 10  # the validation refinement stops after this many steps without a better validation SSIM
SSIM_BORDER = 5    # ssim_reference with this border = scikit-image's SSIM (the report's default)


@torch.no_grad()
def activation_errors(client: nn.Module, x: Tensor, h: Tensor, *, mean: Sequence[float], std: Sequence[float],
                      batch: int = 256) -> Tensor:
    """Per-image activation error mean (client(normalize(x)) − h)² in eval mode: x N×3×H×W in [0, 1] and h
    N×C×h×w on the client's device → N (the client's mode is restored)."""
    was_training = client.training
    client.eval()
    try:
        return torch.cat([activation_mse(client, x[i:i + batch], h[i:i + batch], mean=mean, std=std)
                          for i in range(0, x.shape[0], batch)])
    finally:
        client.train(was_training)


def refine(client: nn.Module, h: Tensor, x0: Tensor, *, mean: Sequence[float], std: Sequence[float], steps: int,
           lr: float, tv_weight: float, pull: float, gt: Tensor | None = None, patience: int = 0,
           progress: ProgressFn | None = None) -> tuple[Tensor, Tensor, Tensor, list[float]]:
    """White-box refinement of start images ``x0`` (N×3×H×W in [0, 1]) towards activations ``h`` (N×C×h×w).

    The activation term is each image's error relative to its start's (1 at the start), so ``tv_weight`` and
    ``pull`` weigh the same at every depth. gt: optional N×3×H×W ground truth (the attacker's own validation images,
    H, W ≥ 11) whose mean SSIM (scikit-image's, :func:`sflaudit.attacks.metrics.ssim_reference` with border 5) is
    recorded after k = 0..steps updates; with ``patience`` > 0 the run stops once that SSIM has not improved for
    ``patience`` steps (the curve is then shorter).
    Returns (N×3×H×W refined images, N activation errors of them, N activation errors of ``x0``, the SSIM curve
    (empty without ``gt``)), detached, on ``h``'s device; per image the refined error is ≤ the start's.
    """
    h = h.detach().float()
    x0 = x0.detach().float().to(h.device)
    start_err = activation_errors(client, x0, h, mean=mean, std=std)
    curve: list[float] = []
    truth = None if gt is None else gt.float().to(h.device)

    def watch(k: int, x: Tensor) -> bool:
        """Record the validation SSIM; stop once it has not improved for ``patience`` steps (the best step so far
        is then the choice whatever follows, as with the decoder's early stop)."""
        if truth is None:
            return False
        curve.append(float(ssim_reference(x0 if k == 0 else x, truth, border=SSIM_BORDER).mean()))
        best = max(range(len(curve)), key=lambda i: (curve[i], -i))
        return patience > 0 and len(curve) - 1 - best >= patience

    def report(step: int, act: float) -> None:
        if progress is not None:
            progress({"stage": "hybrid", "step": step, "steps": steps, "activation_mse": act})

    logits = torch.logit(x0.clamp(LOGIT_EPS, 1 - LOGIT_EPS))
    x, err = optimize_images(client, h, logits, mean=mean, std=std, steps=steps, lr=lr, tv_weight=tv_weight,
                             anchor=x0, pull=pull, act_scale=start_err.clamp_min(1e-12), keep_best=True,
                             on_step=watch, progress=report)
    better = err < start_err
    return (torch.where(better.view(-1, 1, 1, 1), x, x0), torch.where(better, err, start_err), start_err, curve)


def hybrid_attack(client: nn.Module, aux_images: Tensor, target_images: Tensor, *, mean: Sequence[float],
                  std: Sequence[float], decoder: str = "res_normN4C64", epochs: int = 50, batch: int = 32,
                  lr: float = 1e-3, patience: int = 0, seed: int, faithful: bool = False, steps: int = 100,
                  step_lr: float = 0.01, tv_weight: float = 0.01, pull: float = 0.1,
                  target_std: Sequence[float] | None = None,
                  lpips: LpipsScorer | LpipsUnavailable | None = None,
                  progress: ProgressFn | None = None,
                  trained_decoder: tuple[dict[str, Tensor], dict[str, Any]] | None = None) -> AttackResult:
    """Decoder attack, then :func:`refine` of its reconstructions through the client.

    ``trained_decoder``: (weights, training record) of the decoder attack with the same settings on the same client
    — the decoder this function would train (same seeds, same activations) — used instead of training it again.

    The number of refinement steps is the attacker's own choice: it refines the decoded images of its validation
    split (aux images it knows) for ``steps`` steps and keeps the step count k* ∈ 0..steps with the highest SSIM
    there (0 = the decoder output is kept), then refines the targets for k* steps. The validation run stops after
    :data:`VAL_PATIENCE` steps without a better SSIM (at deep cuts, where refining only hurts, that is after 10 of
    the 50 steps; where it keeps improving, it runs them all and the choice is the same).

    Args:
        client, aux_images, target_images, mean, std, decoder, epochs, batch, lr, patience, seed, faithful,
            target_std: as :func:`sflaudit.attacks.inversion.decoder_attack` (Na / Nt×3×H×W uint8 images).
        steps, step_lr: the most Adam steps and their learning rate on the image logits. tv_weight, pull: weights.
    Returns:
        AttackResult with the refined Nt×3×H×W reconstructions, the decoder's curves, and in ``extra`` the chosen
        steps and validation curve, activation errors before/after (mean, per image), the decoder start's metric
        means and the wall times.
    """
    start = time.perf_counter()
    aux_in, aux_gt, tgt_in, tgt_gt = attack_pairs(aux_images, target_images, mean, std, faithful=faithful,
                                                  target_std=target_std)
    aux_acts, h = client_activations(client, aux_in), client_activations(client, tgt_in)
    fit = fit_decoder(aux_acts, aux_gt.to(aux_acts.device), decoder=decoder, epochs=epochs, batch=batch, lr=lr,
                      seed=seed, faithful=faithful, patience=patience, progress=progress, trained=trained_decoder)
    x_dec = decode(fit.net, h)
    decoder_wall = time.perf_counter() - start
    val_acts = aux_acts[fit.val_idx]
    _, _, _, curve = refine(client, val_acts, decode(fit.net, val_acts), mean=mean, std=std, steps=steps,
                            lr=step_lr, tv_weight=tv_weight, pull=pull, gt=aux_gt[fit.val_idx],
                            patience=VAL_PATIENCE)
    chosen = max(range(len(curve)), key=lambda k: (curve[k], -k))
    if chosen > 0:
        x, err, start_err, _ = refine(client, h, x_dec, mean=mean, std=std, steps=chosen, lr=step_lr,
                                      tv_weight=tv_weight, pull=pull, progress=progress)
    else:
        start_err = activation_errors(client, x_dec.to(h.device), h, mean=mean, std=std)
        x, err = x_dec, start_err
    recon = x.cpu().contiguous()
    dec_metrics = summarize(x_dec, tgt_gt)
    extra = {"epochs_run": len(fit.val_loss), "stopped_early": len(fit.val_loss) < epochs, "val_ssim": fit.val_ssim,
             "decoder_reused": trained_decoder is not None,
             "refine_steps": chosen, "refine_val_ssim": curve, "decoder_wall_s": decoder_wall,
             "refine_wall_s": time.perf_counter() - start - decoder_wall,
             "activation_mse_start": float(start_err.mean()), "activation_mse_end": float(err.mean()),
             "activation_mse_start_per_image": start_err.cpu().tolist(),
             "activation_mse_end_per_image": err.cpu().tolist(),
             "improved_images": int((err < start_err).sum()),
             "decoder_start": {k: dec_metrics[f"{k}_mean"] for k in ("mse", "psnr", "ssim", "ssim_ref")}}
    return AttackResult(reconstructions=recon, targets=tgt_gt, metrics=summarize(recon, tgt_gt, lpips=lpips),
                        train_loss=fit.train_loss, val_loss=fit.val_loss, best_epoch=fit.best_epoch,
                        best_val=fit.best_val, wall_s=time.perf_counter() - start,
                        activation_shape=tuple(aux_acts.shape[1:]), extra=extra)
