"""The reference overhead calculator reproduces protocol §6.2 (M defaults: 200 epochs, 50 images, sync 1, N 1000)."""

from __future__ import annotations

import pytest

from sflaudit.profiles.reference import reference_overhead
from sflaudit.models import cut_info

# protocol §6.2, ResNet-18: reference cut → (P, A, model MB, activation MB, total MB, client M/img, client G, server G)
RESNET18 = {
    1: (1856, 65536, 1.42, 5000.00, 5001.42, 6.00, 58.6, 207862),
    2: (75840, 65536, 57.86, 5000.00, 5057.86, 223.88, 2186, 179506),
    3: (149824, 65536, 114.31, 5000.00, 5114.31, 441.75, 4314, 151151),
    4: (379968, 32768, 289.89, 2500.00, 2789.89, 611.16, 5968, 129136),
    5: (675392, 32768, 515.28, 2500.00, 3015.28, 828.09, 8087, 100944),
    6: (1594432, 16384, 1216.46, 1250.00, 2466.46, 996.80, 9734, 79148),
    7: (2775104, 16384, 2117.24, 1250.00, 3367.24, 1213.27, 11848, 51182),
    8: (6448192, 8192, 4919.58, 625.00, 5544.58, 1381.62, 13492, 29946),
    9: (11168832, 8192, 8521.14, 625.00, 9146.14, 1597.85, 15604, 2669),
}
# protocol §6.2, MobileNetV2: reference cut → (sflaudit depth, P, A, model MB, activation MB, total MB)
MOBILENETV2 = {
    1: (1, 928, 32768, 0.71, 2500.00, 2500.71),
    2: (2, 3489, 16384, 2.66, 1250.00, 1252.66),
    3: (4, 17938, 24576, 13.69, 1875.00, 1888.69),
    4: (7, 57634, 8192, 43.97, 625.00, 668.97),
    5: (11, 241506, 4096, 184.25, 312.50, 496.75),
    6: (14, 551203, 6144, 420.53, 468.75, 889.28),
    7: (17, 1346467, 2560, 1027.27, 195.31, 1222.59),
    8: (18, 1872868, 5120, 1428.88, 390.62, 1819.51),
    9: (19, 2285028, 20480, 1743.34, 1562.50, 3305.84),
}


def test_reference_overhead__resnet18_depth_11_is_the_communication_minimum() -> None:
    ref = reference_overhead(1594432, 16384)
    assert (round(ref.model_mb, 2), round(ref.activation_mb, 2), round(ref.total_mb, 2)) == (1216.46, 1250.0, 2466.46)


@pytest.mark.parametrize("cut", sorted(RESNET18))
def test_reference_overhead__resnet18_odd_depths_match_protocol_table(cut: int) -> None:
    params, act, model_mb, act_mb, total_mb, *_ = RESNET18[cut]
    info = cut_info("resnet18", 2 * cut - 1)
    assert (info.client_params, info.sent_elements) == (params, act)
    ref = reference_overhead(info.client_params, info.sent_elements)
    assert (round(ref.model_mb, 2), round(ref.activation_mb, 2), round(ref.total_mb, 2)) == (model_mb, act_mb, total_mb)


@pytest.mark.parametrize("cut", sorted(MOBILENETV2))
def test_reference_overhead__mobilenetv2_stage_cuts_match_protocol_table(cut: int) -> None:
    depth, params, act, model_mb, act_mb, total_mb = MOBILENETV2[cut]
    info = cut_info("mobilenetv2", depth)
    assert (info.client_params, info.sent_elements) == (params, act)
    ref = reference_overhead(info.client_params, info.sent_elements)
    # The protocol rounds half-way cases to even in places (390.625 → 390.62), so allow one unit in the last digit.
    assert ref.model_mb == pytest.approx(model_mb, abs=0.0051)
    assert ref.activation_mb == pytest.approx(act_mb, abs=0.0051)
    assert ref.total_mb == pytest.approx(total_mb, abs=0.0051)


def test_reference_overhead__flop_columns_use_the_given_forward_flops() -> None:
    # ResNet-18 cut 1: client fwd 2,097,152 (§2.1); server fwd = backbone rest + avg-pool + projector.
    server_fwd = 558489600 - 2097152 + 512 * 4 * 4 + 512 * 1024 + 1024 * 1024
    ref = reference_overhead(1856, 65536, client_fwd_flops=2097152, server_fwd_flops=server_fwd)
    assert ref.client_mflops_per_image == 6.0                       # 3·fwd / 2²⁰
    assert ref.total_client_gflops == pytest.approx(3 * 200 * 50 * 2097152 / 1024**3)
    assert ref.total_server_gflops == pytest.approx(1000 * 200 * (2 * server_fwd + 1856) / 1024**3)
    assert round(ref.total_server_gflops) == 207862


def test_reference_overhead__flop_columns_are_none_without_flops() -> None:
    ref = reference_overhead(1, 1)
    assert (ref.client_mflops_per_image, ref.total_client_gflops, ref.total_server_gflops) == (None, None, None)


def test_reference_overhead__sync_frequency_divides_the_weight_copies() -> None:
    ref = reference_overhead(1024 * 1024, 1, epochs=10, sync_frequency=3)
    assert ref.model_mb == 3 * 4.0                                  # 10 // 3 = 3 copies of 4 MiB
