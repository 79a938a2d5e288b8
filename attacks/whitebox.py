"""White-box optimisation inversion: find images whose client activations match the observed ones.

The attacker holds the client weights (white-box threat model). For observed activations h it
optimises free images x ∈ [0, 1], parametrised as x = sigmoid(z), with Adam on

    loss(x) = Σ_b [ mean_{c,i,j} (client(normalize(x))_b − h_b)²  +  tv_weight · TV(x_b) ]

where TV is the mean absolute difference between horizontally and vertically neighbouring pixels (an image
prior that suppresses high-frequency noise). Summing over the batch keeps each target's gradient independent
of how many targets are inverted together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from sflaudit.data.augment import normalize
from sflaudit.errors import SflauditError

ProgressFn = Callable[[int, float], None]  # (step 1..steps, mean activation MSE of that step)


def total_variation(x: Tensor) -> Tensor:
    """Anisotropic TV per image: mean |x[..., i+1, j] − x[..., i, j]| + mean |x[..., i, j+1] − x[..., i, j]|.

    x: B×C×H×W → B.
    """
    dh = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(dim=1)
    dw = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(dim=1)
    return dh + dw


def activation_mse(client: nn.Module, x: Tensor, target: Tensor, *, mean: Sequence[float],
                   std: Sequence[float]) -> Tensor:
    """Per-image activation error mean_{c,i,j} (client(normalize(x)) − target)²: x B×3×H×W in [0, 1], target
    B×C×h×w → B (differentiable in x; the client's mode is the caller's)."""
    out = client(normalize(x, mean, std))
    if out.shape != target.shape:
        raise SflauditError(f"client output {tuple(out.shape)} does not match the observed activations "
                            f"{tuple(target.shape)} (check image_size)")
    return (out - target).pow(2).flatten(1).mean(dim=1)


def optimize_images(client: nn.Module, target: Tensor, logits: Tensor, *, mean: Sequence[float],
                    std: Sequence[float], steps: int, lr: float, tv_weight: float, anchor: Tensor | None = None,
                    pull: float = 0.0, act_scale: Tensor | None = None, keep_best: bool = False,
                    on_step: Callable[[int, Tensor], bool | None] | None = None, progress: ProgressFn | None = None,
                    progress_every: int = 50) -> tuple[Tensor, Tensor]:
    """Adam on image logits z (x = sigmoid(z)) minimising Σ_b [act_mse_b / s_b + tv_weight·TV(x_b) + pull·‖x_b − a_b‖²]
    (‖·‖² the per-pixel mean; ``a`` = ``anchor``, B×3×H×W in [0, 1], required when pull > 0; s = ``act_scale``, B
    positive divisors, default 1: e.g. the start's errors, so that the weights mean the same at every depth).
    on_step(k, x): called with every iterate x (B×3×H×W, detached) after k = 0..steps updates; returning True stops
    the optimisation there (that iterate is the last one scored).

    target: B×C×h×w observed activations; logits: B×3×H×W start (not modified). The client is run in eval mode, its
    mode restored, its parameters never given ``.grad``.
    keep_best: return, per image, the iterate with the lowest activation error among every iterate seen (the start
    included) instead of the last one.
    Returns (B×3×H×W images in [0, 1], B activation errors of the returned images), detached.
    """
    if steps < 1 or lr <= 0 or tv_weight < 0 or pull < 0:
        raise SflauditError(f"white-box inversion needs steps ≥ 1, lr > 0, tv_weight ≥ 0, pull ≥ 0 "
                            f"(got steps={steps}, lr={lr}, tv_weight={tv_weight}, pull={pull})")
    if pull > 0 and anchor is None:
        raise SflauditError("white-box inversion with a pull needs an anchor image")
    target = target.detach().float()
    z = logits.detach().clone().to(target.device).requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    best_x, best_err = torch.sigmoid(z).detach(), torch.full((z.shape[0],), float("inf"), device=z.device)
    was_training = client.training
    client.eval()
    try:
        for step in range(1, steps + 2):
            x = torch.sigmoid(z)
            act = activation_mse(client, x, target, mean=mean, std=std)
            stop = bool(on_step(step - 1, x.detach())) if on_step is not None else False
            if keep_best:
                better = act.detach() < best_err
                best_err = torch.where(better, act.detach(), best_err)
                best_x = torch.where(better.view(-1, 1, 1, 1), x.detach(), best_x)
            if stop or step > steps:   # the last update's result, scored only
                break
            loss = (act if act_scale is None else act / act_scale) + tv_weight * total_variation(x)
            if pull > 0:
                loss = loss + pull * (x - anchor).pow(2).flatten(1).mean(dim=1)
            (grad,) = torch.autograd.grad(loss.sum(), z)
            z.grad = grad
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if progress is not None and (step % progress_every == 0 or step == steps):
                progress(step, float(act.detach().mean()))
    finally:
        client.train(was_training)
    if keep_best:
        return best_x, best_err
    return torch.sigmoid(z).detach(), act.detach()


def whitebox_invert(client: nn.Module, h: Tensor, *, mean: Sequence[float], std: Sequence[float],
                    image_size: int | tuple[int, int] = 32, steps: int = 500, lr: float = 0.05,
                    tv_weight: float = 0.01, generator: torch.Generator | None = None,
                    init_std: float = 0.1, progress: ProgressFn | None = None,
                    progress_every: int = 50) -> Tensor:
    """Reconstruct the images behind activations ``h`` by gradient descent through the frozen client.

    Args:
        client: the client model (image → cut activation). Run in eval mode; its parameters are neither
            updated nor given ``.grad``; its train/eval mode is restored afterwards.
        h: observed activations, B×C×h×w (at a mid-block cut the channel concat of both sent tensors).
        mean, std: the per-channel normalisation the client was trained with (3 values each).
        image_size: H (= W) or (H, W) of the images to recover.
        steps, lr: Adam iterations and learning rate on the logits z (x = sigmoid(z)).
        tv_weight: weight of the total-variation prior (0 disables it).
        generator: seeds the initial logits z ~ N(0, init_std²), i.e. images near uniform grey 0.5.
        progress: called as ``progress(step, activation_mse)`` every ``progress_every`` steps and at the end.
    Returns:
        B×3×H×W float32 images in [0, 1], detached, on ``h``'s device (the last iterate).
    """
    if len(mean) != 3 or len(std) != 3:
        raise SflauditError(f"mean and std need 3 values each, got {len(mean)} and {len(std)}")
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    noise = torch.randn(h.shape[0], 3, height, width, generator=generator, dtype=torch.float32)
    x, _ = optimize_images(client, h, noise * init_std, mean=mean, std=std, steps=steps, lr=lr,
                           tv_weight=tv_weight, progress=progress, progress_every=progress_every)
    return x
