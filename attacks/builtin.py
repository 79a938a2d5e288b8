"""The five built-in attacks as plug-ins (registered through sflaudit's own ``sflaudit.attacks`` entry points).

Light on purpose: settings, threat models and report texts only; each runner imports its implementation when it
runs (:mod:`sflaudit.attacks.kinds`). What each attacker holds:

* ``prior``      — the auxiliary set only: no client weights, no activation at all (the knows-nothing floor);
* ``decoder``    — client weights + auxiliary set + target activations;
* ``hybrid``     — the same as ``decoder`` (decoder output refined through the client weights);
* ``substitute`` — auxiliary set + the activations received during training + target activations; no weights;
* ``whitebox``   — client weights + target activations (no auxiliary set).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from sflaudit.auditors import AttackPlugin, ThreatModel
from sflaudit.validation import Ranges, check_ranges

_WEIGHTS = "synced client weights (client 0 online, eval mode)"
_AUX = "auxiliary set"
_TARGETS = "target activations"


def _clean(settings: Any) -> str:
    return "faithful" if settings.faithful else "clean"


@dataclass(frozen=True)
class DecoderSettings:
    """The decoder attack's settings (shared by every attack that trains a decoder)."""

    decoder: str = "res_normN4C64"
    aux_fraction: float = 0.01       # attacker's auxiliary share of the training split
    epochs: int = 50
    batch: int = 32
    lr: float = 1e-3
    patience: int = 12               # decoder early stop: epochs with no better val loss or SSIM (0 = off)
    targets: int = 128               # fixed test images reconstructed
    faithful: bool = False           # reproduce the reference's measurement quirks (JPEG ground truth, Q7)

    RANGES: ClassVar[Ranges] = (("aux_fraction", 0.0, 1.0, False, True), ("epochs", 1, None, True, True),
                                ("batch", 1, None, True, True), ("lr", 0.0, None, False, True),
                                ("patience", 0, None, True, True), ("targets", 1, None, True, True))

    def validate(self) -> None:
        check_ranges("attack", self)


@dataclass(frozen=True)
class HybridSettings(DecoderSettings):
    hybrid_steps: int = 50           # most white-box steps from the decoder output (count chosen on aux val)
    hybrid_lr: float = 0.01          # Adam learning rate on the image logits
    tv_weight: float = 0.01
    hybrid_pull: float = 0.1         # weight of the pull ||x − x_decoder||² (per-pixel mean)

    RANGES: ClassVar[Ranges] = (("hybrid_steps", 1, None, True, True), ("hybrid_lr", 0.0, None, False, True),
                                ("tv_weight", 0.0, None, True, True), ("hybrid_pull", 0.0, None, True, True))


@dataclass(frozen=True)
class SubstituteSettings(DecoderSettings):
    substitute_steps: int = 1000     # most training steps of the substitute client
    substitute_budget: float = 0.75  # cap on its training's arithmetic, as a share of the inverse network's full
                                     # schedule (0 = always substitute_steps)
    substitute_lr: float = 1e-3      # Adam lr of the substitute client and its critic
    substitute_observed: int = 1024  # real training activations the server kept

    RANGES: ClassVar[Ranges] = (("substitute_steps", 1, None, True, True),
                                ("substitute_budget", 0.0, None, True, True),
                                ("substitute_lr", 0.0, None, False, True),
                                ("substitute_observed", 2, None, True, True))


@dataclass(frozen=True)
class WhiteboxSettings:
    whitebox_steps: int = 500
    whitebox_lr: float = 0.05
    tv_weight: float = 0.01
    targets: int = 128
    faithful: bool = False

    RANGES: ClassVar[Ranges] = (("whitebox_steps", 1, None, True, True), ("whitebox_lr", 0.0, None, False, True),
                                ("tv_weight", 0.0, None, True, True), ("targets", 1, None, True, True))

    def validate(self) -> None:
        check_ranges("attack", self)


_DECODER_IDS = (("decoder", ""), ("aux_fraction", "aux"), ("epochs", "ep"), ("batch", "b"), ("lr", "lr"),
                ("patience", "stop"))


def _dec(s: Mapping[str, Any]) -> str:
    return (f"{s.get('decoder')} decoder, {s.get('epochs')} epoch(s) max, batch {s.get('batch')}, "
            f"lr {s.get('lr')}")


