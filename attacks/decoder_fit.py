"""Training of an inversion decoder on (activation, image) pairs, shared by every decoder-trained attack: the 90/10
split of the pairs, Adam + MSE with the early stop of :mod:`sflaudit.attacks.stopping` and the reference's faithful
validation quirks (:mod:`sflaudit.attacks.inversion` describes both protocols), the best-validation weights, and
batched decoding."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sflaudit.attacks.decoders import build_decoder
from sflaudit.attacks.stopping import patience_epochs, should_stop, val_ssim
from sflaudit.errors import SflauditError

ProgressFn = Callable[[dict[str, object]], None]

REFERENCE_SPLIT_SEED = 123   # np.random.seed(123) before shuffling the aux pairs (protocol §5.3)
VAL_FRACTION = 0.1
VAL_BATCH = 256   # clean validation batch (eval mode: the result does not depend on it)


def split_train_val(n: int, *, faithful: bool, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """90/10 split of n pair indices: (train indices, validation indices), at least one of each (n ≥ 2).

    faithful: the reference's ``np.random.seed(123); np.random.shuffle(idx)``, first ⌊0.1·n⌋ for validation.
    """
    if n < 2:
        raise SflauditError(f"the auxiliary set has {n} image(s); the decoder attack needs at least 2 "
                            f"(raise attack.aux_fraction)")
    n_val = min(n - 1, max(1, int(math.floor(VAL_FRACTION * n))))
    if faithful:
        idx = np.arange(n)
        np.random.RandomState(REFERENCE_SPLIT_SEED).shuffle(idx)
        perm = torch.from_numpy(idx)
    else:
        perm = torch.randperm(n, generator=generator)
    return perm[n_val:], perm[:n_val]


def _adam(module: nn.Module, lr: float) -> torch.optim.Optimizer:
    """Adam (default betas/eps, no weight decay); the fused kernel where available (same update rule, one kernel
    instead of ~10 small ops per parameter tensor: ~70× faster steps on CPU)."""
    try:
        return torch.optim.Adam(module.parameters(), lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(module.parameters(), lr=lr, foreach=True)


def _cl(x: Tensor) -> Tensor:
    return x.contiguous(memory_format=torch.channels_last)


def train_decoder(decoder: nn.Module, acts: Tensor, gt: Tensor, train_idx: Tensor, val_idx: Tensor, *,
                  epochs: int, batch: int, lr: float, faithful: bool, generator: torch.Generator,
                  patience: int = 0,
                  progress: ProgressFn | None = None
                  ) -> tuple[dict[str, Tensor], list[float], list[float], int, float, list[float]]:
    """Adam + MSE training of ``decoder`` on (acts[i] → gt[i]); returns the best-validation state.

    acts: N×C×h×w activations, gt: N×3×H×W in [0, 1] (same device as the decoder).
    patience: stop once ``patience`` epochs in a row have improved neither the validation loss nor the validation
    SSIM (:mod:`sflaudit.attacks.stopping`; 0 = every epoch; ignored when ``faithful``: the reference's full
    schedule); see :func:`sflaudit.attacks.stopping.patience_epochs` for short epochs. The kept state is the
    best-validation-loss one either way.
    Clean validation runs in eval mode in batches of ≥ :data:`VAL_BATCH` (batch-independent, fewer launches).
    Returns (best state_dict, per-epoch train MSE, per-epoch validation MSE, best epoch (1-based), best val MSE,
    per-epoch mean validation SSIM — empty when faithful or the images are under 11 pixels); the curves are as long
    as the epochs actually run.
    """
    opt = _adam(decoder, lr)
    best_state, best_val, best_epoch = copy.deepcopy(decoder.state_dict()), math.inf, 0
    train_curve: list[float] = []
    val_curve: list[float] = []
    ssim_curve: list[float] = []
    val_batch = batch if faithful else max(batch, VAL_BATCH)
    wait = patience_epochs(patience, math.ceil(len(train_idx) / batch))
    for epoch in range(1, epochs + 1):
        decoder.train()
        order = train_idx[torch.randperm(len(train_idx), generator=generator)]
        total = 0.0
        for i in range(0, len(order), batch):
            sel = order[i:i + batch].to(acts.device)
            loss = F.mse_loss(decoder(_cl(acts[sel])), _cl(gt[sel]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(sel)
        train_curve.append(total / len(order))
        vorder = val_idx[torch.randperm(len(val_idx), generator=generator)] if faithful else val_idx
        decoder.train(faithful)   # faithful: BN batch statistics during validation (reference quirk)
        vtotal = 0.0
        vssim: list[float] = []
        with torch.no_grad():
            for i in range(0, len(vorder), val_batch):
                sel = vorder[i:i + val_batch].to(acts.device)
                out = decoder(_cl(acts[sel]))
                vloss = float(F.mse_loss(out, _cl(gt[sel])))
                vtotal += vloss * len(sel)
                if not faithful:
                    vssim += val_ssim(out, gt[sel])
                if faithful and vloss < best_val:   # per-batch running minimum (reference quirk)
                    best_val, best_epoch = vloss, epoch
                    best_state = copy.deepcopy(decoder.state_dict())
        val_curve.append(vtotal / len(vorder))
        if vssim:
            ssim_curve.append(sum(vssim) / len(vssim))
        if not faithful and val_curve[-1] < best_val:
            best_val, best_epoch = val_curve[-1], epoch
            best_state = copy.deepcopy(decoder.state_dict())
        if progress is not None:
            progress({"stage": "decoder", "epoch": epoch, "epochs": epochs, "train_loss": train_curve[-1],
                      "val_loss": val_curve[-1], "best_epoch": best_epoch})
        if not faithful and should_stop(val_curve, ssim_curve, wait):
            break
    return best_state, train_curve, val_curve, best_epoch, best_val, ssim_curve


@dataclass
class DecoderFit:
    """A trained decoder: ``net`` in eval mode with the best-validation weights; train_idx / val_idx the 90/10
    split of the pairs; curves per epoch run (val_ssim: the early stop's second clock, empty when faithful);
    best_epoch 1-based."""

    net: nn.Module
    train_idx: Tensor
    val_idx: Tensor
    train_loss: list[float]
    val_loss: list[float]
    best_epoch: int
    best_val: float
    val_ssim: list[float] = field(default_factory=list)


def fit_decoder(acts: Tensor, gt: Tensor, *, decoder: str, epochs: int, batch: int, lr: float, seed: int,
                faithful: bool, patience: int = 0, progress: ProgressFn | None = None,
                trained: tuple[dict[str, Tensor], dict[str, Any]] | None = None) -> DecoderFit:
    """Split the pairs 90/10, build decoder ``decoder`` for the activation shape (init seeded ``seed``) and train it.

    acts: N×C×h×w (h = w), gt: N×3×H×W in [0, 1] on the decoder's device (taken from ``acts``). One generator seeded
    ``seed`` draws the split (clean protocol) and then the batch order. ``trained`` = (state, training record) of
    this very fit done before (the decoder attack's, same settings and activations): its weights and curves are
    taken instead of training again — the same split, since the split is drawn first.
    """
    if epochs < 1 or batch < 1 or lr <= 0 or patience < 0:
        raise SflauditError(f"decoder attack needs epochs ≥ 1, batch ≥ 1, lr > 0, patience ≥ 0 "
                            f"(got {epochs}, {batch}, {lr}, {patience})")
    _, channels, h, w = acts.shape
    if h != w:
        raise SflauditError(f"the decoder needs square activations, got {h}×{w}")
    generator = torch.Generator().manual_seed(seed)
    train_idx, val_idx = split_train_val(acts.shape[0], faithful=faithful, generator=generator)
    with torch.random.fork_rng(devices=[]):   # seeded decoder init (PyTorch default init, as the reference)
        torch.manual_seed(seed)
        net = build_decoder(decoder, channels, h, gt.shape[-1])
    net = net.to(acts.device).to(memory_format=torch.channels_last)
    if trained is not None:
        state, rec = trained
        net.load_state_dict(state)
        net.eval()
        return DecoderFit(net, train_idx, val_idx, list(rec["train_loss"]), list(rec["val_loss"]),
                          int(rec["best_epoch"]), float(rec["best_val_loss"]), list(rec.get("val_ssim", [])))
    best_state, train_curve, val_curve, best_epoch, best_val, ssim_curve = train_decoder(
        net, _cl(acts), _cl(gt), train_idx, val_idx, epochs=epochs, batch=batch, lr=lr, faithful=faithful,
        generator=generator, patience=patience, progress=progress)
    net.load_state_dict(best_state)
    net.eval()
    return DecoderFit(net, train_idx, val_idx, train_curve, val_curve, best_epoch, float(best_val), ssim_curve)


@torch.no_grad()
def decode(net: nn.Module, acts: Tensor, *, batch: int = 256) -> Tensor:
    """Eval-mode decoder output for N×C×h×w activations → N×3×H×W float32 on the CPU (batch-independent)."""
    net.eval()
    outs = [net(_cl(acts[i:i + batch])).float().cpu() for i in range(0, acts.shape[0], batch)]
    return torch.cat(outs).contiguous()
