"""Cut points found in a traced graph: the paper's networks' hand tables reproduced, frontiers, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sflaudit.errors import SflauditError
from sflaudit.models import cut_info, depth_range, split_model
from sflaudit.models.frontier import Frontier
from sflaudit.models.graphcut import plan, split_graph, trace
from sflaudit.models.graphnets import graph_plan

from netzoo import hand_convs as _hand_convs  # tests/netzoo.py


@pytest.mark.parametrize("arch", ["resnet18", "mobilenetv2"])
def test_automatic_cuts_reproduce_the_hand_tables(arch: str) -> None:
    """norm="batchnorm" keeps the networks as built (MobileNetV2's stem keeps the reference's BatchNorm, Q-quirk)."""
    _, p = graph_plan(f"netzoo:{arch}_hand", "batchnorm")
    for depth in depth_range(arch):
        auto_depth = _hand_convs(arch, depth)
        hand = cut_info(arch, depth, width=0.25)
        auto = cut_info(f"netzoo:{arch}_hand", auto_depth, norm="batchnorm")
        assert (auto.sent, auto.client_params) == (hand.sent, hand.client_params), (arch, depth, auto_depth)
    assert p.depths[-1] == _hand_convs(arch, depth_range(arch).stop - 1)


def test_resnet18_depths_are_the_hand_depths() -> None:
    """ResNet's depth is the conv count on both sides: the same numbers, 1..17."""
    assert depth_range("netzoo:resnet18_hand") == depth_range("resnet18") == range(1, 18)


def test_mid_block_cut_sends_two_tensors_and_whole_block_one() -> None:
    mid = cut_info("netzoo:resnet18_hand", 6)    # layer2.0 conv1: mid activation + strided shortcut
    assert mid.sent == ((32, 16, 16), (32, 16, 16))
    assert mid.after == "layer2.0.conv1" and mid.label == "d6 · layer2.0.conv1"
    assert "layer2.0.shortcut.conv" in mid.client_layers
    assert len(cut_info("netzoo:resnet18_hand", 7).sent) == 1


def test_identity_shortcut_at_a_block_end_is_sent_once() -> None:
    """At depth 3 (after layer1.0) the next block's identity shortcut reads the same tensor its conv1 reads."""
    assert cut_info("netzoo:resnet18_hand", 3).sent == ((16, 32, 32),)


def test_torchvision_bottleneck_cut_sends_the_shortcut_branch() -> None:
    info = cut_info("torchvision:resnet50", 2, input_size=64)
    assert info.after == "layer1.0.conv1"
    assert info.sent == ((64, 16, 16), (256, 16, 16))     # conv1's output and the downsample branch's
    assert info.frontier is not None and info.frontier.aligned     # one grid: packed on channels


def test_split_halves_compose_to_the_network_and_share_no_parameter() -> None:
    from sflaudit.models.usernets import build_network

    torch.manual_seed(0)
    net = build_network("netzoo:tiny").eval()
    torch.manual_seed(0)
    split = split_model("netzoo:tiny", 2, input_size=16)
    split.client.eval(), split.server.eval()
    x = torch.randn(3, 3, 16, 16)
    assert torch.equal(split.server(split.client(x)), net(x))
    client_ids = {id(t) for t in split.client.parameters()}
    assert client_ids and not client_ids & {id(t) for t in split.server.parameters()}
    assert split.info.sent == ((8, 8, 8), (8, 8, 8))  # after conv a: its ReLU output and the residual's input


def test_unaligned_frontier_packs_flat_and_unpacks_exactly() -> None:
    from sflaudit.models.frontier import pack, regrid, unpack

    f = Frontier(((4, 4, 4), (2, 1, 1), (3,)))
    assert not f.aligned and f.sent == ((4, 4, 4), (2, 1, 1), (3, 1, 1)) and f.regridded == (9, 4, 4)
    parts = [torch.randn(2, 4, 4, 4), torch.randn(2, 2, 1, 1), torch.randn(2, 3)]
    h = pack(parts, f)
    assert h.shape == (2, 64 + 2 + 3)
    assert all(torch.equal(a, b) for a, b in zip(unpack(h, f), parts))
    g = regrid(h, f)
    assert g.shape == (2, 9, 4, 4) and torch.equal(g[:, 4:6], parts[1].expand(2, 2, 4, 4))


def test_deepest_cut_keeps_global_pooling_on_the_server() -> None:
    top = depth_range("netzoo:tiny").stop - 1
    assert top == 4 and cut_info("netzoo:tiny", top, input_size=16).sent == ((16, 4, 4),)


def test_norm_becomes_groupnorm_unless_kept() -> None:
    gn = split_model("netzoo:tiny", 1)
    bn = split_model("netzoo:tiny", 1, norm="batchnorm")
    assert any(isinstance(m, nn.GroupNorm) for m in gn.client.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in gn.client.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in bn.client.modules())
    assert gn.info.client_params == 3 * 8 * 9 + 2 * 8 and bn.info.client_params == 3 * 8 * 9 + 4 * 8 + 1


@pytest.mark.parametrize("arch, message", [
    ("netzoo:branchy", "torch.fx cannot trace it"),
    ("torchvision:resnet_50", "unknown torchvision builder 'resnet_50' (did you mean resnet50"),
    ("netzoo:not_a_module", "returned int, not an nn.Module"),
    ("netzoo:missing", "has no attribute 'missing'"),
    ("nosuchpackage.zoo:net", "cannot import 'nosuchpackage.zoo'"),
])
def test_bad_networks_give_one_line(arch: str, message: str) -> None:
    with pytest.raises(SflauditError, match=None) as err:
        depth_range(arch)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_untraceable_model_error_names_the_operation() -> None:
    with pytest.raises(SflauditError) as err:
        depth_range("netzoo:branchy")
    assert "netzoo.py" in str(err.value) and "if x.sum() > 0" in str(err.value)


def test_width_is_refused_for_traced_networks() -> None:
    with pytest.raises(SflauditError, match="set model.width = 1"):
        cut_info("netzoo:tiny", 1, width=0.5)


def test_plan_of_a_directly_traced_module() -> None:
    gm = trace(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 5, 1), nn.Flatten(), nn.Linear(5 * 6 * 6, 7)),
               "seq")
    p = plan(gm, 8, "seq")
    assert p.depths == (1, 2) and p.cut_layers == {1: "0", 2: "2"}   # the last layer leaves nothing to the server
    parts = split_graph(gm, p, 2, "seq")
    assert parts.client_layers == ("0", "2") and len(parts.frontier) == 1
    assert p.shapes[parts.frontier[0]] == (180,)      # the flattened map: Flatten runs before the next layer
