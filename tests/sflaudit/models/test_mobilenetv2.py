"""CIFAR MobileNetV2 (GN, WS, BN conv shortcuts) exactly as protocol §2.2."""

from __future__ import annotations

import math

import torch
from torch import nn

from sflaudit.models.layers import ConvNorm, WSConv2d
from sflaudit.models.mobilenetv2 import InvertedResidual, mobilenetv2_feature_dim, mobilenetv2_units


def _numel(module: nn.Module) -> int:
    return sum(t.numel() for t in module.state_dict().values())


def test_mobilenetv2__backbone_has_protocol_param_count_incl_bn_buffers() -> None:
    assert sum(_numel(m) for _, m in mobilenetv2_units()) == 2_285_028


def test_mobilenetv2__has_stem_17_blocks_in_7_stages_and_final() -> None:
    names = [name for name, _ in mobilenetv2_units(0.25)]
    assert names[0] == "stem" and names[-1] == "final" and len(names) == 19
    assert [sum(n.startswith(f"stage{k}.") for n in names) for k in range(1, 8)] == [1, 2, 3, 4, 3, 3, 1]


def test_stem__stride_1_and_no_relu_after_gn() -> None:
    stem = dict(mobilenetv2_units(0.25))["stem"]
    out = stem(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 8, 32, 32)
    assert out.min().item() < 0.0


def test_final__conv1x1_to_1280_and_no_relu_after_gn() -> None:
    final = dict(mobilenetv2_units())["final"]
    assert isinstance(final.conv, WSConv2d) and (final.conv.in_channels, final.conv.out_channels) == (320, 1280)
    out = final(torch.randn(2, 320, 4, 4))
    assert out.shape == (2, 1280, 4, 4) and out.min().item() < 0.0


def test_block__expansion_one_still_has_expand_conv() -> None:
    block = InvertedResidual(32, 16, 1, 1)  # stage1.0
    assert (block.conv1.in_channels, block.conv1.out_channels) == (32, 32)
    assert block.conv2.groups == 32


def test_block__conv_shortcut_is_plain_conv2d_and_batchnorm() -> None:
    shortcut = InvertedResidual(32, 16, 1, 1).shortcut
    assert isinstance(shortcut, ConvNorm)
    assert type(shortcut.conv) is nn.Conv2d and shortcut.conv.bias is None
    assert isinstance(shortcut.norm, nn.BatchNorm2d)


def test_block__identity_shortcut_when_stride_1_and_same_channels() -> None:
    assert isinstance(InvertedResidual(24, 24, 6, 1).shortcut, nn.Identity)


def test_block__no_residual_at_stride_2() -> None:
    block = InvertedResidual(24, 32, 6, 2)
    assert block.shortcut is None
    assert not any(k.startswith("shortcut") for k in block.state_dict())


def test_block__stage1_params_match_protocol_increment() -> None:
    # protocol §2.2: cut 2 - cut 1 = 3,489 - 928 = 2,561 (incl. 2*16 BN running stats + 1 counter)
    assert _numel(InvertedResidual(32, 16, 1, 1)) == 3_489 - 928


def test_block__relu_inside_but_not_after_projection() -> None:
    torch.manual_seed(0)
    out = InvertedResidual(24, 32, 6, 2)(torch.randn(2, 24, 8, 8))
    assert out.shape == (2, 32, 4, 4) and out.min().item() < 0.0


def test_stage2__keeps_resolution_for_cifar() -> None:
    units = dict(mobilenetv2_units(0.25))
    assert units["stage2.0"].conv2.stride == (1, 1)
    assert units["stage3.0"].conv2.stride == (2, 2)


def test_mobilenetv2_feature_dim__is_1280_scaled() -> None:
    assert (mobilenetv2_feature_dim(), mobilenetv2_feature_dim(0.5)) == (1280, 640)


def test_mobilenetv2_units__plain_conv_shortcut_gets_xavier_init() -> None:
    torch.manual_seed(0)
    conv = dict(mobilenetv2_units())["stage1.0"].shortcut.conv  # 32->16 1x1
    xavier_bound = math.sqrt(6.0 / (32 + 16))
    default_bound = 1.0 / math.sqrt(32)
    assert default_bound < conv.weight.abs().max().item() <= xavier_bound
