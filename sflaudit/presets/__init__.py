"""The shipped presets (TOML files beside this module): their names, the default, and their text."""

from __future__ import annotations

from importlib import resources

from sflaudit.errors import SflauditError

PRESETS: tuple[str, ...] = ("smoke", "demo", "cifar10-cpu", "paper-resnet18-20c", "paper-mobilenetv2-20c")
DEFAULT_PRESET = "demo"


def preset_text(name: str) -> str:
    """The TOML text of a shipped preset."""
    if name not in PRESETS:
        raise SflauditError(f"unknown preset {name!r} (valid: {', '.join(PRESETS)})")
    return resources.files("sflaudit.presets").joinpath(f"{name}.toml").read_text()
