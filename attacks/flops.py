"""Arithmetic budgets: FLOPs of a forward pass, and how many steps of one network fit in another's schedule.

The substitute attack (:mod:`sflaudit.attacks.substitute`) caps its substitute training with these, so that its cost follows
the inverse network's and not a fixed step count: at deep cuts the client is most of the network and the decoder
small, at shallow cuts the reverse (docs/results.md measures both).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode


def forward_flops(net: nn.Module, x: Tensor) -> int:
    """FLOPs of one forward pass of ``net`` (eval mode, no grad) on ``x``, as torch's FlopCounterMode counts them
    (matrix products and convolutions)."""
    was_training = net.training
    net.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(x)
    net.train(was_training)
    return int(counter.get_total_flops())


def step_cap(*, client_flops: int, decoder_flops: int, decoder_steps: int, share: float) -> int | None:
    """Most substitute steps whose client arithmetic fits in ``share`` of the inverse network's schedule.

    client_flops, decoder_flops: forward FLOPs per sample of the client and of the inverse network (a training step
    of either is its forward and backward on one batch of the same size, ~3× the forward). decoder_steps: the
    inverse network's full schedule (epochs × batches per epoch). Returns None when ``share`` is 0 (no cap), else
    ⌊share · decoder_steps · decoder_flops / client_flops⌋, at least 1.
    """
    if share <= 0:
        return None
    return max(1, math.floor(share * decoder_steps * decoder_flops / max(1, client_flops)))
