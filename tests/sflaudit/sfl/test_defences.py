"""Wire defences: noise before the meter and seen by the receiver, int8 round trip, top-k, exact bytes."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from sflaudit.config import DefenceConfig, load_config
from sflaudit.errors import SflauditError
from sflaudit.sfl.defences import Payload, decode, encode, quantize_int8, server_view, topk_count
from sflaudit.sfl.wire import Link


def _activations(n: int = 4, shape: tuple[int, ...] = (16, 8, 8)) -> torch.Tensor:
    """n samples with very different scales (so a per-batch RMS would be wrong for all but one)."""
    g = torch.Generator().manual_seed(0)
    scales = torch.tensor([0.1, 1.0, 10.0, 100.0][:n]).view(-1, 1, 1, 1)
    return torch.randn((n, *shape), generator=g) * scales


def test_noise__is_on_the_metered_payload_and_has_sigma_relative_to_each_samples_rms() -> None:
    h = _activations()                                        # 4 × 1024 elements
    link = Link("float32", DefenceConfig(noise=0.5), seed=3)
    seen: list[Payload] = []
    link.tap = lambda kind, client, payload: seen.append(payload)
    got = link.send_activation(h, direction="up", kind="query", client=0)
    assert torch.equal(decode(seen[0]), got)                  # the meter counted the noised tensor
    assert link.by_kind["query"]["up"] == 4 * 1024 * 4        # noise costs no byte
    rms = h.flatten(1).pow(2).mean(1).sqrt()
    ratio = (got - h).flatten(1).std(1) / rms                 # the noise std per sample / that sample's RMS
    assert torch.allclose(ratio, torch.full((4,), 0.5), rtol=0.06)


def test_noise__the_server_view_with_the_links_seed_is_exactly_what_the_server_received() -> None:
    h = _activations()
    got = Link("float32", DefenceConfig(noise=0.3), seed=7).send_activation(h, direction="up", kind="key", client=1)
    view = server_view(h, DefenceConfig(noise=0.3), generator=torch.Generator().manual_seed(7))
    assert torch.equal(view, got) and not torch.equal(got, h)


def test_noise__gradients_going_down_are_not_noised() -> None:
    g = _activations()
    got = Link("float32", DefenceConfig(noise=1.0)).send_activation(g, direction="down", kind="grad", client=0)
    assert torch.equal(got, g)


def test_link__state_dict_carries_the_noise_generator_for_an_exact_resume() -> None:
    h = _activations()
    link = Link("float32", DefenceConfig(noise=0.2), seed=1)
    link.send_activation(h, direction="up", kind="query", client=0)
    again = Link("float32", DefenceConfig(noise=0.2), seed=99)
    again.load_state_dict(link.state_dict())
    a = link.send_activation(h, direction="up", kind="query", client=0)
    b = again.send_activation(h, direction="up", kind="query", client=0)
    assert torch.equal(a, b)


def test_int8__round_trip_error_is_at_most_half_a_scale_step() -> None:
    x = _activations()
    q, scale = quantize_int8(x)
    assert q.dtype == torch.int8 and float(scale) == pytest.approx(float(x.abs().max()) / 127, rel=1e-6)
    err = (q.float() * scale - x).abs().max()
    assert float(err) <= float(scale) / 2 * (1 + 1e-5)
    assert int(q.abs().max()) == 127


def test_int8__tiny_exact_case() -> None:
    q, scale = quantize_int8(torch.tensor([[-127.0, 0.4, 0.6, 63.5]]))
    assert float(scale) == 1.0 and q.tolist() == [[-127, 0, 1, 64]]   # round half to even: 63.5 → 64


def test_int8__an_all_zero_tensor_decodes_to_zeros() -> None:
    p = encode(torch.zeros(2, 3, 1, 1), quantize="int8")
    assert torch.equal(decode(p), torch.zeros(2, 3, 1, 1)) and float(p.scale) == 0.0


def test_int8__activations_and_gradients_cost_one_byte_per_element_plus_a_scale() -> None:
    link = Link("float32", DefenceConfig(quantize="int8"))
    x = _activations()
    up = link.send_activation(x, direction="up", kind="query", client=0)
    link.send_activation(x, direction="down", kind="grad", client=0)
    assert link.by_kind["query"]["up"] == 4 * 1024 + 4 and link.by_kind["grad"]["down"] == 4 * 1024 + 4
    assert up.dtype == torch.float32 and not torch.equal(up, x)


@pytest.mark.parametrize(("n", "percent", "k"), [(100, 7, 7), (10, 25, 3), (1000, 0.05, 1), (64, 100, 64),
                                                 (3, 0.1, 1), (200, 12.5, 25), (5, 0, 0)])
def test_topk_count__is_the_exact_ceiling(n: int, percent: float, k: int) -> None:
    assert topk_count(n, percent) == k


def test_topk__keeps_exactly_k_largest_per_sample_and_zeros_the_rest() -> None:
    h = torch.tensor([[[[1.0, -5.0, 2.0, 0.5]]], [[[3.0, 0.1, -0.2, -4.0]]]])   # 2 samples × 4 values
    got = Link("float32", DefenceConfig(topk=50)).send_activation(h, direction="up", kind="query", client=0)
    assert got.tolist() == [[[[0.0, -5.0, 2.0, 0.0]]], [[[3.0, 0.0, 0.0, -4.0]]]]


def test_topk__each_sample_of_a_real_batch_keeps_k_nonzeros() -> None:
    h = _activations() + 1e-3                             # no exact zeros
    got = server_view(h, DefenceConfig(topk=10), generator=None)
    k = math.ceil(1024 * 10 / 100)
    assert (got != 0).flatten(1).sum(1).tolist() == [k] * 4
    kept = got != 0
    assert torch.equal(got[kept], h[kept])                # kept values untouched (float32 wire)
    smallest_kept = got.abs().flatten(1).where(kept.flatten(1), torch.inf).min(1).values
    largest_dropped = h.abs().flatten(1).where(~kept.flatten(1), 0.0).max(1).values
    assert bool((smallest_kept >= largest_dropped).all())


@pytest.mark.parametrize(("wire_dtype", "quantize", "expected"), [
    ("float32", "none", 4 * 103 * (4 + 4)),               # k = ⌈10 % · 1024⌉ = 103 per sample
    ("bfloat16", "none", 4 * 103 * (2 + 4)),
    ("float32", "int8", 4 * 103 * (1 + 4) + 4),
])
def test_topk__bytes_are_values_plus_int32_indices(wire_dtype: str, quantize: str, expected: int) -> None:
    link = Link(wire_dtype, DefenceConfig(topk=10, quantize=quantize))
    link.send_activation(_activations(), direction="up", kind="key", client=0)
    link.send_activation(_activations(), direction="down", kind="grad", client=0)
    assert link.by_kind["key"]["up"] == expected
    assert link.by_kind["grad"]["down"] == 4 * 1024 * (1 if quantize == "int8" else 2 if wire_dtype != "float32"
                                                       else 4) + (4 if quantize == "int8" else 0)


def test_topk_with_int8__decodes_kept_values_within_half_a_step() -> None:
    h = _activations()
    p = encode(h, quantize="int8", topk=5)
    got = decode(p)
    kept = got != 0
    assert p.values.shape == (4, 52) and p.indices is not None and p.indices.dtype == torch.int32
    assert float((got[kept] - h[kept]).abs().max()) <= float(p.scale) / 2 * (1 + 1e-5)


def test_server_view__default_defence_on_a_float32_wire_is_the_identity() -> None:
    h = _activations()
    assert torch.equal(server_view(h, DefenceConfig(), generator=None), h)


def test_server_view__applies_the_wire_dtype_and_keeps_the_callers_dtype() -> None:
    h = torch.tensor([[[[1.0 + 2**-10]]]])
    got = server_view(h, DefenceConfig(), generator=None, wire_dtype="bfloat16")
    assert got.dtype == torch.float32 and float(got) == 1.0


@pytest.mark.parametrize(("overrides", "message"), [
    (["defence.quantize=int8", "sfl.wire_dtype=bfloat16"], "replaces the wire dtype"),
    (["defence.quantize=int4"], "defence.quantize = 'int4' is not one of none, int8"),
    (["defence.topk=101"], "defence.topk = 101.0 is out of range [0, 100]"),
    (["defence.noise=-0.1"], "defence.noise = -0.1 is out of range"),
    (["defence.noise=nan"], "defence.noise = nan must be a finite number"),
    (["defence.nopeek=-1"], "defence.nopeek = -1.0 is out of range"),
    (["defence.dp_epsilon=8", "defence.nopeek=1"], "cannot be combined with defence.nopeek"),
    (["defence.dp_epsilon=8", "defence.dp_delta=1"], "defence.dp_delta = 1.0 is out of range (0, 1)"),
    (["defence.dp_epsilon=8", "defence.dp_clip=0"], "defence.dp_clip = 0.0 is out of range (0, inf)"),
])
def test_validation__refuses_bad_defences_with_one_line(overrides: list[str], message: str) -> None:
    with pytest.raises(SflauditError, match=re.escape(message)):
        load_config(None, "smoke", overrides)


def test_validation__accepts_int8_with_noise_and_topk_on_a_float32_wire() -> None:
    cfg = load_config(None, "smoke", ["defence.quantize=int8", "defence.noise=0.1", "defence.topk=5"])
    assert cfg.defence == DefenceConfig(noise=0.1, quantize="int8", topk=5.0)


# ------------------------------------------------------------------------ bottleneck (sflaudit/models/cuts.py)


@pytest.mark.parametrize(("depth", "spec", "sent", "back"), [
    (1, "C2S1", (2, 16, 16), (1, 8, 16, 16)),               # stem: 8×16×16 at width 0.125, 16×16 input
    (2, "C2S1", (2, 16, 16), (1, 16, 16, 16)),              # mid-block: [mid, shortcut] = 16 channels, one tensor
    (3, "C4S4", (4, 4, 4), (1, 8, 16, 16)),                 # two stride-2 convs, two transposed convs back
])
def test_bottleneck__client_sends_c_channels_at_stride_s_and_the_server_expands_back(
        depth: int, spec: str, sent: tuple[int, int, int], back: tuple[int, ...]) -> None:
    from sflaudit.models import cut_info, split_model

    split = split_model("resnet18", depth, width=0.125, input_size=16, bottleneck=spec)
    h = split.client(torch.zeros(1, 3, 16, 16))
    assert split.info.sent == (sent,) and tuple(h.shape) == (1, *sent)
    assert cut_info("resnet18", depth, width=0.125, input_size=16, bottleneck=spec) == split.info
    assert tuple(split.server.expand(h).shape) == back and split.server(h).shape == (1, 64)
    bare = split_model("resnet18", depth, width=0.125, input_size=16)
    extra = sum(p.numel() for p in split.client.bottleneck.parameters())
    assert split.info.client_params == bare.info.client_params + extra


@pytest.mark.parametrize("spec", ["C0S1", "C8S3", "8S1", "C8"])
def test_bottleneck__bad_spec_is_refused_by_validation(spec: str) -> None:
    with pytest.raises(SflauditError, match="is not 'none' or CxSy"):
        load_config(None, "smoke", [f"defence.bottleneck={spec}"])


# ------------------------------------------------------------------------ NoPeek in the trainer


def _train_dcor(tmp_path: Path, alpha: float) -> list[float]:
    from sflaudit.runs import read_jsonl
    from sflaudit.sfl.trainer import train

    cfg = load_config(None, "smoke", [f"defence.nopeek={alpha}", "model.depth=1", "optim.epochs=3",
                                      "eval.every=0", "eval.linear_epochs=0"])
    train(cfg, tmp_path / f"a{alpha}")
    return [r["dcor"] for r in read_jsonl(tmp_path / f"a{alpha}" / "metrics.jsonl") if r["type"] == "train"]


def test_nopeek__the_penalty_lowers_the_logged_distance_correlation(tmp_path: Path) -> None:
    plain, penalised = _train_dcor(tmp_path, 1e-6), _train_dcor(tmp_path, 5.0)      # ~no penalty vs a strong one
    assert len(plain) == len(penalised) and all(0.0 <= d <= 1.0 for d in plain + penalised)
    assert plain[0] == pytest.approx(penalised[0], abs=1e-6)       # same first forward, before any update
    tail = len(plain) // 2
    assert sum(penalised[tail:]) / (len(plain) - tail) < sum(plain[tail:]) / (len(plain) - tail) - 0.02


def test_defended_client__forward_is_the_server_view_and_gradients_pass_straight_through() -> None:
    from sflaudit.sfl.defences import DefendedClient, defended

    torch.manual_seed(0)
    net = torch.nn.Conv2d(3, 4, 3, padding=1)
    assert defended(net, DefenceConfig()) is net                       # nothing changes on the wire: no wrapper
    wrapped = defended(net, DefenceConfig(quantize="int8"))
    assert isinstance(wrapped, DefendedClient)
    x = torch.randn(2, 3, 5, 5, requires_grad=True)
    out = wrapped(x)
    want = server_view(net(x).detach(), DefenceConfig(quantize="int8"), generator=None)
    assert torch.equal(out.detach(), want) and not torch.equal(out.detach(), net(x).detach())
    out.sum().backward()
    clean = x.detach().clone().requires_grad_(True)
    net(clean).sum().backward()
    assert torch.allclose(x.grad, clean.grad)                          # straight-through: the clean gradient
