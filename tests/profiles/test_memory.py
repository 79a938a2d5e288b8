"""Peak memory of one client training step (forward, backward of a random gradient, SGD step)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from sflaudit.profiles.memory import client_step_memory
from sflaudit.models import split_model


def test_client_step_memory__static_part_is_weights_plus_input() -> None:
    m = client_step_memory(nn.Linear(8, 4, bias=False), 2, sample_shape=(8,))
    assert m.static_bytes == 4 * 8 * 4 + 2 * 8 * 4          # weight + input batch, fp32
    assert m.peak_bytes == m.static_bytes + m.step_peak_bytes
    assert (m.batch, m.method, m.device) == (2, "dispatch-meta", "meta")


def test_client_step_memory__step_holds_output_grads_and_momentum_buffer() -> None:
    m = client_step_memory(nn.Linear(8, 4, bias=False), 2, sample_shape=(8,), execute=True)
    # at least: output 2×4, its random gradient 2×4, weight grad 4×8, SGD momentum buffer 4×8 (fp32)
    assert m.step_peak_bytes >= (8 + 8 + 32 + 32) * 4
    assert m.method == "dispatch"


@pytest.mark.parametrize(("arch", "depth"), [("resnet18", 2), ("resnet18", 5), ("mobilenetv2", 3)])
def test_client_step_memory__meta_tracing_equals_the_real_cpu_step(arch: str, depth: int) -> None:
    client = split_model(arch, depth).client
    real = client_step_memory(client, 4, execute=True)
    traced = client_step_memory(client, 4)
    assert (traced.static_bytes, traced.step_peak_bytes) == (real.static_bytes, real.step_peak_bytes)


def test_client_step_memory__grows_with_the_batch() -> None:
    client = split_model("resnet18", 3).client
    assert client_step_memory(client, 8).peak_bytes > client_step_memory(client, 4).peak_bytes


def test_client_step_memory__leaves_module_and_rng_untouched() -> None:
    client = split_model("resnet18", 1).client
    before = {k: v.clone() for k, v in client.state_dict().items()}
    rng = torch.get_rng_state()
    client_step_memory(client, 2, execute=True)
    assert all(torch.equal(before[k], v) for k, v in client.state_dict().items())
    assert all(p.grad is None for p in client.parameters())
    assert torch.equal(rng, torch.get_rng_state())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_client_step_memory__cuda_uses_allocator_statistics() -> None:
    client = split_model("resnet18", 3).client.cuda()
    m = client_step_memory(client, 4, execute=True)
    traced = client_step_memory(client, 4)
    assert m.method == "cuda"
    assert m.step_peak_bytes >= traced.step_peak_bytes * 0.9   # same tensors, plus allocator rounding/workspaces


def test_client_step_memory__a_meta_module_is_stepped_in_place_and_left_as_it_was() -> None:
    client = split_model("resnet18", 3).client
    meta = copy.deepcopy(client).to("meta").eval()
    assert client_step_memory(meta, 4) == client_step_memory(client, 4)     # same bytes with and without the copy
    assert not meta.training and all(p.grad is None for p in meta.parameters())
