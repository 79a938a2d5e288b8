"""Forward FLOPs per image of the client and of the server, counted by fvcore (protocol §2, §6.1).

Convention (fvcore's, the reference calculator's): **1 FLOP = 1 multiply-add**; convolution and linear = MACs
(linear = in·out, bias not counted), GroupNorm = 5·numel, BatchNorm in eval mode = 2·numel (affine), adaptive
average pooling = numel of its input. Operators fvcore has no handle for are *not* counted; their names are
returned in :attr:`FlopCount.uncounted` so the CLI can list them.

Weight standardisation (``WSConv2d`` standardises its weight inside ``forward``, one autograd function traced as
``prim::PythonOp._WeightStandardize``) touches only the parameters, not the activations, and fvcore has no handle
for it, so it is left out of the count and shows up in ``uncounted``. That is the protocol's convention
(conv MACs + 5·numel per GroupNorm); the tests pin the resulting numbers to protocol §2.1–2.2.

Counting runs in eval mode under ``torch.no_grad`` on a batch of one image, and restores each module's
training flag afterwards. fvcore's warnings and log lines are silenced.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from sflaudit.sfl.moco import build_projector


@dataclass(frozen=True)
class FlopCount:
    """fvcore forward count for one image."""

    total: int
    by_operator: dict[str, int] = field(default_factory=dict)
    uncounted: dict[str, int] = field(default_factory=dict)   # aten op name → calls fvcore could not count


@dataclass(frozen=True)
class SplitFlops:
    """Forward FLOPs per image on both sides of the cut; ``server`` includes pooling and the run's MoCo projector."""

    client: FlopCount
    server: FlopCount
    server_input: tuple[int, ...]    # C·k, h, w of the tensor the server receives per image

    @property
    def uncounted(self) -> tuple[str, ...]:
        """Sorted names of the operators fvcore skipped on either side."""
        return tuple(sorted(set(self.client.uncounted) | set(self.server.uncounted)))


def moco_projector(feature_dim: int, moco_version: str = "V2") -> nn.Module:
    """The projector the trainer builds for ``moco_version`` (``sflaudit.sfl.moco.build_projector``), made without
    touching the global RNG; V2 is Linear(F, 1024) → ReLU → Linear(1024, 1024), V1 Linear(F, 128)."""
    with torch.random.fork_rng(devices=[]):
        return build_projector(moco_version, feature_dim)


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence Python warnings and fvcore's loggers for the duration."""
    loggers = [logging.getLogger(name) for name in ("fvcore", "fvcore.nn.jit_analysis", "iopath")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


@contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    flags = {m: m.training for m in module.modules()}
    module.eval()
    try:
        yield
    finally:
        for m, flag in flags.items():
            m.training = flag


def count_flops(module: nn.Module, inputs: torch.Tensor | tuple[Any, ...]) -> FlopCount:
    """fvcore FLOPs (1 FLOP = 1 MAC) of one forward of ``module`` on ``inputs``, in eval mode, no grad.

    Args:
        module: any module; traced with ``torch.jit.trace`` by fvcore.
        inputs: the forward's input (a tensor or a tuple of positional arguments). Pass one image to get
            per-image numbers.
    Returns:
        FlopCount with the total, the per-operator split and the uncounted operators.
    """
    with _quiet():
        from fvcore.nn import FlopCountAnalysis

        with _eval_mode(module), torch.no_grad():
            analysis = (
                FlopCountAnalysis(module, inputs)
                .unsupported_ops_warnings(False)
                .uncalled_modules_warnings(False)
                .tracer_warnings("none")
            )
            total = int(analysis.total())
            by_operator = {k: int(v) for k, v in analysis.by_operator().items()}
            uncounted = {k: int(v) for k, v in analysis.unsupported_ops().items()}
    return FlopCount(total=total, by_operator=by_operator, uncounted=uncounted)


def split_flops(
    client: nn.Module,
    server: nn.Module,
    *,
    feature_dim: int,
    input_size: int = 32,
    projector: bool = True,
    moco_version: str = "V2",
) -> SplitFlops:
    """Per-image forward FLOPs of a client/server pair (``SplitModel.client`` / ``.server``).

    Args:
        client: x (1×3×S×S) → h; its output shape (found by running it once) is the server's input.
        server: h → pooled features of size ``feature_dim``.
        feature_dim: F, the projector's input size.
        input_size: S, image side.
        projector: count the MoCo projector on top of the server (the reference calculator does).
        moco_version: ``ssl.moco_version``, which projector (V1: F·128 MACs; V2: F·1024 + 1024·1024; …).
    """
    device = next((p.device for p in client.parameters()), torch.device("cpu"))
    image = torch.zeros(1, 3, input_size, input_size, device=device)
    client_count = count_flops(client, image)
    with _eval_mode(client), torch.no_grad():
        hidden = client(image)
    server_module: nn.Module = server
    if projector:
        server_module = nn.Sequential(server, moco_projector(feature_dim, moco_version).to(hidden.device))
    server_count = count_flops(server_module, torch.randn_like(hidden))
    return SplitFlops(client=client_count, server=server_count, server_input=tuple(hidden.shape[1:]))


def cut_flops(
    arch: str, depth: int, *, width: float = 1.0, input_size: int = 32, projector: bool = True,
    moco_version: str = "V2",
) -> SplitFlops:
    """Per-image forward FLOPs at ``depth`` of ``arch`` (builds ``sflaudit.models.split_model``) with the
    ``moco_version`` projector on the server."""
    from sflaudit.models import split_model

    split = split_model(arch, depth, width=width, input_size=input_size)
    return split_flops(
        split.client,
        split.server,
        feature_dim=split.info.feature_dim,
        input_size=input_size,
        projector=projector,
        moco_version=moco_version,
    )
