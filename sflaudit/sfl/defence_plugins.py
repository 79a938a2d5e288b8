"""The built-in defences as plug-ins (registered through sflaudit's own ``sflaudit.defences`` entry points): their
settings, checks, where each acts and the page's note. The wire encodings (top-k, int8) are implemented by
:mod:`sflaudit.sfl.defences`, which also runs every ``transform`` (the noise here, and any plug-in's)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sflaudit.defenders import DefencePlugin
from sflaudit.errors import SflauditError
from sflaudit.validation import check_range


def _finite(key: str, value: float) -> None:
    if not math.isfinite(value):
        raise SflauditError(f"{key} = {value!r} must be a finite number")


@dataclass(frozen=True)
class NoiseSettings:
    noise: float = 0.0               # Gaussian σ on sent activations, relative to each sample's RMS (0 = off)

    def validate(self) -> None:
        check_range("defence.noise", self.noise, 0.0, None)
        _finite("defence.noise", self.noise)


@dataclass(frozen=True)
class QuantizeSettings:
    quantize: str = "none"           # none | int8: activations and gradients as int8, one float32 scale per tensor

    def validate(self) -> None:
        if self.quantize not in ("none", "int8"):
            raise SflauditError(f"defence.quantize = {self.quantize!r} is not one of none, int8")


@dataclass(frozen=True)
class TopkSettings:
    topk: float = 0.0                # % of activation values sent per sample (largest |x|, + int32 indices; 0 = off)

    def validate(self) -> None:
        check_range("defence.topk", self.topk, 0.0, 100.0)
        _finite("defence.topk", self.topk)


@dataclass(frozen=True)
class NopeekSettings:
    nopeek: float = 0.0              # α of the client's distance-correlation penalty (NoPeek; 0 = off)

    def validate(self) -> None:
        check_range("defence.nopeek", self.nopeek, 0.0, None)
        _finite("defence.nopeek", self.nopeek)


@dataclass(frozen=True)
class DpSettings:
    dp_epsilon: float = 0.0          # DP-SGD ε per client over the run (Opacus, RDP accountant; 0 = off)
    dp_delta: float = 1e-5           # DP-SGD δ
    dp_clip: float = 1.0             # DP-SGD per-image L2 bound C of a client's parameter gradient

    def validate(self) -> None:
        check_range("defence.dp_epsilon", self.dp_epsilon, 0.0, None)
        check_range("defence.dp_delta", self.dp_delta, 0.0, 1.0, False, False)
        check_range("defence.dp_clip", self.dp_clip, 0.0, None, False, True)
        _finite("defence.dp_epsilon", self.dp_epsilon)
        _finite("defence.dp_clip", self.dp_clip)


@dataclass(frozen=True)
class BottleneckSettings:
    bottleneck: str = "none"         # none | CxSy: client conv to C channels, stride S; server expands back

    def validate(self) -> None:
        from sflaudit.models.bottleneck import parse_bottleneck   # local: keeps reading the declarations light

        parse_bottleneck(self.bottleneck)


def _noise(h: Any, settings: NoiseSettings, generator: Any) -> Any:
    from sflaudit.sfl.defences import add_noise

    return add_noise(h, settings.noise, generator=generator)


NOISE = DefencePlugin(
    name="noise", order=0, settings=NoiseSettings, acts="wire", transform=_noise,
    describe="Gaussian noise on every activation the client sends, σ relative to each sample's RMS; every attack and "
             "the membership audit receive the noised activations.")

QUANTIZE = DefencePlugin(
    name="quantize", order=1, settings=QuantizeSettings, acts="wire",
    describe="activations and gradients on the wire as int8 with one float32 scale per tensor; the attacks see the "
             "dequantised values.")

TOPK = DefencePlugin(
    name="topk", order=2, settings=TopkSettings, acts="wire",
    describe="only the largest-magnitude share of each sample's activation values is sent (values + int32 indices); "
             "the attacks see the sparse tensor.")

NOPEEK = DefencePlugin(
    name="nopeek", order=3, settings=NopeekSettings, acts="training",
    describe="NoPeek: α·dCor(input, activation) added to the client's loss, so the client learns activations less "
             "correlated with its images; the wire itself is unchanged.")

DP = DefencePlugin(
    name="dp_epsilon", order=4, settings=DpSettings, acts="training",
    describe="DP-SGD (Opacus) on the clients' parameter updates: per-image clipped, noised gradients, so the synced "
             "weights reveal at most (ε, δ) about any one image of a client over the run. It does NOT privatise the "
             "forward activations: every attack on this page receives them exactly as without DP, so these rows "
             "show what DP-SGD does to reconstruction and membership leakage — measured, not guaranteed.")

BOTTLENECK = DefencePlugin(
    name="bottleneck", order=5, settings=BottleneckSettings, acts="model",
    describe="a client-side conv to C channels at stride S (and the server's expansion back): fewer values sent and "
             "a different activation for the attacks.")
