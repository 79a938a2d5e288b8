"""Attacks as plug-ins: what an attack declares (:class:`AttackPlugin`), the registry of them, and the one flat
namespace of their settings in the config's ``[attack]`` table.

The core knows ``attack.kind`` and an opaque table of settings; every other attack field belongs to the plug-ins
that declare it. A plug-in's settings are a dataclass (field types ``int``, ``float``, ``bool`` or ``str``, each with a
default); all plug-ins share one namespace, so a field name means one thing (``epochs`` is the decoder's epochs for
every decoder-based attack): two plug-ins may declare the same field only with the same type and default.

A plug-in's *identity* is its name and its settings: the attack stage reuses a result only when both match, and the
readable id (:func:`attack_id`) spells every field of the plug-in. ``sflaudit.attacks.builtin`` declares the five
built-in attacks; a third-party attack is one module with one :class:`AttackPlugin` and one registration (a call of
:func:`register_attack`, or an entry point in the ``sflaudit.attacks`` group).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sflaudit.errors import SflauditError
from sflaudit.plugins import Registry
from sflaudit.settings_table import SettingsTable, declared_fields

@dataclass(frozen=True)
class ThreatModel:
    """What the attacker holds and controls — the attack's input (after breaching's threat models).

    ``holds`` is the list shown on the page; the flags are what the attack stage hands over: the client's weights,
    the auxiliary set, the target activations, the activations received during training. An ``active`` attacker
    also controls what the server sends back (it runs during training)."""

    holds: tuple[str, ...]
    client_weights: bool
    uses_aux: bool
    target_activations: bool
    training_activations: bool = False
    attacker: str = "honest-but-curious server"
    active: bool = False

    def record(self, *, aux_images: int) -> dict[str, Any]:
        """The attack record's threat model (without the checkpoint fields)."""
        return {"attacker": self.attacker, "holds": list(self.holds), "client_weights": self.client_weights,
                "aux_images": aux_images if self.uses_aux else 0,
                "aux_source": "train split, seeded" if self.uses_aux else None,
                "target_activations": self.target_activations, "training_activations": self.training_activations}


@dataclass(frozen=True)
class AttackPlugin:
    """Everything the system needs of one attack.

    Attributes:
        name: ``attack.kind`` and the sweep's ``--attacks`` word.
        settings: a dataclass of the fields it reads (its identity), each with a default; an optional
            ``validate(self)`` method raises :class:`SflauditError` for a bad value.
        id_fields: (field, label) in readable-id order; default: every settings field, labelled by its name.
        run: the runner, ``run(ctx) -> AttackResult`` (``ctx``: ``sflaudit.attacks.context.AttackContext``).
        threat: what the attacker holds (:class:`ThreatModel`).
        label, style, describe: the report's legend label, matplotlib line style, and one sentence saying what the
            attack does from its record's settings.
        floor: the knows-nothing baseline of the page (never looks at an activation): leakage is measured above it.
        default: run by ``sflaudit report`` when ``--attacks`` is not given.
        reuse: the name of another attack whose trained decoder (same settings, same client) this one starts from.
        shared: its result depends on no client, so a sweep copies it between cells of the same key.
        suffix: the id's last word from the settings (e.g. the reference-quirk flag); none when None.
        notes: extra settings-derived lines for the record (e.g. how the decoder validates and stops).
        order: place among the plug-ins of the same distribution (tables and plots list attacks in this order).
    """

    name: str
    settings: type
    run: Callable[..., Any]
    threat: ThreatModel
    label: str = ""
    style: Any = "-"
    describe: Callable[[Mapping[str, Any]], str] = lambda settings: ""
    id_fields: tuple[tuple[str, str], ...] | None = None
    floor: bool = False
    default: bool = False
    reuse: str | None = None
    shared: bool = False
    suffix: Callable[[Any], str] | None = None
    order: int = 100
    notes: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None

    def fields(self) -> dict[str, tuple[type, Any]]:
        """Field name → (type, default) of the settings dataclass."""
        return declared_fields(f"attack {self.name!r}", self.settings)

    def identity_fields(self) -> tuple[tuple[str, str], ...]:
        return self.id_fields if self.id_fields is not None else tuple((n, n) for n in self.fields())


def _check(plugin: AttackPlugin) -> None:
    if not isinstance(plugin, AttackPlugin):
        raise SflauditError(f"an attack plug-in must be an AttackPlugin, got {type(plugin).__name__}")
    mine = plugin.fields()
    for name, _ in plugin.identity_fields():
        if name not in mine:
            raise SflauditError(f"attack {plugin.name!r}: id field {name!r} is not one of its settings")
    ATTACK_SETTINGS.check_new(plugin)


ATTACKS: Registry[AttackPlugin] = Registry("sflaudit.attacks", "attack", key="attack.kind", check=_check)
ATTACK_SETTINGS = SettingsTable(ATTACKS, "attack")          # the [attack] table: every plug-in's settings


def register_attack(plugin: AttackPlugin, *, replace: bool = False) -> AttackPlugin:
    """Make ``plugin`` available as ``attack.kind = plugin.name`` (and in ``sflaudit report --attacks``)."""
    return ATTACKS.register(plugin, replace=replace)


def get_attack(name: str) -> AttackPlugin:
    return ATTACKS.get(name)


def attack_names() -> tuple[str, ...]:
    return ATTACKS.names()


def setting_fields() -> dict[str, tuple[type, Any]]:
    """The ``[attack]`` table's settings namespace: every registered plug-in's fields, name → (type, default)."""
    return ATTACK_SETTINGS.fields()


def setting_default(name: str) -> Any:
    return ATTACK_SETTINGS.default(name)


def settings_of(kind: str, given: Mapping[str, Any]) -> Any:
    """The settings dataclass of attack ``kind``: its defaults overlaid with the ``[attack]`` table's ``given``."""
    return ATTACK_SETTINGS.of(get_attack(kind), given)


def resolved_settings(given: Mapping[str, Any]) -> dict[str, Any]:
    """Every registered setting: the given value, else the declaring plug-in's default (config.toml's table)."""
    return ATTACK_SETTINGS.resolved(given)


def validate_settings(kind: str, given: Mapping[str, Any]) -> None:
    """``attack.kind`` registered, every given key a registered setting, and each plug-in's own checks."""
    get_attack(kind)
    ATTACK_SETTINGS.validate(given, extra=("kind",))


def record_settings(kind: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """What an attack record stores as its settings: ``kind``, then every field of the plug-in."""
    return {"kind": kind, **dataclasses.asdict(settings_of(kind, given))}


def _fmt(value: Any) -> str:
    """A value as it appears in a readable id: floats in shortest form (0.01, 1e-05), bools as words."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def attack_id(kind: str, given: Mapping[str, Any]) -> str:
    """Readable id of an attack setting, e.g. ``decoder-res_normN4C64-aux0.01-ep50-b32-lr0.001-stop12-n128-clean``:
    the kind, then every id field of its plug-in (label + value), so two settings share an id only when equal."""
    plugin = get_attack(kind)
    settings = settings_of(kind, given)
    parts = [kind, *(f"{label}{_fmt(getattr(settings, name))}" for name, label in plugin.identity_fields())]
    if plugin.suffix is not None:
        parts.append(plugin.suffix(settings))
    return "-".join(parts)
