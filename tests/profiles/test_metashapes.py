"""Fast meta shape rules: each gives the real meta kernel's outputs, or declines."""

from __future__ import annotations

import pytest
import torch

from sflaudit.models import split_model
from sflaudit.profiles.memory import client_step_memory
from sflaudit.profiles.metashapes import RULES, fast_meta

aten = torch.ops.aten


def _meta(*shape: int) -> torch.Tensor:
    return torch.empty(*shape, device="meta")


def _same(fast: object, real: object) -> None:
    fast_t = fast if isinstance(fast, tuple) else (fast,)
    real_t = real if isinstance(real, tuple) else (real,)
    assert len(fast_t) == len(real_t)
    for f, r in zip(fast_t, real_t):
        if r is None:
            assert f is None
            continue
        assert (f.shape, f.dtype, f.device, f.stride()) == (r.shape, r.dtype, r.device, r.stride())


@pytest.mark.parametrize("mask", [[True, True, True], [True, False, False], [False, True, True]])
def test_group_norm_rules__match_the_real_meta_kernels(mask: list[bool]) -> None:
    x, w, b = _meta(4, 8, 5, 5), _meta(8), _meta(8)
    args = (x, w, b, 4, 8, 25, 2, 1e-5)
    y = aten.native_group_norm.default(*args)
    _same(fast_meta(aten.native_group_norm.default, args, {}), y)
    bargs = (x, x, y[1], y[2], w, 4, 8, 25, 2, mask)
    _same(fast_meta(aten.native_group_norm_backward.default, bargs, {}),
          aten.native_group_norm_backward.default(*bargs))


@pytest.mark.parametrize("op", [op for op, rule in RULES.items() if "group_norm" not in str(op)])
def test_elementwise_rules__match_the_real_meta_kernels(op: object) -> None:
    n_tensors = sum(1 for a in op._schema.arguments if str(a.type) == "Tensor" and not a.kwarg_only)
    extra = {"threshold_backward": (0.0,), "hardtanh_backward": (-1.0, 1.0)}.get(op._schema.name.split("::")[1], ())
    args = tuple(_meta(3, 4, 2) for _ in range(n_tensors)) + extra
    _same(fast_meta(op, args, {}), op(*args))


def test_fast_meta__declines_broadcasts_mixed_dtypes_strides_and_real_tensors() -> None:
    a = _meta(2, 3, 4, 4)
    assert fast_meta(aten.mul.Tensor, (a, _meta(2, 3, 1, 1)), {}) is NotImplemented       # SE-style broadcast
    assert fast_meta(aten.add.Tensor, (a, a.to(torch.float16)), {}) is NotImplemented      # promotion
    assert fast_meta(aten.add.Tensor, (a, a.transpose(1, 2)), {}) is NotImplemented        # not contiguous
    assert fast_meta(aten.add.Tensor, (torch.ones(2), torch.ones(2)), {}) is NotImplemented  # not meta
    assert fast_meta(aten.add.Tensor, (torch.empty(2, dtype=torch.long, device="meta"),) * 2, {}) is NotImplemented
    assert fast_meta(aten.convolution.default, (a,), {}) is NotImplemented                 # no rule


@pytest.mark.parametrize(("arch", "depth"), [("torchvision:mobilenet_v3_small", 4), ("torchvision:resnet18", 3)])
def test_client_step_memory__fast_meta_equals_the_real_cpu_step_on_traced_networks(arch: str, depth: int) -> None:
    client = split_model(arch, depth).client
    real = client_step_memory(client, 4, execute=True)
    traced = client_step_memory(client, 4)
    assert (traced.static_bytes, traced.step_peak_bytes) == (real.static_bytes, real.step_peak_bytes)
