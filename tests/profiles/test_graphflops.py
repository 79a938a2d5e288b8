"""A traced cut's FLOPs counted node by node equal fvcore's count of the same modules (the slow reference)."""

from __future__ import annotations

import pytest
import torch

from sflaudit.models import depth_range, split_model
from sflaudit.profiles.flops import count_flops
from sflaudit.profiles.graphflops import graph_split_flops

from netzoo import hand_convs as _hand_convs  # tests/netzoo.py


@pytest.mark.parametrize("arch", ["resnet18", "mobilenetv2"])
def test_graph_flops_equal_the_hand_tables_fvcore_counts_at_every_depth(arch: str) -> None:
    x = torch.zeros(1, 3, 32, 32)
    for depth in depth_range(arch):
        hand = split_model(arch, depth, width=0.25)
        auto = graph_split_flops(f"netzoo:{arch}_hand", _hand_convs(arch, depth), norm="batchnorm", projector=False)
        with torch.no_grad():
            h = hand.client.eval()(x)
        assert (auto.client.total, auto.server.total) == (
            count_flops(hand.client, x).total, count_flops(hand.server, h).total), (arch, depth)


@pytest.mark.parametrize("depth", [1, 3, 30])
def test_graph_flops_equal_fvcore_on_a_torchvision_network(depth: int) -> None:
    """mobilenet_v3_small: GroupNorm from BatchNorm, squeeze-excitation pooling, a linear layer on the server."""
    split = split_model("torchvision:mobilenet_v3_small", depth)
    auto = graph_split_flops("torchvision:mobilenet_v3_small", depth, projector=False)
    x = torch.zeros(1, 3, 32, 32)
    with torch.no_grad():
        h = split.client.eval()(x)
    assert auto.client.total == count_flops(split.client, x).total > 0
    assert auto.server.total == count_flops(split.server, h).total > 0


def test_projector_is_added_to_the_server() -> None:
    without = graph_split_flops("netzoo:tiny", 2, input_size=16, projector=False).server.total
    with_v2 = graph_split_flops("netzoo:tiny", 2, input_size=16).server.total
    assert with_v2 - without == 16 * 1024 + 1024 * 1024
