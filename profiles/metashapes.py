"""Fast output shapes for the operators whose ``meta`` kernels are slow Python decompositions.

The memory profiler (:mod:`sflaudit.profiles.memory`) runs a client's training step on the ``meta`` device to count
the bytes of every storage the step allocates. For most operators that costs a C++ shape function, but GroupNorm's
forward and backward and the elementwise operators reach PyTorch's Python references (``torch._refs``,
``torch._decomp``), about 0.25 s per cut of a 224×224 ResNet-50 — most of a 49-cut profile. The rules here give the
same outputs (shape, dtype, device, contiguous strides) without the references, only in the cases where that is
certain; every other call falls back to the real kernel. ``tests/profiles/test_metashapes.py`` compares each rule with
the real meta kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

aten = torch.ops.aten

Rule = Callable[[tuple[Any, ...], dict[str, Any]], Any]


def _empty(shape: torch.Size | tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    return torch.empty(shape, dtype=like.dtype, device=like.device)


def _group_norm(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``native_group_norm(x, w, b, N, C, HxW, group, eps)`` → (y like x, mean N×group, rstd N×group)."""
    x, n, group = args[0], args[3], args[6]
    if kwargs or x.dtype not in (torch.float32, torch.float64):
        return NotImplemented
    return _empty(x.shape, x), _empty((n, group), x), _empty((n, group), x)


def _group_norm_backward(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``native_group_norm_backward(dy, x, mean, rstd, w, N, C, HxW, group, mask)`` → (dx?, dw?, db?)."""
    x, c, mask = args[1], args[6], args[9]
    if kwargs or x.dtype not in (torch.float32, torch.float64):
        return NotImplemented
    return (_empty(x.shape, x) if mask[0] else None,
            _empty((c,), x) if mask[1] else None,
            _empty((c,), x) if mask[2] else None)


def _same_float_tensors(args: tuple[Any, ...]) -> torch.Tensor | None:
    """The first tensor when every tensor argument has its shape and floating dtype and is contiguous, else None."""
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    if not tensors:
        return None
    first = tensors[0]
    if not first.is_floating_point():
        return None
    for t in tensors:
        if t.shape != first.shape or t.dtype != first.dtype or not t.is_contiguous():
            return None
    return first


def _elementwise(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """An out-of-place elementwise operator on same-shape float tensors → a new contiguous tensor like them."""
    if any(isinstance(v, torch.Tensor) for v in kwargs.values()):
        return NotImplemented
    first = _same_float_tensors(args)
    if first is None or any(isinstance(a, complex) for a in args):
        return NotImplemented
    return _empty(first.shape, first)


# Out-of-place operators whose result has the (common) shape and dtype of their float tensor inputs; Python scalars
# (an ``alpha``, a threshold) cannot change that dtype because the inputs are already floating point.
_ELEMENTWISE = (
    aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.div.Tensor,
    aten.relu.default, aten.threshold_backward.default,
    aten.sigmoid.default, aten.sigmoid_backward.default,
    aten.hardswish.default, aten.hardswish_backward.default,
    aten.hardsigmoid.default, aten.hardsigmoid_backward.default,
    aten.silu.default, aten.silu_backward.default,
    aten.hardtanh_backward.default,
)

RULES: dict[Any, Rule] = {
    aten.native_group_norm.default: _group_norm,
    aten.native_group_norm_backward.default: _group_norm_backward,
    **{op: _elementwise for op in _ELEMENTWISE},
}


def fast_meta(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The outputs of ``func(*args, **kwargs)`` on the meta device by a rule above, or ``NotImplemented``."""
    rule = RULES.get(func)
    if rule is None:
        return NotImplemented
    for a in args:
        if isinstance(a, torch.Tensor) and a.device.type != "meta":
            return NotImplemented
    return rule(args, kwargs)
