"""A label-free client-side detector of a hijacking server: canary rows whose positives are wrong.

SplitGuard (Erdoğan et al., 2022) lets a client send fake batches with randomised labels and compare the gradients
it gets back. Without labels the contrastive pair plays that part: at a check step a client appends ``r`` *canary*
rows to its query batch — copies of its first ``r`` query activations — and pairs them with the key activations of
other images (rows 1..r). An honest server's contrastive gradient depends on the positive key, so a canary row's
gradient differs from its original's by a term of order 1/T; a server that sends anything computed from the query
activation alone (feature-space hijacking's critic gradient) returns the same gradient for both. The client measures

    gap = ‖g_canary − g_original‖ / ((‖g_canary‖ + ‖g_original‖) / 2)        (over its r rows)

and raises an alarm when gap < ``defence.canary_threshold`` (default 10⁻³: a key-blind server returns the same
gradient for identical rows, a gap of 0 up to rounding; a run-time setting, so the report re-reads the logged gaps). The canary rows cost r query and r key rows up and
r gradient rows down at each check (counted on the wire and in the profile); their gradients are not applied. What
it cannot catch: a server that detects duplicated rows, or mixes the contrastive gradient into what it sends.
"""

from __future__ import annotations

import torch
from torch import Tensor


def is_check_step(step: int, every: int) -> bool:
    """Whether step ``step`` (1-based over the run) carries canaries (``defence.canary`` = every; 0 = never)."""
    return every > 0 and step % every == 0


def with_canaries(h_q: Tensor, h_k: Tensor, rows: int) -> tuple[Tensor, Tensor]:
    """(R + r)×… query and key activations: the R rows, then canary rows ``h_q[:r]`` paired with keys ``h_k[1:r+1]``
    (another image's key for each)."""
    if rows + 1 > h_q.shape[0]:
        raise ValueError(f"{rows} canary rows need at least {rows + 1} query rows, got {h_q.shape[0]}")
    return torch.cat([h_q, h_q[:rows]]), torch.cat([h_k, h_k[1:rows + 1]])


def canary_gap(grad: Tensor, real_rows: int, rows: int) -> float:
    """The relative gap between the gradients of the canary rows (after the ``real_rows``) and their originals."""
    original = grad[:rows].float()
    canary = grad[real_rows:real_rows + rows].float()
    scale = (canary.norm() + original.norm()) / 2
    return float((canary - original).norm() / scale) if float(scale) > 0 else 0.0
