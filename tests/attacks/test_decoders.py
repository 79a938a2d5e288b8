"""attacks/decoders.py: name parsing, output shape and range for every cut shape, up-sampling count."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sflaudit.attacks.decoders import PreActResBlock, build_decoder, parse_decoder_name, upsampling_steps
from sflaudit.errors import SflauditError

CUT_SHAPES = [(64, 32), (128, 16), (256, 8), (512, 4), (1024, 4)]  # (C, H) of ResNet-18 activations


@pytest.mark.parametrize("name", ["res_normN4C64", "conv_normN1C16"])
@pytest.mark.parametrize(("channels", "hw"), CUT_SHAPES)
def test_build_decoder__maps_activation_to_32px_images_in_unit_range(name: str, channels: int, hw: int) -> None:
    torch.manual_seed(0)
    decoder = build_decoder(name, channels, hw)
    h = torch.randn(2, channels, hw, hw)
    with torch.no_grad():
        out = decoder(h)
    assert out.shape == (2, 3, 32, 32)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    decoder.eval()
    with torch.no_grad():
        assert decoder(h).shape == (2, 3, 32, 32)


@pytest.mark.parametrize(("hw", "up"), [(32, 0), (16, 1), (8, 2), (4, 3), (2, 4)])
def test_build_decoder__one_transposed_conv_per_doubling(hw: int, up: int) -> None:
    decoder = build_decoder("res_normN0C8", 4, hw)
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in decoder.modules()) == up


def test_build_decoder__res_norm_layout() -> None:
    # N4 → first block + 4 middle blocks; 8×8 input: two ConvT replace the two "second" blocks; final block C→3
    decoder = build_decoder("res_normN4C64", 256, 8)
    blocks = [m for m in decoder.modules() if isinstance(m, PreActResBlock)]
    assert len(blocks) == 1 + 4 + 1
    assert blocks[0].conv1.in_channels == 256 and blocks[-1].conv2.out_channels == 3
    assert isinstance(decoder[-1], nn.Sigmoid)


def test_build_decoder__other_image_size() -> None:
    decoder = build_decoder("conv_normN0C8", 16, 8, out_hw=64)
    with torch.no_grad():
        assert decoder(torch.randn(2, 16, 8, 8)).shape == (2, 3, 64, 64)


def test_parse_decoder_name() -> None:
    assert parse_decoder_name("res_normN4C64") == ("res_norm", 4, 64)
    assert parse_decoder_name("conv_normN0C32") == ("conv_norm", 0, 32)


@pytest.mark.parametrize("bad", ["res_norm", "res_normN4", "resnormN4C64", "res_normN-1C64", "res_normN4C0", ""])
def test_parse_decoder_name__bad_names_are_clear_errors(bad: str) -> None:
    with pytest.raises(SflauditError, match="res_normN4C64"):
        parse_decoder_name(bad)


@pytest.mark.parametrize(("in_hw", "out_hw"), [(3, 32), (64, 32), (12, 32), (0, 32)])
def test_upsampling_steps__non_power_of_two_ratio_is_an_error(in_hw: int, out_hw: int) -> None:
    with pytest.raises(SflauditError, match="power of two"):
        upsampling_steps(in_hw, out_hw)
