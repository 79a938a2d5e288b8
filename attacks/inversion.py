"""Decoder model-inversion attack (protocol §5): learn activation → image on an auxiliary set, invert targets.

The attacker (an honest-but-curious server) holds the frozen client model. It computes the cut-layer activation of
every auxiliary image once, trains a decoder (``res_normN4C64`` by default, sized from the activation shape) with
Adam and an MSE loss on [0, 1] images (stopping after ``patience`` epochs, each counted as at least 15 batches,
with neither a better validation loss nor a better validation SSIM: :mod:`sflaudit.attacks.stopping`), keeps the decoder
with the best validation loss, and decodes the activations of the target images.

Two measurement protocols (protocol §9 Q7):

* clean (default): ground truth = the exact images; targets normalised like training; validation once per epoch
  over the whole validation split with the decoder in eval mode; best = lowest per-epoch validation MSE.
* faithful: the reference's quirks. Ground truth goes through a JPEG q75 round trip (``save_image`` quantisation,
  PIL encoder); validation runs with the decoder in *train* mode (BatchNorm batch statistics, running statistics
  updated) and the decoder is kept whenever a single validation *batch* beats the running minimum; the 90/10 split
  is ``np.random.seed(123)`` + ``shuffle``; every epoch runs. Targets: ``input = (x − mean) / Q7_TARGET_STD``, fed
  to the client as if normalised with the training std, ``gt = clamp(input · std + mean, 0, 1)`` (contrast ×≈0.82).
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from sflaudit.attacks.decoder_fit import ProgressFn, decode, fit_decoder
from sflaudit.attacks.metrics import LpipsScorer, LpipsUnavailable, summarize
from sflaudit.data.augment import normalize
from sflaudit.errors import SflauditError

Q7_TARGET_STD: tuple[float, float, float] = (0.247, 0.243, 0.261)
"""Std the reference's saved CIFAR-10 target tensor was normalised with (protocol §5.1, Q7)."""
JPEG_QUALITY = 75


@dataclass
class AttackResult:
    """Outcome of one inversion attack.

    reconstructions, targets: T×3×H×W float32 in [0, 1] (targets = the ground truth the metrics compare against).
    metrics: :func:`sflaudit.attacks.metrics.summarize` output (per image and means).
    train_loss, val_loss: per-epoch mean training / validation MSE (empty for the white-box attack).
    best_epoch: 1-based epoch whose decoder was kept (0 for the white-box attack).
    extra: kind-specific facts for the record's ``training`` (epochs run, prior candidates, hybrid errors).
    """

    reconstructions: Tensor
    targets: Tensor
    metrics: dict[str, object]
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0
    best_val: float = math.nan
    wall_s: float = 0.0
    activation_shape: tuple[int, ...] = ()
    extra: dict[str, object] = field(default_factory=dict)
    decoder_state: dict[str, Tensor] | None = None   # the kept decoder's weights (decoder attack), not recorded


def jpeg_roundtrip(x: Tensor, quality: int = JPEG_QUALITY) -> Tensor:
    """[0, 1] N×3×H×W → the same images after ``torchvision.utils.save_image`` quantisation (``x·255 + 0.5``,
    clamp, truncate), PIL JPEG at ``quality`` and reload, as float32 in [0, 1]."""
    u8 = x.detach().float().cpu().mul(255).add(0.5).clamp(0, 255).to(torch.uint8)
    out = torch.empty_like(u8)
    for i, img in enumerate(u8.permute(0, 2, 3, 1).numpy()):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        out[i] = torch.from_numpy(np.asarray(Image.open(buf).convert("RGB")).copy()).permute(2, 0, 1)
    return out.float() / 255.0


def prepare_pairs(images: Tensor, mean: Sequence[float], std: Sequence[float], *, faithful: bool,
                  input_std: Sequence[float] | None = None) -> tuple[Tensor, Tensor]:
    """Client inputs and ground truth for uint8 N×3×H×W images.

    ``input_std`` (default ``std``) is the std the images are normalised with before the client sees them; the
    ground truth is ``clamp(input · std + mean, 0, 1)`` (the image itself when ``input_std == std``), JPEG
    round-tripped when ``faithful``. Returns (N×3×H×W normalised inputs, N×3×H×W ground truth in [0, 1]).
    """
    inputs = normalize(images, mean, input_std if input_std is not None else std)
    if input_std is None:
        gt = images.float() / 255.0
    else:
        m = torch.as_tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        s = torch.as_tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        gt = (inputs * s + m).clamp(0, 1)
    return inputs, (jpeg_roundtrip(gt) if faithful else gt)


