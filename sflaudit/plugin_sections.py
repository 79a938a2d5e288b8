"""The config sections whose fields belong to plug-ins — ``[attack]``, ``[attacker]`` and ``[defence]`` — as
:class:`PluginSection` objects: the given values, and the registered plug-ins' defaults for the rest
(sflaudit/settings_table.py). Re-exported by :mod:`sflaudit.config` with the other sections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


def plugin_table(section: str) -> Any:
    """The plug-in settings table of ``[attack]``, ``[attacker]`` or ``[defence]`` (sflaudit/settings_table.py)."""
    if section == "attack":
        from sflaudit.auditors import ATTACK_SETTINGS

        return ATTACK_SETTINGS
    if section == "attacker":
        from sflaudit.attackers import ATTACKER_SETTINGS

        return ATTACKER_SETTINGS
    from sflaudit.defenders import DEFENCE_SETTINGS

    return DEFENCE_SETTINGS


@dataclass(eq=False, init=False)
class PluginSection:
    """A section whose fields belong to plug-ins: ``settings`` holds the values given in presets, files and
    ``--set`` (or as keywords: ``DefenceConfig(noise=0.3)``); reading ``section.<field>`` returns the given value,
    else the declaring plug-in's default."""

    SECTION: ClassVar[str] = ""
    settings: dict[str, Any]

    def __init__(self, settings: dict[str, Any] | None = None, **given: Any) -> None:
        self.settings = {**(settings or {}), **given}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "settings":
            raise AttributeError(name)
        given = self.__dict__.get("settings", {})
        return given[name] if name in given else plugin_table(self.SECTION).default(name)

    def resolved(self) -> dict[str, Any]:
        """Every registered setting of the section, given or default (what config.toml lists)."""
        return plugin_table(self.SECTION).resolved(self.settings)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__.get("kind") == other.__dict__.get("kind") and self.resolved() == other.resolved()


@dataclass(eq=False, init=False)
class DefenceConfig(PluginSection):
    """The defence plug-ins' settings (sflaudit/defenders.py; built in: noise, quantize, topk, nopeek, dp_*,
    bottleneck)."""

    SECTION: ClassVar[str] = "defence"


@dataclass(eq=False, init=False)
class AttackConfig(PluginSection):
    """``attack.kind`` and the attack plug-ins' settings (sflaudit/auditors.py owns the fields)."""

    SECTION: ClassVar[str] = "attack"
    kind: str                        # a registered attack plug-in (`sflaudit plugins` lists them)

    def __init__(self, kind: str = "decoder", settings: dict[str, Any] | None = None, **given: Any) -> None:
        self.kind = kind
        super().__init__(settings, **given)


@dataclass(eq=False, init=False)
class AttackerConfig(PluginSection):
    """``attacker.kind`` (``none``: an honest server) and the active-attack plug-ins' settings
    (sflaudit/attackers.py owns the fields). Part of the training identity unless ``kind`` is ``none``."""

    SECTION: ClassVar[str] = "attacker"
    kind: str

    def __init__(self, kind: str = "none", settings: dict[str, Any] | None = None, **given: Any) -> None:
        self.kind = kind
        super().__init__(settings, **given)
