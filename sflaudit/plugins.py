"""One registry mechanism for every kind of plug-in: a name → object table filled by ``register`` calls and by the
Python entry points of installed distributions (after pytest's and packaging's plug-ins).

A plug-in is one object that declares everything the rest of the system needs (for an attack:
:class:`sflaudit.auditors.AttackPlugin`). It reaches a registry in one of two ways:

* ``register`` — a call in the user's own code or test (``sflaudit.auditors.register_attack(MY_ATTACK)``);
* an entry point in the group the registry names (``sflaudit.attacks``, ``sflaudit.defences``, ``sflaudit.methods``,
  ``sflaudit.archs``) whose target is the plug-in object, or a zero-argument callable returning it. sflaudit's own
  built-ins are declared the same way in its pyproject.toml, so the core never imports them by name.

Entry points are read once, on the first lookup; an entry point that fails to load is one :class:`SflauditError`
naming it and its distribution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar

from sflaudit.errors import SflauditError, first_line

P = TypeVar("P")


class Registry(Generic[P]):
    """Plug-ins of one kind by name, in registration order (entry points first, then ``register`` calls).

    Args:
        group: the entry-point group read on first use, e.g. ``"sflaudit.attacks"``.
        what: the word for one plug-in in messages, e.g. ``"attack"``.
        key: the config key that names one, e.g. ``"attack.kind"`` (messages say ``attack.kind = 'x'``).
        check: called with each plug-in before it is added (raise :class:`SflauditError` to refuse it).
    """

    def __init__(self, group: str, what: str, *, key: str | None = None,
                 check: Callable[[P], None] | None = None) -> None:
        self.group = group
        self.what = what
        self.key = key or what
        self._check = check
        self._items: dict[str, P] = {}
        self._loaded = False

    def register(self, plugin: P, *, replace: bool = False) -> P:
        """Add ``plugin`` under ``plugin.name``; returns it. A second plug-in of the same name needs ``replace``."""
        self._discover()
        return self._add(plugin, replace=replace, source="register()")

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a test's own plug-in, after the test)."""
        self._items.pop(name, None)

    def get(self, name: str) -> P:
        """The plug-in called ``name``; one line naming the valid ones otherwise."""
        self._discover()
        try:
            return self._items[name]
        except KeyError:
            raise SflauditError(f"{self.key} = {name!r} is not one of {', '.join(self._items) or '(none)'}") from None

    def names(self) -> tuple[str, ...]:
        self._discover()
        return tuple(self._items)

    def registered(self) -> list[P]:
        """The plug-ins registered so far, without reading entry points (for checks during discovery)."""
        return list(self._items.values())

    def __contains__(self, name: object) -> bool:
        self._discover()
        return name in self._items

    def __iter__(self) -> Iterator[P]:
        self._discover()
        return iter(list(self._items.values()))

    def _add(self, plugin: P, *, replace: bool, source: str) -> P:
        name = getattr(plugin, "name", None)
        if not isinstance(name, str) or not name.isidentifier():
            raise SflauditError(f"{self.what} plug-in from {source} needs a name that is an identifier, got {name!r}")
        if name in self._items and not replace and self._items[name] is not plugin:
            raise SflauditError(f"an {self.what} named {name!r} is already registered" if self.what[0] in "aeiou"
                                else f"a {self.what} named {name!r} is already registered")
        if self._check is not None:
            self._check(plugin)
        self._items[name] = plugin
        return plugin

    def _discover(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        found = []
        for ep in entry_points(group=self.group):
            plugin = _load(ep, self.what)
            if getattr(plugin, "name", None) != ep.name:
                raise SflauditError(f"entry point {ep.name!r} of {_dist(ep)} ({self.group}) gives a plug-in named "
                                    f"{getattr(plugin, 'name', None)!r}; the two names must agree")
            found.append((_rank(ep, plugin), ep, plugin))
        for _, ep, plugin in sorted(found, key=lambda item: item[0]):
            self._add(plugin, replace=False, source=f"entry point {ep.name} of {_dist(ep)}")


def _dist(ep: EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else "an unknown distribution"


def _rank(ep: EntryPoint, plugin: object) -> tuple[bool, int, str]:
    """sflaudit's own plug-ins first, in their declared ``order`` (the page's), then others by distribution and
    name."""
    return (_dist(ep) != "sflaudit", int(getattr(plugin, "order", 0)), f"{_dist(ep)}:{ep.name}")


def _load(ep: EntryPoint, what: str) -> object:
    try:
        obj = ep.load()
        return obj() if callable(obj) and not hasattr(obj, "name") else obj
    except SflauditError:
        raise
    except Exception as exc:   # a broken third-party package: one line, never a traceback
        raise SflauditError(f"the {what} plug-in {ep.name!r} of {_dist(ep)} failed to load ({ep.value}): "
                            f"{first_line(exc)}") from None
