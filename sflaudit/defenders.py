"""Defences as plug-ins: what a defence declares (:class:`DefencePlugin`), the registry of them, and the flat
``[defence]`` table of their settings.

A defence acts in one place: ``wire`` (on the activations as they cross the cut: the server and every attack see
the defended tensor), ``training`` (the clients' own update, e.g. DP-SGD; the wire is unchanged) or ``model`` (the
split network itself, e.g. a bottleneck). A wire defence that transforms values declares ``transform``: it runs on
each activation the client sends, before the wire encoding (top-k, int8, the wire dtype), in the link that meters
the bytes and in the view the attacks get (:func:`sflaudit.sfl.defences.wire_payload`), so a new one is one object
and one registration. A transform keeps the shape, so the bytes on the wire (and the profile's analytic count) are
unchanged by it. The built-ins are declared in :mod:`sflaudit.sfl.defence_plugins`.

Every defence setting is part of the training identity (a defence changes what training produces or sends).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sflaudit.errors import SflauditError
from sflaudit.plugins import Registry
from sflaudit.settings_table import SettingsTable, declared_fields

WHERE = ("wire", "training", "model")


@dataclass(frozen=True)
class DefencePlugin:
    """Everything the system needs of one defence.

    Attributes:
        name: the setting that switches it on (``defence.<name>``), also its name on the page.
        settings: a dataclass of its ``[defence]`` fields with their off defaults; optional ``validate(self)``.
        acts: ``wire`` | ``training`` | ``model``.
        describe: the page's note: where it acts and what the server and the attacks see.
        transform: wire defences that change values: ``transform(h, settings, generator) -> h'`` on one sent
            activation batch N×C×H×W (float32 out, same shape; draw randomness from ``generator`` only).
        order: position among the wire transforms (lower first).
    """

    name: str
    settings: type
    acts: str
    describe: str
    transform: Callable[..., Any] | None = None
    order: int = 100

    def fields(self) -> dict[str, tuple[type, Any]]:
        return declared_fields(f"defence {self.name!r}", self.settings)

    def active(self, given: Mapping[str, Any]) -> bool:
        """Whether the given settings switch it on: its own-name field away from its off default."""
        default = self.fields()[self.name][1]
        return given.get(self.name, default) != default


def _check(plugin: DefencePlugin) -> None:
    if not isinstance(plugin, DefencePlugin):
        raise SflauditError(f"a defence plug-in must be a DefencePlugin, got {type(plugin).__name__}")
    if plugin.acts not in WHERE:
        raise SflauditError(f"defence {plugin.name!r}: acts must be one of {', '.join(WHERE)}, got {plugin.acts!r}")
    if plugin.name not in plugin.fields():
        raise SflauditError(f"defence {plugin.name!r} needs a setting of its own name that switches it on")
    DEFENCE_SETTINGS.check_new(plugin)


DEFENCES: Registry[DefencePlugin] = Registry("sflaudit.defences", "defence", check=_check)
DEFENCE_SETTINGS = SettingsTable(DEFENCES, "defence")        # the [defence] table: every plug-in's settings


def register_defence(plugin: DefencePlugin, *, replace: bool = False) -> DefencePlugin:
    """Make ``plugin`` available: its settings become ``defence.*`` keys (and ``--vary`` axes)."""
    return DEFENCES.register(plugin, replace=replace)


def active_defences(given: Mapping[str, Any]) -> list[DefencePlugin]:
    """The registered defences the ``[defence]`` values switch on, in registration order."""
    return [p for p in DEFENCES if p.active(given)]


def wire_transforms(given: Mapping[str, Any]) -> list[tuple[DefencePlugin, Any]]:
    """(plug-in, its settings) of every active wire defence with a ``transform``, in ``order``."""
    found = [p for p in DEFENCES if p.acts == "wire" and p.transform is not None and p.active(given)]
    return [(p, DEFENCE_SETTINGS.of(p, given)) for p in sorted(found, key=lambda p: p.order)]
