"""Wire defences (``[defence]``): what the client's activations look like when they reach the server.

A real deployment applies these on the client, before sending, so the server — and every attack, which is the
server or an eavesdropper — only ever sees the defended tensor. In order, for the activations the client sends up
(kinds ``query`` and ``key``):

1. ``noise`` σ: add Gaussian noise N(0, (σ·rms_i)²) to every element of sample i, where rms_i = √(mean h_i²) is
   that sample's own RMS (over C×H×W). Same bytes.
2. ``topk`` p %: keep the k = ⌈p·n/100⌉ largest-magnitude values of each sample (n = C·H·W per sample, ties broken
   by ``torch.topk``) and send them as values + int32 flat indices within the sample; the receiver scatters them
   into zeros. k is computed exactly on the decimal value of p (``topk = 7`` of 100 values → 7, never 8), so k ≥ 1
   for any p > 0 and k = n at p = 100.
3. ``quantize = "int8"``: the values (dense, or the kept top-k values) as int8 with one float32 scale per tensor,
   symmetric: scale = max|x| / 127, q = clamp(round(x / scale), −127, 127), x̂ = q·scale (|x − x̂| ≤ scale/2). Also
   applied to the activation gradients sent down. int8 replaces ``sfl.wire_dtype`` (validation refuses int8 with a
   16-bit wire dtype); otherwise values travel in the wire dtype.

"Per tensor" means per send: one client's rows of one kind (N×C×H×W). At a mid-block cut the client sends the one
channel-concatenated tensor ``[mid, shortcut]`` (docs/interfaces.md), so it carries one scale and top-k ranks over
its whole per-sample numel.

Bytes of one payload = the bytes of the tensors that encode it (:attr:`Payload.nbytes`):
dense N·n·e; int8 N·n + 4; top-k N·k·(e + 4), + 4 with int8 (e = element size of the values).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import torch
from torch import Tensor, nn

from sflaudit.config import DefenceConfig
from sflaudit.defenders import active_defences, wire_transforms

ACTIVATION_KINDS: tuple[str, ...] = ("query", "key")       # what noise and top-k apply to
INT8_MAX = 127
WIRE_DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16,
                                       "float16": torch.float16}


@dataclass(frozen=True)
class Payload:
    """One tensor as it crosses the cut.

    Attributes:
        shape: N×C×H×W of the dense tensor it stands for.
        values: dense N×C×H×W, or N×k kept values (top-k); in the wire dtype, or int8.
        scale: float32 scalar (int8 only), else None.
        indices: int32 N×k flat positions within each sample (top-k only), else None.
    """

    shape: tuple[int, ...]
    values: Tensor
    scale: Tensor | None = None
    indices: Tensor | None = None

    @property
    def nbytes(self) -> int:
        """Bytes on the wire: Σ numel·element_size over values, scale and indices."""
        return sum(t.numel() * t.element_size() for t in (self.values, self.scale, self.indices) if t is not None)


def topk_count(per_sample: int, percent: float) -> int:
    """k = ⌈percent·per_sample/100⌉ values kept per sample, computed exactly on percent's decimal value (0 → 0)."""
    if percent <= 0:
        return 0
    return min(per_sample, math.ceil(Fraction(repr(float(percent))) * per_sample / 100))


def add_noise(h: Tensor, sigma: float, *, generator: torch.Generator | None) -> Tensor:
    """h N×… plus Gaussian noise of std σ·rms_i per sample i (rms over the sample's elements); float32 out.

    The noise is drawn on the generator's device (CPU for a CPU generator) and moved to h's device, so a seeded
    CPU generator gives the same noise on every device. ``generator=None`` draws from torch's global RNG.
    """
    x = h.detach().float()
    rms = x.flatten(1).pow(2).mean(1).sqrt()
    where = generator.device if generator is not None else x.device
    eps = torch.randn(x.shape, generator=generator, device=where, dtype=torch.float32).to(x.device)
    return x + eps * (sigma * rms).view(-1, *([1] * (x.dim() - 1)))


def quantize_int8(x: Tensor) -> tuple[Tensor, Tensor]:
    """Symmetric per-tensor int8: (q int8 same shape, float32 scalar scale = max|x|/127; 0 for an all-zero x)."""
    x = x.float()
    scale = x.abs().max() / INT8_MAX if x.numel() else torch.zeros((), device=x.device)
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.clamp(torch.round(x / safe), -INT8_MAX, INT8_MAX).to(torch.int8)
    return q, scale.to(torch.float32)


