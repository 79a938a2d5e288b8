"""fvcore FLOPs per image (1 FLOP = 1 MAC) match protocol §2.1–2.2 and the FLOP columns of §6.2."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sflaudit.profiles.flops import count_flops, cut_flops, moco_projector, split_flops
from sflaudit.profiles.reference import reference_overhead
from sflaudit.models import WSConv2d, split_model

RESNET18_CLIENT_FLOPS = {
    1: 2_097_152, 3: 78_249_984, 5: 154_402_816, 7: 213_614_592, 9: 289_439_744,
    11: 348_405_760, 13: 424_067_072, 15: 482_910_208, 17: 558_489_600,
}
# protocol §2.2: reference cut 1..9 → sflaudit depth; client forward FLOPs per image in eval mode.
MOBILENETV2_CLIENT_FLOPS = {
    1: 1_048_576, 2: 3_883_008, 4: 20_250_624, 7: 34_504_704, 11: 48_201_728,
    14: 68_655_104, 17: 84_434_432, 18: 92_954_112, 19: 99_610_112,
}
# protocol §6.2 (ResNet-18): depth → (client M/img, total client G, total server G) as printed there.
RESNET18_REFERENCE_FLOPS = {
    1: (6.00, 58.6, 207862), 3: (223.88, 2186, 179506), 5: (441.75, 4314, 151151),
    7: (611.16, 5968, 129136), 9: (828.09, 8087, 100944), 11: (996.80, 9734, 79148),
    13: (1213.27, 11848, 51182), 15: (1381.62, 13492, 29946), 17: (1597.85, 15604, 2669),
}


def _digits(printed: float) -> float:
    """Half a unit in the last printed digit of a protocol number (58.6 → 0.05, 2186 → 0.5)."""
    return 0.05 if printed < 100 else 0.5


@pytest.mark.parametrize("depth", sorted(RESNET18_CLIENT_FLOPS))
def test_count_flops__resnet18_client_matches_protocol(depth: int) -> None:
    client = split_model("resnet18", depth).client
    assert count_flops(client, torch.zeros(1, 3, 32, 32)).total == RESNET18_CLIENT_FLOPS[depth]


@pytest.mark.parametrize("depth", sorted(MOBILENETV2_CLIENT_FLOPS))
def test_count_flops__mobilenetv2_stage_cuts_match_protocol(depth: int) -> None:
    client = split_model("mobilenetv2", depth).client
    assert count_flops(client, torch.zeros(1, 3, 32, 32)).total == MOBILENETV2_CLIENT_FLOPS[depth]


@pytest.mark.parametrize("depth", sorted(RESNET18_REFERENCE_FLOPS))
def test_split_flops__resnet18_reference_flop_columns_match_protocol(depth: int) -> None:
    split = split_model("resnet18", depth)
    flops = split_flops(split.client, split.server, feature_dim=split.info.feature_dim)
    assert flops.client.total == RESNET18_CLIENT_FLOPS[depth]
    ref = reference_overhead(split.info.client_params, split.info.sent_elements,
                             client_fwd_flops=flops.client.total, server_fwd_flops=flops.server.total)
    client_m, client_g, server_g = RESNET18_REFERENCE_FLOPS[depth]
    assert ref.client_mflops_per_image == pytest.approx(client_m, abs=0.005)
    assert ref.total_client_gflops == pytest.approx(client_g, abs=_digits(client_g))
    assert ref.total_server_gflops == pytest.approx(server_g, abs=_digits(server_g))


def test_cut_flops__server_counts_the_rest_pool_and_projector() -> None:
    f = cut_flops("resnet18", 17)                           # server = global pool + projector only
    assert f.server.total == 512 * 4 * 4 + 512 * 1024 + 1024 * 1024
    assert f.server.by_operator == {"adaptive_avg_pool2d": 512 * 16, "linear": 512 * 1024 + 1024 * 1024}
    assert f.server_input == (512, 4, 4)


def test_cut_flops__server_follows_the_moco_version_projector() -> None:
    v1, v2 = cut_flops("resnet18", 17, moco_version="V1"), cut_flops("resnet18", 17, moco_version="V2")
    # PROJECTOR_DIMS: V1 = Linear(512, 128); V2 = Linear(512, 1024) → ReLU → Linear(1024, 1024); 1 FLOP = 1 MAC
    assert v2.server.total - v1.server.total == (512 * 1024 + 1024 * 1024) - 512 * 128
    assert v1.server.by_operator == {"adaptive_avg_pool2d": 512 * 4 * 4, "linear": 512 * 128}
    assert v1.client.total == v2.client.total == 558_489_600


def test_cut_flops__mid_block_client_and_server_add_up_to_the_backbone() -> None:
    f = cut_flops("resnet18", 2)                            # stem + layer1.0 conv1 (and identity shortcut)
    assert f.client.total == 2_097_152 + 64 * 64 * 9 * 32 * 32 + 5 * 64 * 32 * 32
    assert f.server_input == (128, 32, 32)                  # [mid, shortcut] on channels
    assert f.client.total + f.server.total == 558_489_600 + 512 * 16 + 512 * 1024 + 1024 * 1024


def test_cut_flops__mobilenetv2_server_adds_pool_and_projector_over_1280_features() -> None:
    f = cut_flops("mobilenetv2", 19)
    assert f.server.by_operator == {"adaptive_avg_pool2d": 1280 * 16, "linear": 1280 * 1024 + 1024 * 1024}


def test_count_flops__weight_standardisation_is_not_counted_but_listed() -> None:
    conv = WSConv2d(3, 8, 3, padding=1)
    f = count_flops(conv, torch.zeros(1, 3, 4, 4))
    assert f.total == 8 * 3 * 9 * 4 * 4                     # conv MACs only
    assert f.uncounted == {"prim::PythonOp._WeightStandardize": 1}


def test_count_flops__batchnorm_in_eval_mode_and_training_flag_restored() -> None:
    bn = nn.BatchNorm2d(4).train()
    f = count_flops(bn, torch.zeros(1, 4, 2, 2))
    assert f.total == 2 * 4 * 2 * 2                         # eval-mode convention: 2·numel with affine
    assert bn.training


def test_count_flops__is_quiet(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    count_flops(WSConv2d(3, 4, 3), torch.zeros(1, 3, 5, 5))
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert not [r for r in caplog.records if r.name.startswith("fvcore")]


def test_moco_projector__v2_shape() -> None:
    proj = moco_projector(512)
    assert [m.__class__.__name__ for m in proj] == ["Linear", "ReLU", "Linear"]
    assert proj(torch.zeros(2, 512)).shape == (2, 1024)


# protocol §6.2 (MobileNetV2): depth → total server G; the reference's avg_pool2d is not counted by fvcore there.
MOBILENETV2_SERVER_G = {1: 37596, 11: 20075, 19: 1305}


@pytest.mark.parametrize("depth", sorted(MOBILENETV2_SERVER_G))
def test_cut_flops__mobilenetv2_server_column_matches_protocol_without_pool(depth: int) -> None:
    split = split_model("mobilenetv2", depth)
    flops = split_flops(split.client, split.server, feature_dim=split.info.feature_dim)
    server_fwd = flops.server.total - flops.server.by_operator["adaptive_avg_pool2d"]
    ref = reference_overhead(split.info.client_params, split.info.sent_elements, server_fwd_flops=server_fwd)
    assert ref.total_server_gflops == pytest.approx(MOBILENETV2_SERVER_G[depth], abs=0.5)
