"""When the decoder stops training: the early-stop rule of the clean protocol, as pure functions of its curves.

The decoder is kept at its best validation MSE (the reference's selection), but MSE is a poor clock for when
training has stopped paying: on real CIFAR-10 at depths 9 and 17 the validation MSE of the default decoder is flat
from epoch ≈ 20 while the validation SSIM (and the targets' SSIM) still climbs until epoch 50, so a run stopped on
MSE alone kept an epoch-18 or epoch-26 decoder 0.012–0.025 SSIM below the full run's (docs/results.md, "Early stop").
An epoch therefore counts as progress when it sets a new lowest validation MSE *or* a new highest validation SSIM
(on the attacker's own validation images), and the run stops after ``wait`` epochs without either.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor

from sflaudit.attacks.metrics import ssim_skimage

PATIENCE_EPOCH_STEPS = 15
"""Early stop counts an epoch as at least this many optimiser steps (the default 1 % of CIFAR-10 at batch 32 has
15): with a tiny auxiliary set an epoch is a step or two, and ``patience`` such epochs would stop an untrained
decoder."""
SSIM_MIN_SIDE = 11   # scikit-image's 11×11 window: smaller images are judged on MSE alone


def patience_epochs(patience: int, steps_per_epoch: int) -> int:
    """Epochs without progress before the decoder stops: ``patience``, stretched so that they span at least
    ``patience`` × :data:`PATIENCE_EPOCH_STEPS` optimiser steps (0 stays 0 = never stop)."""
    if patience <= 0:
        return 0
    return max(patience, math.ceil(patience * PATIENCE_EPOCH_STEPS / max(1, steps_per_epoch)))


def last_progress(val_loss: Sequence[float], val_ssim: Sequence[float]) -> int:
    """1-based epoch of the latest new lowest ``val_loss`` or new highest ``val_ssim`` (0 before any epoch).

    val_loss: per-epoch validation MSE; val_ssim: per-epoch validation SSIM, the same length or empty (MSE only).
    """
    if val_ssim and len(val_ssim) != len(val_loss):
        raise ValueError(f"{len(val_loss)} validation losses but {len(val_ssim)} SSIMs")
    last, low, high = 0, math.inf, -math.inf
    for epoch, loss in enumerate(val_loss, start=1):
        gained = loss < low
        low = min(low, loss)
        if val_ssim:
            gained = gained or val_ssim[epoch - 1] > high
            high = max(high, val_ssim[epoch - 1])
        if gained:
            last = epoch
    return last


def should_stop(val_loss: Sequence[float], val_ssim: Sequence[float], wait: int) -> bool:
    """True once ``wait`` (> 0) epochs in a row made no progress (:func:`last_progress`); never when ``wait`` ≤ 0."""
    return wait > 0 and len(val_loss) - last_progress(val_loss, val_ssim) >= wait


def val_ssim(outputs: Tensor, truth: Tensor) -> list[float]:
    """Per-image SSIM of B×3×H×W decoder outputs (clamped to [0, 1]) against ground truth; [] when H or W <
    :data:`SSIM_MIN_SIDE` (the window does not fit)."""
    if min(truth.shape[-2:]) < SSIM_MIN_SIDE:
        return []
    recon = outputs.detach().float().clamp(0, 1).cpu().contiguous()
    return [float(v) for v in ssim_skimage(recon, truth.detach().float().cpu().contiguous())]
