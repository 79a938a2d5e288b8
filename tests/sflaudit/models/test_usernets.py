"""Building the user's network: torchvision builders without their head, user factories, weights files, norms."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from sflaudit.errors import SflauditError
from sflaudit.models import split_model
from sflaudit.models.usernets import build_network, is_graph_arch


def test_graph_arch_names() -> None:
    assert is_graph_arch("torchvision:resnet50") and is_graph_arch("mypkg.nets:small")
    assert not is_graph_arch("resnet18") and not is_graph_arch("toycnn")


def test_torchvision_head_is_dropped_and_stochastic_depth_is_off() -> None:
    from torchvision.ops import StochasticDepth

    with torch.device("meta"):
        net = build_network("torchvision:efficientnet_b0")
    assert not any(isinstance(m, (StochasticDepth, nn.BatchNorm2d)) for m in net.modules())
    assert isinstance(net.classifier[1], nn.Identity)         # Dropout, then the 1280 → 1000 head
    assert sum(isinstance(m, nn.GroupNorm) for m in net.modules()) == 49


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_weights_file_is_loaded_into_client_and_server(tmp_path: Path, suffix: str) -> None:
    """The file holds the network as the user wrote it (BatchNorm): loaded before any norm conversion."""
    torch.manual_seed(5)
    source = build_network("netzoo:tiny", norm="batchnorm")
    state = {k: v.clone() for k, v in source.state_dict().items()}
    path = tmp_path / f"w{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    torch.manual_seed(99)                                      # another init: only the file can make them equal
    split = split_model("netzoo:tiny", 2, input_size=16, weights=str(path), norm="batchnorm")
    loaded = {**split.client.state_dict(), **split.server.state_dict()}
    assert {k.removeprefix("net."): v for k, v in loaded.items()}.keys() == state.keys()
    assert all(torch.equal(loaded[f"net.{k}"], v) for k, v in state.items())
    grouped = split_model("netzoo:tiny", 2, input_size=16, weights=str(path))     # GroupNorm: convs kept
    assert torch.equal(grouped.client.state_dict()["net.a.weight"], state["a.weight"])


def test_torchvision_weights_with_their_head_are_accepted(tmp_path: Path) -> None:
    import torchvision

    torch.manual_seed(1)
    full = torchvision.models.resnet18()
    torch.save(full.state_dict(), tmp_path / "r18.pt")        # conv1 … fc.weight, fc.bias: a classifier's file
    net = build_network("torchvision:resnet18", norm="batchnorm", weights=str(tmp_path / "r18.pt"))
    assert torch.equal(net.conv1.weight, full.conv1.weight) and isinstance(net.fc, nn.Identity)


def test_weights_that_do_not_fit_or_are_unsafe_give_one_line(tmp_path: Path) -> None:
    torch.save({"other.weight": torch.zeros(2)}, tmp_path / "bad.pt")
    with pytest.raises(SflauditError, match="does not fit the network"):
        build_network("netzoo:tiny", weights=str(tmp_path / "bad.pt"))
    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"x": Path("/")}))   # not a plain tensor dict: never unpickled
    with pytest.raises(SflauditError, match="cannot read it"):
        build_network("netzoo:tiny", weights=str(tmp_path / "evil.pt"))
    with pytest.raises(SflauditError, match="no such file"):
        build_network("netzoo:tiny", weights=str(tmp_path / "missing.pt"))


def test_unknown_norm_is_refused() -> None:
    with pytest.raises(SflauditError, match="model.norm 'layernorm'"):
        build_network("netzoo:tiny", norm="layernorm")


def test_config_with_a_missing_weights_file_is_refused_before_any_work() -> None:
    from sflaudit.config import load_config

    with pytest.raises(SflauditError, match="model.weights '/nonexistent/w.pt': no such file"):
        load_config(preset="smoke", overrides=['model.arch="torchvision:resnet18"', "model.width=1",
                                               'model.weights="/nonexistent/w.pt"'])


def test_a_builder_that_computes_with_tensors_is_planned_off_the_meta_device() -> None:
    # torchvision's RegNets derive their stage widths with torch ops, which the meta device cannot answer
    from sflaudit.models.cuts import depth_range

    assert depth_range("torchvision:regnet_x_400mf") == range(1, 68)


def test_a_network_too_large_for_the_image_names_the_node_and_prints_no_traceback(
        capfd: pytest.CaptureFixture[str]) -> None:
    from sflaudit.models.graphnets import graph_plan

    with pytest.raises(SflauditError, match=r"does not run on 32×32 images \(at _assert\): Wrong image height"):
        graph_plan("torchvision:vit_b_16", "groupnorm", 32)
    assert capfd.readouterr().err == ""