@torch.no_grad()
def client_activations(client: nn.Module, inputs: Tensor, *, batch: int = 256) -> Tensor:
    """Cut-layer activations of normalised inputs N×3×H×W → N×C×h×w (eval mode, no grad, batched)."""
    device = _device_of(client)
    was_training = client.training
    client.eval()
    try:
        outs = [client(inputs[i:i + batch].to(device)).float() for i in range(0, inputs.shape[0], batch)]
    finally:
        client.train(was_training)
    return torch.cat(outs)


def _device_of(module: nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


def check_images(**named: Tensor) -> None:
    """SflauditError unless every given tensor is a uint8 N×3×H×W image batch."""
    for name, imgs in named.items():   # name: how the error names the batch (aux, target)
        if imgs.dim() != 4 or imgs.shape[1] != 3 or imgs.dtype != torch.uint8:
            raise SflauditError(f"{name} images must be uint8 N×3×H×W, got {imgs.dtype} {tuple(imgs.shape)}")


def attack_pairs(aux_images: Tensor, target_images: Tensor, mean: Sequence[float], std: Sequence[float], *,
                 faithful: bool, target_std: Sequence[float] | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(aux inputs, aux ground truth, target inputs, target ground truth) of the decoder-trained attacks, from
    Na / Nt×3×H×W uint8 images (faithful: targets normalised with :data:`Q7_TARGET_STD` unless given)."""
    check_images(aux=aux_images, target=target_images)
    if faithful and target_std is None:
        target_std = Q7_TARGET_STD
    aux_in, aux_gt = prepare_pairs(aux_images, mean, std, faithful=faithful)
    tgt_in, tgt_gt = prepare_pairs(target_images, mean, std, faithful=faithful, input_std=target_std)
    return aux_in, aux_gt, tgt_in, tgt_gt


def decoder_attack(client: nn.Module, aux_images: Tensor, target_images: Tensor, *, mean: Sequence[float],
                   std: Sequence[float], decoder: str = "res_normN4C64", epochs: int = 50, batch: int = 32,
                   lr: float = 1e-3, seed: int, faithful: bool = False, patience: int = 0,
                   target_std: Sequence[float] | None = None,
                   lpips: LpipsScorer | LpipsUnavailable | None = None,
                   progress: ProgressFn | None = None) -> AttackResult:
    """Train a decoder on the auxiliary pairs and reconstruct the targets (protocol §5).

    Args:
        client: the attacked client (frozen, image → B×C×h×w activation); parameters and mode left as they were.
        aux_images: Na×3×H×W uint8 attacker images. target_images: Nt×3×H×W uint8 victim images.
        mean, std: the normalisation the client was trained with.
        decoder: decoder name (:func:`sflaudit.attacks.decoders.build_decoder`), sized from the activation shape.
        epochs, batch, lr: Adam training of the decoder (MSE on [0, 1] images). seed: init, split, batch order.
        faithful: reference measurement quirks (module docstring); ``target_std`` then defaults to Q7_TARGET_STD.
        patience: early stop after this many epochs with neither a better validation loss nor a better validation
            SSIM (0 = off; never if faithful; epochs of fewer than 15 batches count for less:
            :mod:`sflaudit.attacks.stopping`).
        lpips: scorer for the LPIPS metric (None/unavailable → recorded as unavailable).
        progress: called once per epoch with a dict (stage, epoch, epochs, train_loss, val_loss, best_epoch).
    Returns:
        AttackResult (Nt×3×H×W reconstructions and ground truth, metrics, loss curves; extra: epochs_run,
        stopped_early, val_ssim).
    """
    start = time.perf_counter()
    aux_in, aux_gt, tgt_in, tgt_gt = attack_pairs(aux_images, target_images, mean, std, faithful=faithful,
                                                  target_std=target_std)
    device = _device_of(client)
    aux_acts = client_activations(client, aux_in)
    tgt_acts = client_activations(client, tgt_in)
    fit = fit_decoder(aux_acts, aux_gt.to(device), decoder=decoder, epochs=epochs, batch=batch, lr=lr, seed=seed,
                      faithful=faithful, patience=patience, progress=progress)
    recon = decode(fit.net, tgt_acts)   # eval mode: per-image results do not depend on the batch
    metrics = summarize(recon, tgt_gt, lpips=lpips)
    return AttackResult(reconstructions=recon, targets=tgt_gt, metrics=metrics, train_loss=fit.train_loss,
                        val_loss=fit.val_loss, best_epoch=fit.best_epoch, best_val=fit.best_val,
                        wall_s=time.perf_counter() - start, activation_shape=tuple(aux_acts.shape[1:]),
                        extra={"epochs_run": len(fit.val_loss), "stopped_early": len(fit.val_loss) < epochs,
                               "val_ssim": fit.val_ssim},
                        decoder_state=fit.net.state_dict())
