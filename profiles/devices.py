"""Device speeds of the time model: named client/server profiles, FLOP/s numbers, and a calibration of this machine.

Units: **FLOP/s with 1 FLOP = one floating-point operation** (a multiply-add is 2 FLOPs), the unit of vendor spec
sheets. The profile table counts MACs (fvcore's 1 FLOP = 1 multiply-add); :mod:`sflaudit.profiles.timemodel` converts with
``FLOPS_PER_MAC = 2``.

A named profile's ``flops`` is ``peak_flops × efficiency``: the fp32 peak of the vendor's spec sheet (or, where the
vendor gives only cores and clock, cores × clock × FLOPs per cycle, stated in ``source``) times an **assumed**
sustained fraction for conv training at these sizes (:data:`CPU_EFFICIENCY`, :data:`GPU_EFFICIENCY`). The
efficiencies are round assumptions, not measurements of those devices; for a real deployment run :func:`calibrate`
on the device itself and pass the number (``--client-device 12GFLOPS``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from sflaudit.errors import SflauditError

CPU_EFFICIENCY = 0.3     # sustained / peak fp32 of PyTorch conv training on a CPU (assumed)
GPU_EFFICIENCY = 0.4     # sustained / peak fp32 of small-image (32×32) conv training on a GPU (assumed)


@dataclass(frozen=True)
class Device:
    """A device's sustained fp32 speed and where the number comes from."""

    name: str
    role: str              # "client" or "server" (either may be used on either side)
    peak_flops: float      # FLOP/s, fp32
    efficiency: float      # sustained / peak, assumed
    source: str

    @property
    def flops(self) -> float:
        """Sustained FLOP/s the time model uses: ``peak_flops × efficiency``."""
        return self.peak_flops * self.efficiency


DEVICES: dict[str, Device] = {
    "raspberry-pi-4": Device(
        "raspberry-pi-4", "client", 4 * 1.5e9 * 8, CPU_EFFICIENCY,
        "Raspberry Pi 4 Model B product brief (2019): 4× Cortex-A72 at 1.5 GHz; peak = 4 cores × 1.5 GHz × 8 fp32 "
        "FLOP/cycle (one 4-lane NEON FMA per cycle, assumed) = 48 GFLOP/s"),
    "jetson-nano": Device(
        "jetson-nano", "client", 236e9, GPU_EFFICIENCY,
        "NVIDIA Jetson Nano Developer Kit spec (2019): 128-core Maxwell GPU, 472 GFLOPS fp16; fp32 = half of that, "
        "128 cores × 2 × 921.6 MHz = 236 GFLOP/s"),
    "jetson-orin-nano": Device(
        "jetson-orin-nano", "client", 1024 * 2 * 625e6, GPU_EFFICIENCY,
        "NVIDIA Jetson Orin Nano series data sheet (2023), 8 GB module: 1024-core Ampere GPU at up to 625 MHz; "
        "fp32 peak = 1024 × 2 × 625 MHz = 1.28 TFLOP/s"),
    "a100": Device(
        "a100", "server", 19.5e12, GPU_EFFICIENCY,
        "NVIDIA A100 Tensor Core GPU data sheet (2020): FP32 19.5 TFLOPS (TF32 tensor cores, which PyTorch allows "
        "for cuDNN convolutions by default, would be faster)"),
    "h100": Device(
        "h100", "server", 67e12, GPU_EFFICIENCY,
        "NVIDIA H100 Tensor Core GPU data sheet (2022), SXM: FP32 67 TFLOPS (PCIe: 51)"),
    "h200": Device(
        "h200", "server", 67e12, GPU_EFFICIENCY,
        "NVIDIA H200 Tensor Core GPU data sheet (2024), SXM: FP32 67 TFLOPS"),
}
LOCAL_NAMES: dict[str, str] = {"local": "cpu", "local-cuda": "cuda"}   # calibrated on this machine when named
_NUMBER = re.compile(r"^([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmgtp]?)(?:flop/?s|flops)?$", re.IGNORECASE)
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15}


def parse_flops(text: str) -> float:
    """A FLOP/s number: ``2.5e10``, ``25G``, ``25GFLOPS``, ``1.2TFLOP/s`` (decimal prefixes k, M, G, T, P).

    Raises:
        SflauditError: not a positive number with an optional prefix.
    """
    match = _NUMBER.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise SflauditError(f"bad device speed {text!r}: expected a device name ({', '.join(DEVICES)}, "
                            f"{', '.join(LOCAL_NAMES)}) or FLOP/s such as 2.5e10 or 25GFLOPS")
    return float(match.group(1)) * _SCALE[match.group(2).lower()]


def conv_workload_flops(rows: int, channels: int, size: int) -> int:
    """FLOPs (2 per MAC) of one forward + backward of a 3×3, ``channels``→``channels``, stride-1 'same' conv on
    ``rows``×C×S×S: forward MACs = rows·C·S²·C·9; the backward computes the input and the weight gradient, one
    forward's MACs each."""
    forward_macs = rows * channels * size * size * channels * 9
    return 2 * 3 * forward_macs


def calibrate(threads: int = 0, *, seconds: float = 2.0, device: str = "cpu", rows: int = 40, channels: int = 64,
              size: int = 32) -> float:
    """Measured fp32 FLOP/s of this machine on a conv workload like a shallow client's (ResNet-18 layer1: 64
    channels at 32×32, 2B = 40 rows), forward + backward, counted by :func:`conv_workload_flops`.

    Args:
        threads: intra-op threads to use (0 = leave torch's setting); restored afterwards.
        seconds: how long to time (after two warm-up iterations); at least one timed iteration runs.
        device: ``cpu`` or ``cuda``.
        rows, channels, size: the workload, x: rows×C×S×S.
    Raises:
        SflauditError: ``cuda`` without a GPU, or a non-positive size.
    """
    import torch

    if min(rows, channels, size) < 1 or seconds <= 0:
        raise SflauditError("calibrate needs rows, channels, size ≥ 1 and seconds > 0")
    if device == "cuda" and not torch.cuda.is_available():
        raise SflauditError("calibrate device 'cuda' asked for but no CUDA GPU is available")
    before = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        gen = torch.Generator().manual_seed(0)
        conv = torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False).to(device)
        x = torch.randn(rows, channels, size, size, generator=gen).to(device).requires_grad_(True)

        def once() -> None:
            conv.zero_grad(set_to_none=True)
            x.grad = None
            conv(x).sum().backward()

        def sync() -> None:
            if device == "cuda":
                torch.cuda.synchronize()

        for _ in range(2):
            once()
        sync()
        count, start = 0, time.perf_counter()
        while count == 0 or time.perf_counter() - start < seconds:
            once()
            sync()
            count += 1
        elapsed = time.perf_counter() - start
    finally:
        torch.set_num_threads(before)
    return count * conv_workload_flops(rows, channels, size) / elapsed


def resolve_device(text: str, *, threads: int = 0) -> Device:
    """A named profile, ``local`` / ``local-cuda`` (calibrated now, a few seconds), or a FLOP/s number.

    Raises:
        SflauditError: an unknown name that is not a number either (the message lists the names).
    """
    name = text.strip().lower()
    if name in DEVICES:
        return DEVICES[name]
    if name in LOCAL_NAMES:
        measured = calibrate(threads, device=LOCAL_NAMES[name])
        return Device(name, "client", measured, 1.0, f"calibrate() on this machine ({LOCAL_NAMES[name]}, "
                                                     f"threads={threads or 'default'})")
    flops = parse_flops(text)
    return Device(f"{flops:.3g} FLOP/s", "client", flops, 1.0, "given on the command line")
