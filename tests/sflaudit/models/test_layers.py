"""WSConv2d, group_norm, scale_channels, init_weights, Chain, GlobalPool."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from sflaudit.models.layers import Chain, GlobalPool, WSConv2d, group_norm, init_weights, scale_channels


def test_wsconv2d__standardises_each_filter_with_unbiased_std() -> None:
    conv = WSConv2d(2, 1, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, 3.0]).reshape(1, 2, 1, 1))
    x = torch.tensor([5.0, 9.0]).reshape(1, 2, 1, 1)
    # mean 2, unbiased std sqrt(((1-2)^2 + (3-2)^2) / 1) = sqrt(2): weight -> [-1, 1] / (sqrt(2) + 1e-5)
    expected = (-5.0 + 9.0) / (math.sqrt(2.0) + 1e-5)
    assert conv(x).item() == pytest.approx(expected, rel=1e-6)


def test_wsconv2d__standardised_weight_has_zero_mean_unit_std_per_output_filter() -> None:
    torch.manual_seed(0)
    w = WSConv2d(3, 5, 3).standardized_weight()
    assert torch.allclose(w.mean(dim=(1, 2, 3)), torch.zeros(5), atol=1e-6)
    assert torch.allclose(w.std(dim=(1, 2, 3)), torch.ones(5), atol=1e-4)


def test_wsconv2d__is_bias_free_by_default() -> None:
    assert WSConv2d(4, 8, 3, padding=1).bias is None


def test_wsconv2d__stride_and_padding_give_cifar_shapes() -> None:
    conv = WSConv2d(4, 8, 3, stride=2, padding=1)
    assert conv(torch.randn(2, 4, 32, 32)).shape == (2, 8, 16, 16)


def test_group_norm__uses_four_channels_per_group() -> None:
    gn = group_norm(64)
    assert (gn.num_groups, gn.num_channels) == (16, 64)


def test_group_norm__rejects_channels_not_multiple_of_four() -> None:
    with pytest.raises(ValueError, match="multiple of 4"):
        group_norm(6)


@pytest.mark.parametrize(
    ("channels", "width", "expected"),
    [(64, 1.0, 64), (64, 0.25, 16), (24, 0.25, 8), (16, 0.25, 4), (32, 0.1, 4), (512, 0.5, 256), (1280, 0.75, 960)],
)
def test_scale_channels__rounds_half_up_to_multiple_of_four_min_four(
    channels: int, width: float, expected: int
) -> None:
    assert scale_channels(channels, width) == expected


def test_init_weights__keeps_default_init_for_ws_convs() -> None:
    torch.manual_seed(0)
    conv = WSConv2d(3, 64, 3)
    before = conv.weight.detach().clone()
    init_weights(conv)
    assert torch.equal(conv.weight, before)


def test_init_weights__xavier_and_zero_bias_for_exact_conv2d_and_linear() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(100, 100, 1, bias=True), nn.Linear(100, 100))
    for m in net:
        nn.init.constant_(m.weight, 1.0)
        nn.init.constant_(m.bias, 1.0)
    init_weights(net)
    xavier_bound = math.sqrt(6.0 / (100 + 100))
    for m in net:
        assert m.weight.abs().max().item() <= xavier_bound
        assert m.weight.std().item() > 0.0
        assert torch.equal(m.bias, torch.zeros(100))


def test_chain__dotted_names_become_state_dict_prefixes() -> None:
    chain = Chain([("stem", nn.Linear(2, 2, bias=False)), ("layer1.1", nn.Linear(2, 2, bias=False))])
    assert list(chain.state_dict()) == ["stem.weight", "layer1.1.weight"]


def test_chain__applies_units_in_order() -> None:
    chain = Chain([("a", nn.Identity()), ("b.0", nn.ReLU()), ("c", nn.Flatten(0))])
    x = torch.tensor([[-1.0, 2.0]])
    assert torch.equal(chain(x), torch.tensor([0.0, 2.0]))


def test_global_pool__averages_each_channel_on_channels_last_input() -> None:
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2).to(memory_format=torch.channels_last)
    expected = torch.tensor([[1.5, 5.5, 9.5], [13.5, 17.5, 21.5]])  # mean of 4 consecutive values per channel
    assert torch.equal(GlobalPool()(x), expected)


def test_chain__deepcopy_runs_the_copied_units() -> None:
    chain = Chain([("stem", nn.Linear(2, 2, bias=False))])
    twin = copy.deepcopy(chain)
    with torch.no_grad():
        twin.stem.weight.zero_()
    x = torch.ones(1, 2)
    assert torch.equal(twin(x), torch.zeros(1, 2)) and chain(x).abs().sum().item() > 0.0
