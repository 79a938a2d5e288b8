"""Active (malicious) servers as plug-ins: what one declares (:class:`ActiveAttackPlugin`), the registry of them, and
the flat ``[attacker]`` table of their settings.

An honest-but-curious server runs the protocol and attacks what it received afterwards (``sflaudit.auditors``). An
*active* server also changes what it sends back during training: ``attacker.kind`` names one, and it is part of the
training identity (a hijacked run is a different run; ``attacker.kind = "none"``, the default, leaves every honest run
and its id exactly as before). The trainer asks the plug-in for a :class:`Hijack` object and, at every step, hands
it the query activations the server received and the honest contrastive gradient; what the hijack returns is what
the clients receive. The clients' code is unchanged. After training the hijack's state is in the checkpoint, and the
plug-in's ``evaluation`` (an attack plug-in of ``sflaudit.auditors``) inverts the clients' activations with it.

A third-party active attack is one module with one :class:`ActiveAttackPlugin` and one registration (a call of
:func:`register_attacker`, or an entry point in the ``sflaudit.attackers`` group).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from torch import Tensor

from sflaudit.errors import SflauditError
from sflaudit.plugins import Registry
from sflaudit.settings_table import SettingsTable, declared_fields

NONE = "none"          # attacker.kind of an honest server


class Hijack(Protocol):
    """The state of an active server during one run (built by :attr:`ActiveAttackPlugin.build`)."""

    def gradient(self, queries: Tensor, honest: Tensor, step: int) -> Tensor:
        """The gradient to send back for the pool's R×… query activations ``queries`` (as received), given the
        honest server's gradient ``honest`` (same shape); step is 1-based over the run. Same shape and dtype."""
        ...

    def state_dict(self) -> dict[str, Tensor]:
        """Its tensors (weights, optimiser moments, RNG state) for ckpt.pt and best.pt: flat, tensors only."""
        ...

    def load_state_dict(self, state: dict[str, Tensor]) -> None: ...

    def log(self) -> dict[str, float]:
        """Fields for this step's metrics.jsonl row (then forgotten)."""
        ...


@dataclass(frozen=True)
class ActiveAttackPlugin:
    """Everything the system needs of one active attack.

    Attributes:
        name: ``attacker.kind``.
        settings: a dataclass of its ``[attacker]`` fields, each with a default; optional ``validate(self)``.
        build: ``build(cfg, info, data, device) -> Hijack``: cfg the run's Config, info its ``CutInfo``, data its
            ``RunData`` (the plug-in takes its auxiliary images from the training split, as the passive attacks do),
            device the server's device.
        evaluation: the attack plug-in (``attack.kind``) that inverts with the trained hijack after training.
        controls: what it controls, for the page ("the gradients the clients receive").
        describe: one sentence from its settings.
    """

    name: str
    settings: type
    build: Callable[..., Hijack]
    evaluation: str
    controls: str = "the gradients the clients receive"
    describe: Callable[[Any], str] = lambda settings: ""
    order: int = 100

    def fields(self) -> dict[str, tuple[type, Any]]:
        return declared_fields(f"attacker {self.name!r}", self.settings)


def _check(plugin: ActiveAttackPlugin) -> None:
    if not isinstance(plugin, ActiveAttackPlugin):
        raise SflauditError(f"an active-attack plug-in must be an ActiveAttackPlugin, got {type(plugin).__name__}")
    if plugin.name == NONE:
        raise SflauditError(f"an active attack cannot be named {NONE!r} (the honest server)")
    ATTACKER_SETTINGS.check_new(plugin)


ATTACKERS: Registry[ActiveAttackPlugin] = Registry("sflaudit.attackers", "active attack", key="attacker.kind",
                                                   check=_check)
ATTACKER_SETTINGS = SettingsTable(ATTACKERS, "attacker")      # the [attacker] table: every plug-in's settings


def register_attacker(plugin: ActiveAttackPlugin, *, replace: bool = False) -> ActiveAttackPlugin:
    """Make ``plugin`` available as ``attacker.kind = plugin.name``."""
    return ATTACKERS.register(plugin, replace=replace)


def get_attacker(name: str) -> ActiveAttackPlugin:
    return ATTACKERS.get(name)


def attacker_names() -> tuple[str, ...]:
    return ATTACKERS.names()


def validate_attacker(kind: str, given: dict[str, Any]) -> None:
    """One line for an unknown ``attacker.kind`` or a bad setting."""
    if kind != NONE and kind not in ATTACKERS:
        names = ", ".join((NONE, *attacker_names()))
        raise SflauditError(f"unknown attacker.kind {kind!r} (valid: {names})")
    ATTACKER_SETTINGS.validate(given, extra=("kind",))


def build_hijack(cfg: Any, info: Any, data: Any, device: Any) -> Hijack | None:
    """The run's active server state, or None for an honest server (``attacker.kind = "none"``)."""
    if cfg.attacker.kind == NONE:
        return None
    return get_attacker(cfg.attacker.kind).build(cfg, info, data, device)
