"""The built-in defences as plug-ins (registered through sflaudit's own ``sflaudit.defences`` entry points): their
settings, checks, where each acts and the page's note. The wire encodings (top-k, int8) are implemented by
:mod:`sflaudit.sfl.defences`, which also runs every ``transform`` (the noise here, and any plug-in's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from sflaudit.defenders import DefencePlugin
from sflaudit.errors import SflauditError
from sflaudit.validation import Ranges, check_ranges


class _Ranged:
    """Settings checked against their ``RANGES`` (sflaudit.validation.check_ranges)."""

    RANGES: ClassVar[Ranges] = ()

    def validate(self) -> None:
        check_ranges("defence", self)


@dataclass(frozen=True)
class NoiseSettings(_Ranged):
    noise: float = 0.0               # Gaussian σ on sent activations, relative to each sample's RMS (0 = off)

    RANGES: ClassVar[Ranges] = (("noise", 0.0, None, True, True),)


@dataclass(frozen=True)
class QuantizeSettings:
    quantize: str = "none"           # none | int8: activations and gradients as int8, one float32 scale per tensor

    def validate(self) -> None:
        if self.quantize not in ("none", "int8"):
            raise SflauditError(f"defence.quantize = {self.quantize!r} is not one of none, int8")


@dataclass(frozen=True)
class TopkSettings(_Ranged):
    topk: float = 0.0                # % of activation values sent per sample (largest |x|, + int32 indices; 0 = off)

    RANGES: ClassVar[Ranges] = (("topk", 0.0, 100.0, True, True),)


@dataclass(frozen=True)
class NopeekSettings(_Ranged):
    nopeek: float = 0.0              # α of the client's distance-correlation penalty (NoPeek; 0 = off)

    RANGES: ClassVar[Ranges] = (("nopeek", 0.0, None, True, True),)


@dataclass(frozen=True)
class DpSettings(_Ranged):
    dp_epsilon: float = 0.0          # DP-SGD ε per client over the run (Opacus, RDP accountant; 0 = off)
    dp_delta: float = 1e-5           # DP-SGD δ
    dp_clip: float = 1.0             # DP-SGD per-image L2 bound C of a client's parameter gradient

    RANGES: ClassVar[Ranges] = (("dp_epsilon", 0.0, None, True, True), ("dp_delta", 0.0, 1.0, False, False),
                                ("dp_clip", 0.0, None, False, True))


@dataclass(frozen=True)
class BottleneckSettings:
    bottleneck: str = "none"         # none | CxSy: client conv to C channels, stride S; server expands back

    def validate(self) -> None:
        from sflaudit.models.bottleneck import parse_bottleneck   # local: keeps reading the declarations light

        parse_bottleneck(self.bottleneck)


@dataclass(frozen=True)
class CanarySettings(_Ranged):
    canary: int = 0                  # detector: canary rows every k-th step (0 = off; sflaudit/sfl/canary.py)
    canary_rows: int = 2             # canary rows per client and check
    canary_threshold: float = 1e-3   # alarm when the canaries' relative gradient gap is below this (runtime: the
                                     # report re-reads the logged gaps with the current value)

    RANGES: ClassVar[Ranges] = (("canary", 0, None, True, True), ("canary_rows", 1, None, True, True),
                                ("canary_threshold", 0.0, None, False, True))


def _noise(h: Any, settings: NoiseSettings, generator: Any) -> Any:
    from sflaudit.sfl.defences import add_noise

    return add_noise(h, settings.noise, generator=generator)


_DECLARED = (   # name, settings, where it acts, the page's note
    ("noise", NoiseSettings, "wire",
     "Gaussian noise on every activation the client sends, σ relative to each sample's RMS; every attack and the "
     "membership audit receive the noised activations."),
    ("quantize", QuantizeSettings, "wire",
     "activations and gradients on the wire as int8 with one float32 scale per tensor; the attacks see the "
     "dequantised values."),
    ("topk", TopkSettings, "wire",
     "only the largest-magnitude share of each sample's activation values is sent (values + int32 indices); the "
     "attacks see the sparse tensor."),
    ("nopeek", NopeekSettings, "training",
     "NoPeek: α·dCor(input, activation) added to the client's loss, so the client learns activations less "
     "correlated with its images; the wire itself is unchanged."),
    ("dp_epsilon", DpSettings, "training",
     "DP-SGD (Opacus) on the clients' parameter updates: per-image clipped, noised gradients, so the synced weights "
     "reveal at most (ε, δ) about any one image of a client over the run. It does NOT privatise the forward "
     "activations: every attack on this page receives them exactly as without DP, so these rows show what DP-SGD "
     "does to reconstruction and membership leakage — measured, not guaranteed."),
    ("canary", CanarySettings, "training",
     "a hijack detector at the clients: every k-th step each client adds canary rows (copies of its first queries "
     "paired with other images' keys) and raises an alarm when their gradients match the originals', as they do "
     "when the server ignores the contrastive pairs. The canaries cross the wire (counted); their gradients are "
     "not applied."),
    ("bottleneck", BottleneckSettings, "model",
     "a client-side conv to C channels at stride S (and the server's expansion back): fewer values sent and a "
     "different activation for the attacks."),
)
NOISE, QUANTIZE, TOPK, NOPEEK, DP, CANARY, BOTTLENECK = (
    DefencePlugin(name=name, order=i, settings=settings, acts=acts, describe=text,
                  transform=_noise if name == "noise" else None)
    for i, (name, settings, acts, text) in enumerate(_DECLARED))
