"""Networks as plug-ins: a backbone declared as an ordered list of units, each ending in one main-path conv layer,
so that the cut after unit d is depth d (the paper's definition: main-path conv layers on the client).

The paper's three (resnet18, resnet34, mobilenetv2) keep their hand tables in :mod:`sflaudit.models.cuts`
(mid-block cuts, the reference's quirks); a registered :class:`ArchPlugin` is split generically there: client =
its first d units, server = the rest + global average pooling, and what crosses the cut is measured by running the
client on the meta device. Register one with :func:`register_arch` or an entry point in the ``sflaudit.archs``
group; ``model.arch = <name>`` then trains, profiles and is attacked at every cut like the built-ins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sflaudit.errors import SflauditError
from sflaudit.plugins import Registry

BUILTIN_ARCHS: tuple[str, ...] = ("resnet18", "resnet34", "mobilenetv2")


@dataclass(frozen=True)
class ArchPlugin:
    """Everything the system needs of one backbone.

    Attributes:
        name: ``model.arch``.
        units: ``units(width) -> [(name, module), …]``: the backbone B×3×S×S → B×C×h×w as a chain of units, each
            ending in one main-path conv (+ its norm and activation); freshly initialised on every call (the caller
            seeds torch). Use GroupNorm, not BatchNorm: federated clients share no batch statistics.
        feature_dim: ``feature_dim(width) -> F``, the channels of the last unit (global pooling gives B×F).
        describe: one line for ``sflaudit plugins`` and the page.
    """

    name: str
    units: Callable[[float], list[tuple[str, Any]]]
    feature_dim: Callable[[float], int]
    describe: str = ""


def _check(plugin: ArchPlugin) -> None:
    if not isinstance(plugin, ArchPlugin):
        raise SflauditError(f"an arch plug-in must be an ArchPlugin, got {type(plugin).__name__}")
    if plugin.name in BUILTIN_ARCHS:
        raise SflauditError(f"arch {plugin.name!r} is built in")


ARCHS: Registry[ArchPlugin] = Registry("sflaudit.archs", "arch", key="model.arch", check=_check)


def register_arch(plugin: ArchPlugin, *, replace: bool = False) -> ArchPlugin:
    """Make ``plugin`` available as ``model.arch = plugin.name``."""
    return ARCHS.register(plugin, replace=replace)


def arch_names() -> tuple[str, ...]:
    """Every valid ``model.arch``: the built-in three, then the registered plug-ins."""
    return (*BUILTIN_ARCHS, *ARCHS.names())
