"""White-box optimisation inversion: find images whose client activations match the observed ones.

The attacker holds the client weights (white-box threat model, DESIGN.md §6). For observed activations h it
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
        B×3×H×W float32 images in [0, 1], detached, on ``h``'s device.
    """
    if steps < 1 or lr <= 0 or tv_weight < 0:
        raise SflauditError(f"white-box inversion needs steps ≥ 1, lr > 0, tv_weight ≥ 0 "
                            f"(got steps={steps}, lr={lr}, tv_weight={tv_weight})")
    if len(mean) != 3 or len(std) != 3:
        raise SflauditError(f"mean and std need 3 values each, got {len(mean)} and {len(std)}")
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    target = h.detach().float()
    device = target.device
    noise = torch.randn(target.shape[0], 3, height, width, generator=generator, dtype=torch.float32)
    logits = (noise * init_std).to(device).requires_grad_(True)
    optimizer = torch.optim.Adam([logits], lr=lr)
    was_training = client.training
    client.eval()
    try:
        for step in range(1, steps + 1):
            x = torch.sigmoid(logits)
            out = client(normalize(x, mean, std))
            if out.shape != target.shape:
                raise SflauditError(f"client output {tuple(out.shape)} does not match the observed activations "
                                    f"{tuple(target.shape)} (check image_size)")
            act_mse = (out - target).pow(2).flatten(1).mean(dim=1)
            loss = (act_mse + tv_weight * total_variation(x)).sum()
            (grad,) = torch.autograd.grad(loss, logits)
            logits.grad = grad
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if progress is not None and (step % progress_every == 0 or step == steps):
                progress(step, float(act_mse.detach().mean()))
    finally:
        client.train(was_training)
    return torch.sigmoid(logits).detach()