def encode(h: Tensor, *, wire_dtype: torch.dtype = torch.float32, quantize: str = "none",
           topk: float = 0.0) -> Payload:
    """The payload that carries h N×C×H×W (values in ``wire_dtype`` unless int8; top-k if ``topk`` > 0 %)."""
    x = h.detach()
    shape = tuple(x.shape)
    indices = None
    if topk > 0:
        flat = x.reshape(shape[0], -1)
        k = topk_count(flat.shape[1], topk)
        idx = flat.abs().topk(k, dim=1, sorted=False).indices
        x, indices = flat.gather(1, idx), idx.to(torch.int32)
    if quantize == "int8":
        q, scale = quantize_int8(x)
        return Payload(shape, q, scale, indices)
    return Payload(shape, x.to(wire_dtype), None, indices)


def decode(p: Payload, dtype: torch.dtype = torch.float32) -> Tensor:
    """The dense tensor the receiver reconstructs from ``p`` (shape ``p.shape``, in ``dtype``): dequantised,
    top-k values scattered into zeros."""
    x = p.values.to(torch.float32) * p.scale if p.scale is not None else p.values
    if p.indices is not None:
        dense = torch.zeros(p.shape[0], math.prod(p.shape[1:]), dtype=x.dtype, device=x.device)
        x = dense.scatter(1, p.indices.long(), x)
    return x.reshape(p.shape).to(dtype)


def wire_payload(h: Tensor, defence: DefenceConfig, kind: str, *, wire_dtype: torch.dtype = torch.float32,
                 generator: torch.Generator | None = None) -> Payload:
    """What goes on the wire for tensor h of ``kind``: the wire defences' transforms (the noise, and any plug-in's:
    :func:`sflaudit.defenders.wire_transforms`) and top-k on activations (query, key), int8 on activations and
    gradients; other kinds travel in the wire dtype."""
    activation = kind in ACTIVATION_KINDS
    if activation:
        for plugin, settings in wire_transforms(defence.settings):   # the noise, then any plug-in's, in order
            h = plugin.transform(h, settings, generator)
    return encode(h, wire_dtype=wire_dtype, quantize=defence.quantize,
                  topk=defence.topk if activation else 0.0)


def server_view(h: Tensor, defence: DefenceConfig, *, generator: torch.Generator | None,
                wire_dtype: str | torch.dtype = "float32") -> Tensor:
    """What the server receives for the client's activation batch h N×C×H×W (same shape and dtype as h).

    The one function the link and the attacks share: noise (from ``generator``), top-k, int8 or the wire dtype's
    rounding, decoded. Pure apart from drawing from ``generator``; a no-op copy-free pass for the default config
    on a float32 wire.
    """
    dtype = WIRE_DTYPES[wire_dtype] if isinstance(wire_dtype, str) else wire_dtype
    return decode(wire_payload(h, defence, "query", wire_dtype=dtype, generator=generator), h.dtype)


class DefendedClient(nn.Module):
    """A client as the server sees it: ``forward`` returns :func:`server_view` of the client's activation, so every
    attack computes defended activations exactly as they cross the wire (the attacker knows the defence and can
    simulate it on its own images). Gradients pass straight through the defence (value defended, gradient of the
    clean activation), so optimisation attacks still work through rounding and sparsification. ``clean`` is the
    wrapped client. Noise is drawn from the wrapper's own seeded generator."""

    def __init__(self, client: nn.Module, defence: DefenceConfig, *, wire_dtype: str = "float32",
                 seed: int = 0) -> None:
        super().__init__()
        self.clean = client
        self.defence, self.wire_dtype = defence, wire_dtype
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, x: Tensor) -> Tensor:
        h = self.clean(x)
        seen = server_view(h.detach(), self.defence, generator=self.generator, wire_dtype=self.wire_dtype)
        return h + (seen - h).detach()


def defended(client: nn.Module, defence: DefenceConfig, *, wire_dtype: str = "float32", seed: int = 0) -> nn.Module:
    """``client`` wrapped in :class:`DefendedClient` when ``defence`` or the wire dtype changes what the server
    receives; the client itself otherwise."""
    if not [p for p in active_defences(defence.settings) if p.acts == "wire"] and wire_dtype == "float32":
        return client
    return DefendedClient(client, defence, wire_dtype=wire_dtype, seed=seed)
