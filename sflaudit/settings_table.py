"""A config section owned by plug-ins: the flat table of settings that every registered plug-in of one kind
declares (its ``settings`` dataclass), with types, defaults, coercion targets and each plug-in's own checks.

``[attack]`` (attack plug-ins, :mod:`sflaudit.auditors`) and ``[defence]`` (defence plug-ins,
:mod:`sflaudit.defenders`) are such sections: the core keeps only the given values (``settings``) and asks the table
for the rest. A field name means one thing in a section: two plug-ins may declare the same field only with the same
type and default (the decoder's ``epochs`` is every decoder-based attack's).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

from sflaudit.errors import SflauditError
from sflaudit.plugins import Registry

_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


@functools.lru_cache(maxsize=None)
def declared_fields(owner: str, settings: type) -> dict[str, tuple[type, Any]]:
    """Field name → (type, default) of a plug-in's settings dataclass (int, float, bool or str, each with a
    default); one line naming ``owner`` otherwise. Cached (read it, never change it): the link reads the defence
    settings on every activation it sends."""
    out = {}
    for f in dataclasses.fields(settings):
        kind = _TYPES.get(f.type, f.type) if isinstance(f.type, str) else f.type
        if kind not in (int, float, bool, str):
            raise SflauditError(f"{owner}: setting {f.name} must be int, float, bool or str")
        if f.default is dataclasses.MISSING:
            raise SflauditError(f"{owner}: setting {f.name} needs a default")
        out[f.name] = (kind, f.default)
    return out


class SettingsTable:
    """The settings of every plug-in of ``registry``, as the ``[section]`` table of the config."""

    def __init__(self, registry: Registry[Any], section: str) -> None:
        self.registry = registry
        self.section = section
        self._cached: tuple[tuple[Any, ...], dict[str, tuple[type, Any]]] | None = None

    def fields(self) -> dict[str, tuple[type, Any]]:
        """Every registered plug-in's fields, name → (type, default); recomputed only when the registry changes."""
        plugins = tuple(self.registry)
        if self._cached is None or self._cached[0] != plugins:
            out: dict[str, tuple[type, Any]] = {}
            for plugin in plugins:
                for name, spec in declared_fields(f"{self.section} {plugin.name!r}", plugin.settings).items():
                    out.setdefault(name, spec)
            self._cached = (plugins, out)
        return self._cached[1]

    def default(self, name: str) -> Any:
        fields = self.fields()
        if name not in fields:
            raise AttributeError(f"no {self.section} plug-in declares the setting {name!r}")
        return fields[name][1]

    def of(self, plugin: Any, given: Mapping[str, Any]) -> Any:
        """``plugin``'s settings dataclass: its defaults overlaid with the given values of its fields."""
        return plugin.settings(**{name: given[name] for name in declared_fields(plugin.name, plugin.settings)
                                  if name in given})

    def resolved(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every registered setting: the given value, else the declaring plug-in's default (config.toml's table)."""
        return {name: given.get(name, default) for name, (_, default) in self.fields().items()}

    def validate(self, given: Mapping[str, Any], *, extra: tuple[str, ...] = ()) -> None:
        """Every given key a registered setting (or one of ``extra``), then each plug-in's ``validate``."""
        fields = self.fields()
        unknown = sorted(k for k in given if k not in fields)
        if unknown:
            valid = ", ".join([*extra, *sorted(fields)])
            raise SflauditError(f"unknown config key {self.section}.{unknown[0]} (valid: {valid})")
        for plugin in self.registry:
            check = getattr(plugin.settings, "validate", None)
            if check is not None:
                check(self.of(plugin, given))

    def check_new(self, plugin: Any) -> None:
        """Refuse ``plugin`` when it declares a setting another registered plug-in declares otherwise."""
        mine = declared_fields(f"{self.section} {plugin.name!r}", plugin.settings)
        for other in self.registry.registered():
            if other.name == plugin.name:
                continue
            for name, spec in declared_fields(other.name, other.settings).items():
                if name in mine and mine[name] != spec:
                    raise SflauditError(f"{self.section} {plugin.name!r} declares setting {name!r} as {mine[name]}, "
                                        f"but {other.name!r} already declares it as {spec}: a setting name means "
                                        f"one thing for every {self.section}")
