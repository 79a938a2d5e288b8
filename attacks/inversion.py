"""Decoder model-inversion attack (protocol §5): learn activation → image on an auxiliary set, invert targets.

The attacker (an honest-but-curious server) holds the frozen client model. It computes the cut-layer activation of
every auxiliary image once, trains a decoder (``res_normN4C64`` by default, sized from the activation shape) with
Adam and an MSE loss on [0, 1] images (stopping after ``patience`` epochs, each counted as at least 15 batches,
with neither a better validation loss nor a better validation SSIM: :mod:`attacks.stopping`), keeps the decoder
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

import copy
import io
import math
import time
from collections.abc import Callable, Sequence
from typing import Any
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from attacks.decoders import build_decoder
from attacks.metrics import LpipsScorer, LpipsUnavailable, summarize
from attacks.stopping import patience_epochs, should_stop, val_ssim
from sflaudit.data.augment import normalize
from sflaudit.errors import SflauditError

ProgressFn = Callable[[dict[str, object]], None]

Q7_TARGET_STD: tuple[float, float, float] = (0.247, 0.243, 0.261)
"""Std the reference's saved CIFAR-10 target tensor was normalised with (protocol §5.1, Q7)."""
JPEG_QUALITY = 75
REFERENCE_SPLIT_SEED = 123   # np.random.seed(123) before shuffling the aux pairs (protocol §5.3)
VAL_FRACTION = 0.1
VAL_BATCH = 256   # clean validation batch (eval mode: the result does not depend on it)


@dataclass
class AttackResult:
    """Outcome of one inversion attack.

    reconstructions, targets: T×3×H×W float32 in [0, 1] (targets = the ground truth the metrics compare against).
    metrics: :func:`attacks.metrics.summarize` output (per image and means).
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


def _device_of(module: nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


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
    SSIM (:mod:`attacks.stopping`; 0 = every epoch; ignored when ``faithful``: the reference's full schedule); see
    :func:`attacks.stopping.patience_epochs` for short epochs. The kept state is the best-validation-loss one
    either way.
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
        decoder: decoder name (:func:`attacks.decoders.build_decoder`), sized from the activation shape.
        epochs, batch, lr: Adam training of the decoder (MSE on [0, 1] images). seed: init, split, batch order.
        faithful: reference measurement quirks (module docstring); ``target_std`` then defaults to Q7_TARGET_STD.
        patience: early stop after this many epochs with neither a better validation loss nor a better validation
            SSIM (0 = off; never if faithful; epochs of fewer than 15 batches count for less: :mod:`attacks.stopping`).
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
