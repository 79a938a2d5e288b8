"""Depth tables, cut_info and split_model (protocol §2.1/§2.2 tables)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn

from sflaudit.errors import SflauditError
from sflaudit.models import (
    ARCHS,
    build_backbone,
    check_depth,
    cut_info,
    depth_range,
    depth_table,
    feature_dim,
    reference_cut_to_depth,
    split_model,
)

ALL_DEPTHS = [
    (arch, d) for arch, top in (("resnet18", 17), ("resnet34", 33), ("mobilenetv2", 19)) for d in range(1, top + 1)
]

# protocol §2.1: ResNet-18 reference cut N = depth 2N-1 -> (client params, activation C,H,W)
RESNET18_ODD = [
    (1, 1_856, (64, 32, 32)),
    (3, 75_840, (64, 32, 32)),
    (5, 149_824, (64, 32, 32)),
    (7, 379_968, (128, 16, 16)),
    (9, 675_392, (128, 16, 16)),
    (11, 1_594_432, (256, 8, 8)),
    (13, 2_775_104, (256, 8, 8)),
    (15, 6_448_192, (512, 4, 4)),
    (17, 11_168_832, (512, 4, 4)),
]

# protocol §2.1 text: even depths cut after conv1+GN+ReLU of a block
RESNET18_EVEN_SHAPES = [
    (2, (64, 32, 32)),
    (4, (64, 32, 32)),
    (6, (128, 16, 16)),
    (8, (128, 16, 16)),
    (10, (256, 8, 8)),
    (12, (256, 8, 8)),
    (14, (512, 4, 4)),
    (16, (512, 4, 4)),
]

# protocol §2.2: reference stage cut -> (depth, client params incl. BN buffers, activation C,H,W)
MOBILENETV2_STAGES = [
    (1, 1, 928, (32, 32, 32)),
    (2, 2, 3_489, (16, 32, 32)),
    (3, 4, 17_938, (24, 32, 32)),
    (4, 7, 57_634, (32, 16, 16)),
    (5, 11, 241_506, (64, 8, 8)),
    (6, 14, 551_203, (96, 8, 8)),
    (7, 17, 1_346_467, (160, 4, 4)),
    (8, 18, 1_872_868, (320, 4, 4)),
    (9, 19, 2_285_028, (1280, 4, 4)),
]


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny models: one intra-op thread is as fast and avoids OpenMP spin-waits on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _reference_pair(arch: str, depth: int, width: float) -> tuple[nn.Module, nn.Module, nn.Module]:
    """(unsplit backbone with non-trivial BN stats, client, server) holding the same weights, all in eval mode."""
    full = build_backbone(arch, width)
    with torch.no_grad():
        full(torch.randn(2, 3, 16, 16))  # train-mode pass: MobileNetV2 shortcut BN running stats move off 0/1
    full.eval()
    split = split_model(arch, depth, width=width)
    sd = full.state_dict()
    split.client.load_state_dict({k: sd[k] for k in split.client.state_dict()}, strict=True)
    split.server.load_state_dict({k: sd[k] for k in split.server.state_dict()}, strict=True)
    return full, split.client.eval(), split.server.eval()


@pytest.mark.parametrize(("depth", "params", "shape"), RESNET18_ODD)
def test_cut_info__resnet18_odd_depths_match_protocol_table(depth: int, params: int, shape: tuple) -> None:
    info = cut_info("resnet18", depth)
    assert (info.client_params, info.sent) == (params, (shape,))


@pytest.mark.parametrize(("depth", "shape"), RESNET18_EVEN_SHAPES)
def test_cut_info__resnet18_even_depths_send_mid_and_shortcut(depth: int, shape: tuple) -> None:
    assert cut_info("resnet18", depth).sent == (shape, shape)


def test_cut_info__resnet18_depth2_params_are_stem_plus_first_conv_gn() -> None:
    assert cut_info("resnet18", 2).client_params == 1_856 + 64 * 64 * 9 + 2 * 64


def test_cut_info__resnet18_depth6_params_include_shortcut_branch() -> None:
    # depth 5 + layer2.0 conv1 (64->128, 3x3) + gn1 + 1x1 shortcut conv + shortcut GN
    assert cut_info("resnet18", 6).client_params == 149_824 + 64 * 128 * 9 + 2 * 128 + 64 * 128 + 2 * 128


def test_cut_info__resnet34_depths_follow_block_rule() -> None:
    # per-block increments from the ResNet-18 table: 64->64 73,984; 64->128 230,144; 128->128 295,424;
    # 128->256 919,040; 256->256 1,180,672; 256->512 3,673,088; 512->512 4,720,640
    assert cut_info("resnet34", 7).client_params == 1_856 + 3 * 73_984
    total = 1_856 + 3 * 73_984 + 230_144 + 3 * 295_424 + 919_040 + 5 * 1_180_672 + 3_673_088 + 2 * 4_720_640
    assert cut_info("resnet34", 33).client_params == total


@pytest.mark.parametrize(("cut", "depth", "params", "shape"), MOBILENETV2_STAGES)
def test_cut_info__mobilenetv2_stage_cuts_match_protocol_table(cut: int, depth: int, params: int, shape: tuple) -> None:
    assert reference_cut_to_depth("mobilenetv2", cut) == depth
    info = cut_info("mobilenetv2", depth)
    assert (info.client_params, info.sent) == (params, (shape,))


def test_reference_cut_to_depth__resnet_is_2n_minus_1() -> None:
    assert [reference_cut_to_depth("resnet18", n) for n in (1, 6, 9)] == [1, 11, 17]


def test_cut_info__sent_elements_sums_both_tensors() -> None:
    assert cut_info("resnet18", 2).sent_elements == 2 * 64 * 32 * 32


def test_cut_info__client_layers_name_the_half_block() -> None:
    assert cut_info("resnet18", 4).client_layers == ("stem", "layer1.0", "layer1.1.conv1")


def test_cut_info__input_size_scales_spatial_shapes() -> None:
    assert cut_info("resnet18", 7, input_size=64).sent == ((128, 32, 32),)


def test_cut_info__feature_dim_is_512_or_1280_scaled() -> None:
    assert [cut_info(a, 1).feature_dim for a in ARCHS] == [512, 512, 1280]
    assert feature_dim("mobilenetv2", 0.5) == 640


def test_cut_info__equals_split_model_info() -> None:
    assert split_model("mobilenetv2", 5, width=0.25).info == cut_info("mobilenetv2", 5, width=0.25)


def test_cut_info__does_not_consume_torch_rng() -> None:
    torch.manual_seed(0)
    state = torch.get_rng_state()
    cut_info("resnet34", 20)
    assert torch.equal(torch.get_rng_state(), state)


def test_depth_table__lists_every_depth() -> None:
    assert [i.depth for i in depth_table("mobilenetv2", width=0.25)] == list(range(1, 20))


def test_split_model__client_keys_at_depth2() -> None:
    keys = set(split_model("resnet18", 2, width=0.25).client.state_dict())
    expected = {"stem.conv.weight", "stem.norm.weight", "stem.norm.bias", "layer1.0.conv1.weight"}
    assert keys == expected | {"layer1.0.gn1.weight", "layer1.0.gn1.bias"}


@pytest.mark.parametrize(("arch", "depth"), ALL_DEPTHS)
def test_split_model__client_and_server_partition_backbone_keys(arch: str, depth: int) -> None:
    split = split_model(arch, depth, width=0.25)
    client, server = set(split.client.state_dict()), set(split.server.state_dict())
    assert client.isdisjoint(server)
    assert client | server == set(build_backbone(arch, 0.25).state_dict())
    assert sum(t.numel() for t in split.client.state_dict().values()) == split.info.client_params


@pytest.mark.parametrize(("arch", "depth"), ALL_DEPTHS)
def test_split_model__client_output_is_sent_tensors_on_channels(arch: str, depth: int) -> None:
    split = split_model(arch, depth, width=0.25, input_size=16)
    with torch.no_grad():
        h = split.client(torch.randn(2, 3, 16, 16))
    (c, height, width), k = split.info.sent[0], len(split.info.sent)
    assert h.shape == (2, c * k, height, width)


@pytest.mark.parametrize(("arch", "depth"), ALL_DEPTHS)
def test_split_model__server_of_client_equals_unsplit_backbone(arch: str, depth: int) -> None:
    torch.manual_seed(depth)
    full, client, server = _reference_pair(arch, depth, 0.25)
    x = torch.randn(2, 3, 16, 16)  # 16×16 keeps the test fast
    with torch.no_grad():
        y = server(client(x))
        expected = full(x)
    assert y.shape == (2, feature_dim(arch, 0.25))
    assert (y - expected).abs().max().item() < 1e-5


@pytest.mark.parametrize(("arch", "depth"), ALL_DEPTHS)
def test_split_model__gradient_reaches_every_client_parameter(arch: str, depth: int) -> None:
    torch.manual_seed(depth)
    split = split_model(arch, depth, width=0.25)
    y = split.server(split.client(torch.randn(2, 3, 16, 16)))  # 16×16 keeps the test fast
    (y * torch.randn_like(y)).sum().backward()
    for name, p in split.client.named_parameters():
        assert p.grad is not None and p.grad.abs().sum().item() > 0.0, name


@pytest.mark.parametrize(
    ("arch", "depth"),
    [("resnet18", 2), ("resnet18", 9), ("resnet18", 16), ("resnet34", 20), ("mobilenetv2", 11), ("mobilenetv2", 19)],
)
def test_split_model__full_width_equals_unsplit_backbone(arch: str, depth: int) -> None:
    torch.manual_seed(0)
    full, client, server = _reference_pair(arch, depth, 1.0)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert (server(client(x)) - full(x)).abs().max().item() < 1e-5


def test_split_model__same_seed_gives_backbone_weights() -> None:
    torch.manual_seed(3)
    full = build_backbone("resnet18", 0.25).state_dict()
    torch.manual_seed(3)
    split = split_model("resnet18", 8, width=0.25)
    for k, v in {**split.client.state_dict(), **split.server.state_dict()}.items():
        assert torch.equal(v, full[k]), k


@pytest.mark.parametrize(("arch", "depth"), [("resnet18", 6), ("mobilenetv2", 3)])
def test_split_model__supports_channels_last(arch: str, depth: int) -> None:
    torch.manual_seed(0)
    full, client, server = _reference_pair(arch, depth, 0.25)
    client, server = client.to(memory_format=torch.channels_last), server.to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        h = client(x.to(memory_format=torch.channels_last))
        y = server(h)
        expected = full(x)
    assert h.is_contiguous(memory_format=torch.channels_last)
    assert (y - expected).abs().max().item() < 1e-5


def test_depth_range__per_arch() -> None:
    assert [depth_range(a) for a in ARCHS] == [range(1, 18), range(1, 34), range(1, 20)]


@pytest.mark.parametrize(
    ("arch", "depth", "message"),
    [
        ("resnet18", 18, r"depth 18 is out of range for resnet18 \(1\.\.17\)"),
        ("resnet18", 0, r"depth 0 is out of range for resnet18 \(1\.\.17\)"),
        ("resnet34", 34, r"depth 34 is out of range for resnet34 \(1\.\.33\)"),
        ("mobilenetv2", 20, r"depth 20 is out of range for mobilenetv2 \(1\.\.19\)"),
    ],
)
def test_check_depth__out_of_range_lists_valid_range(arch: str, depth: int, message: str) -> None:
    with pytest.raises(SflauditError, match=message):
        check_depth(arch, depth)


def test_check_depth__unknown_arch_lists_valid_archs() -> None:
    with pytest.raises(SflauditError, match=r"unknown arch 'vgg13' \(valid: resnet18, resnet34, mobilenetv2\)"):
        check_depth("vgg13", 1)


def test_split_model__invalid_depth_raises() -> None:
    with pytest.raises(SflauditError, match=r"1\.\.19"):
        split_model("mobilenetv2", 0)


def test_cut_info__non_positive_width_raises() -> None:
    with pytest.raises(SflauditError, match="width 0"):
        cut_info("resnet18", 1, width=0)


def test_reference_cut_to_depth__out_of_range_raises() -> None:
    with pytest.raises(SflauditError, match=r"reference cut 10 is out of range for resnet18 \(1\.\.9\)"):
        reference_cut_to_depth("resnet18", 10)