def _describe_substitute(s: Mapping[str, Any]) -> str:
    budget = s.get("substitute_budget")
    cap = f", fewer where {budget} of the inverse network's arithmetic is less (deep cuts)" if budget else ""
    return ("FORA-style: a substitute client trained on the auxiliary set to match the distribution of the real "
            f"activations received during training (MMD + a discriminator; at most {s.get('substitute_steps')} "
            f"steps{cap}), then a {_dec(s)} on the substitute")


def _decoder_notes(s: Mapping[str, Any]) -> dict[str, Any]:
    """How the decoder of a decoder-trained attack validates and stops (the record's settings)."""
    from sflaudit.attacks.stopping import PATIENCE_EPOCH_STEPS

    faithful, patience = s.get("faithful"), s.get("patience")
    return {"validation": "per-batch, train mode" if faithful else "per-epoch, eval mode",
            "early_stop": "off (faithful: every epoch)" if faithful or not patience else (
                f"after {patience} epochs (of ≥ {PATIENCE_EPOCH_STEPS} batches) with neither a better validation "
                "loss nor a better validation SSIM")}


def _runner(name: str) -> Any:
    """A runner that imports :mod:`sflaudit.attacks.kinds` (torch, the implementations) only when it runs."""

    def run(*args: Any, **kwargs: Any) -> Any:
        from sflaudit.attacks import kinds

        return getattr(kinds, name)(*args, **kwargs)

    run.__name__ = name
    return run


PRIOR = AttackPlugin(
    name="prior", order=0, settings=DecoderSettings, run=_runner("run_prior"), label="prior", style=":",
    threat=ThreatModel(holds=(_AUX,), client_weights=False, uses_aux=True, target_activations=False),
    describe=lambda s: ("knows-nothing baseline: the better (on the attacker's own validation split) of the "
                        f"auxiliary mean image and a {_dec(s)} trained on noise of the activation's shape — it never "
                        "looks at the activation"),
    id_fields=(*_DECODER_IDS, ("targets", "n")), suffix=_clean, floor=True, default=True, shared=True,
    notes=_decoder_notes)

DECODER = AttackPlugin(
    name="decoder", order=1, settings=DecoderSettings, run=_runner("run_decoder"), label="decoder", style="-",
    threat=ThreatModel(holds=(_WEIGHTS, _AUX, _TARGETS), client_weights=True, uses_aux=True, target_activations=True),
    describe=lambda s: f"decoder inversion: a {_dec(s)} trained on (image, activation) pairs of the auxiliary set",
    id_fields=(*_DECODER_IDS, ("targets", "n")), suffix=_clean, default=True, notes=_decoder_notes)

HYBRID = AttackPlugin(
    name="hybrid", order=2, settings=HybridSettings, run=_runner("run_hybrid"), label="hybrid", style="--",
    threat=ThreatModel(holds=(_WEIGHTS, _AUX, _TARGETS), client_weights=True, uses_aux=True, target_activations=True),
    describe=lambda s: ("decoder output refined by white-box optimisation through the client weights (activation "
                        f"matching + total variation + a pull towards the decoder output); {_dec(s)}"),
    id_fields=(*_DECODER_IDS, ("hybrid_steps", "steps"), ("hybrid_lr", "hlr"), ("tv_weight", "tv"),
               ("hybrid_pull", "pull"), ("targets", "n")),
    suffix=_clean, default=True, reuse="decoder", notes=_decoder_notes)

SUBSTITUTE = AttackPlugin(
    name="substitute", order=3, settings=SubstituteSettings, run=_runner("run_substitute_kind"), label="substitute",
    style="-.",
    threat=ThreatModel(holds=(_AUX, "activations received during training", _TARGETS), client_weights=False,
                       uses_aux=True, target_activations=True, training_activations=True),
    describe=_describe_substitute,
    id_fields=(*_DECODER_IDS, ("substitute_steps", "steps"), ("substitute_budget", "sb"), ("substitute_lr", "slr"),
               ("substitute_observed", "obs"), ("targets", "n")),
    suffix=_clean)

WHITEBOX = AttackPlugin(
    name="whitebox", order=4, settings=WhiteboxSettings, run=_runner("run_whitebox"), label="whitebox",
    style=(0, (1, 1)),
    threat=ThreatModel(holds=(_WEIGHTS, _TARGETS), client_weights=True, uses_aux=False, target_activations=True),
    describe=lambda s: (f"white-box optimisation: {s.get('whitebox_steps')} steps, lr {s.get('whitebox_lr')}, "
                        f"total-variation weight {s.get('tv_weight')}"),
    id_fields=(("whitebox_steps", "steps"), ("whitebox_lr", "lr"), ("tv_weight", "tv"), ("targets", "n")),
    suffix=_clean)
