"""CIFAR ResNet-18/34 (GN, WS): stem, BasicBlock, block halves, widths, init (protocol §2.1)."""

from __future__ import annotations

import math

import torch
from torch import nn

from sflaudit.models.layers import ConvNorm, WSConv2d
from sflaudit.models.resnet import BasicBlock, resnet_feature_dim, resnet_stem, resnet_units, split_block


def _numel(module: nn.Module) -> int:
    return sum(t.numel() for t in module.state_dict().values())


def test_resnet18__backbone_has_protocol_param_count() -> None:
    units = resnet_units("resnet18")
    assert sum(_numel(m) for _, m in units) == 11_168_832


def test_resnet18__unit_names_are_stem_then_eight_blocks() -> None:
    names = [name for name, _ in resnet_units("resnet18", 0.25)]
    assert names == ["stem", *(f"layer{s}.{i}" for s in range(1, 5) for i in range(2))]


def test_resnet34__has_3_4_6_3_blocks() -> None:
    names = [name for name, _ in resnet_units("resnet34", 0.25)][1:]
    assert [sum(n.startswith(f"layer{s}.") for n in names) for s in range(1, 5)] == [3, 4, 6, 3]


def test_stem__is_stride_1_conv3x3_without_maxpool() -> None:
    stem = resnet_stem()
    assert isinstance(stem.conv, WSConv2d)
    assert stem.conv.kernel_size == (3, 3) and stem.conv.stride == (1, 1)
    assert stem(torch.randn(1, 3, 32, 32)).shape == (1, 64, 32, 32)


def test_stem__ends_with_relu() -> None:
    assert resnet_stem(0.25)(torch.randn(2, 3, 8, 8)).min().item() >= 0.0


def test_basic_block__identity_shortcut_when_shape_is_kept() -> None:
    assert isinstance(BasicBlock(64, 64, 1).shortcut, nn.Identity)


def test_basic_block__conv_gn_shortcut_when_stride_or_channels_change() -> None:
    for block in (BasicBlock(64, 128, 2), BasicBlock(64, 128, 1), BasicBlock(64, 64, 2)):
        assert isinstance(block.shortcut, ConvNorm)
        assert isinstance(block.shortcut.conv, WSConv2d) and block.shortcut.conv.kernel_size == (1, 1)
        assert isinstance(block.shortcut.norm, nn.GroupNorm)


def test_basic_block__params_are_bias_free_convs_plus_gn() -> None:
    # 64->128 stride 2: 3x3 convs 64*128*9 + 128*128*9, 1x1 shortcut 64*128, three GNs 2*128 each
    assert _numel(BasicBlock(64, 128, 2)) == 64 * 128 * 9 + 128 * 128 * 9 + 64 * 128 + 3 * 2 * 128


def test_basic_block__output_is_relu_of_sum() -> None:
    out = BasicBlock(8, 16, 2)(torch.randn(2, 8, 8, 8))
    assert out.shape == (2, 16, 4, 4) and out.min().item() >= 0.0


def test_split_block__front_then_back_equals_block() -> None:
    torch.manual_seed(0)
    block = BasicBlock(8, 16, 2)
    front, back = split_block(block)
    x = torch.randn(2, 8, 8, 8)
    assert torch.allclose(back(front(x)), block(x), atol=1e-6)


def test_split_block__front_sends_mid_and_shortcut_on_channels() -> None:
    torch.manual_seed(0)
    block = BasicBlock(8, 16, 2)
    front, _ = split_block(block)
    x = torch.randn(2, 8, 8, 8)
    mid, shortcut = block.front(x)
    assert torch.equal(front(x), torch.cat([mid, shortcut], dim=1))


def test_split_block__halves_share_parameters_with_disjoint_keys() -> None:
    block = BasicBlock(8, 16, 2)
    front, back = split_block(block)
    assert front.conv1 is block.conv1 and back.conv2 is block.conv2
    assert set(front.state_dict()) | set(back.state_dict()) == set(block.state_dict())
    assert set(front.state_dict()).isdisjoint(back.state_dict())


def test_resnet_units__width_scales_every_stage() -> None:
    units = dict(resnet_units("resnet18", 0.25))
    assert units["stem"].conv.out_channels == 16
    assert [units[f"layer{s}.1"].conv2.out_channels for s in range(1, 5)] == [16, 32, 64, 128]


def test_resnet_feature_dim__is_512_scaled() -> None:
    assert (resnet_feature_dim(), resnet_feature_dim(0.5)) == (512, 256)


def test_resnet_units__ws_convs_keep_default_kaiming_uniform_init() -> None:
    torch.manual_seed(0)
    conv = dict(resnet_units("resnet18", 1.0))["stem"].conv  # 3->64, fan_in 27, fan_out 576
    default_bound = 1.0 / math.sqrt(27)  # kaiming_uniform(a=sqrt(5))
    xavier_bound = math.sqrt(6.0 / (27 + 576))
    assert xavier_bound < conv.weight.abs().max().item() <= default_bound
