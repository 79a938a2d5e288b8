"""Device profiles (sustained fp32 FLOP/s with sources), FLOP/s parsing and the calibration of this machine."""

from __future__ import annotations

import re

import pytest
import torch

from sflaudit.profiles.devices import (
    DEVICES,
    Device,
    calibrate,
    conv_workload_flops,
    parse_flops,
    resolve_device,
)
from sflaudit.errors import SflauditError


def test_named_devices__clients_and_servers_with_a_source_and_a_year() -> None:
    clients = {n for n, d in DEVICES.items() if d.role == "client"}
    servers = {n for n, d in DEVICES.items() if d.role == "server"}
    assert {"raspberry-pi-4", "jetson-nano"} <= clients and {"a100", "h100"} <= servers
    for name, device in DEVICES.items():
        assert device.name == name and 0 < device.efficiency < 1
        assert re.search(r"\b20\d\d\b", device.source) and re.search(r"Raspberry|NVIDIA", device.source), name


def test_named_devices__sustained_is_peak_times_the_stated_efficiency() -> None:
    assert DEVICES["a100"].peak_flops == 19.5e12 and DEVICES["h100"].peak_flops == 67e12
    assert DEVICES["jetson-nano"].peak_flops == 236e9            # 472 GFLOPS fp16 / 2
    assert DEVICES["raspberry-pi-4"].peak_flops == 48e9          # 4 cores × 1.5 GHz × 8
    pi = DEVICES["raspberry-pi-4"]
    assert pi.flops == pi.peak_flops * pi.efficiency
    assert DEVICES["h100"].flops > DEVICES["a100"].flops > DEVICES["jetson-nano"].flops > pi.flops


@pytest.mark.parametrize(
    ("text", "flops"),
    [("2.5e10", 2.5e10), ("25G", 25e9), ("25GFLOPS", 25e9), ("1.2TFLOP/s", 1.2e12), ("800 mflops", 8e8)],
)
def test_parse_flops__numbers_with_prefixes(text: str, flops: float) -> None:
    assert parse_flops(text) == pytest.approx(flops, rel=1e-12)


@pytest.mark.parametrize("text", ["fast", "0", "-3G", "25X", ""])
def test_parse_flops__bad_input_names_the_devices(text: str) -> None:
    with pytest.raises(SflauditError, match="bad device speed.*raspberry-pi-4"):
        parse_flops(text)


def test_resolve_device__name_or_number() -> None:
    assert resolve_device("A100") is DEVICES["a100"]
    given = resolve_device("5e9")
    assert isinstance(given, Device) and given.flops == 5e9 and given.source == "given on the command line"


def test_conv_workload_flops__forward_plus_two_backward_products() -> None:
    assert conv_workload_flops(1, 1, 1) == 2 * 3 * 9
    assert conv_workload_flops(40, 64, 32) == 2 * 3 * 40 * 64 * 32 * 32 * 64 * 9


def test_calibrate__measures_a_positive_speed_and_restores_the_threads() -> None:
    before = torch.get_num_threads()
    flops = calibrate(1, seconds=0.05, rows=2, channels=8, size=8)
    assert 1e6 < flops < 1e13                       # a CPU core does between a MFLOP/s and 10 TFLOP/s
    assert torch.get_num_threads() == before


def test_calibrate__bad_arguments() -> None:
    with pytest.raises(SflauditError, match="rows, channels, size"):
        calibrate(seconds=0.01, rows=0)
    if not torch.cuda.is_available():
        with pytest.raises(SflauditError, match="no CUDA GPU"):
            calibrate(seconds=0.01, device="cuda")
