"""``sflaudit plugins``: the registered plug-ins (built in, from installed packages' entry points, or registered by
the user's code) with what each declares — for an attack its threat model, settings and whether a sweep runs it by
default. Registered by :mod:`sflaudit.cli.commands` with ``app.command("plugins")(plugins)``."""

from __future__ import annotations

from typing import Annotated

import typer


def plugins(json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List the registered attack plug-ins and sync methods (what --attacks, attack.kind and sfl.method accept)."""
    import json

    from sflaudit.auditors import ATTACKS
    from sflaudit.sfl.strategies import strategy_names

    attacks = [{"name": p.name, "default": p.default, "floor": p.floor, "attacker": p.threat.attacker,
                "holds": list(p.threat.holds), "active": p.threat.active,
                "settings": {name: default for name, (_, default) in p.fields().items()}} for p in ATTACKS]
    if json_out:
        typer.echo(json.dumps({"attacks": attacks, "methods": list(strategy_names())}, indent=2))
        return
    typer.echo("attacks (attack.kind, sflaudit report --attacks):")
    for a in attacks:
        flags = ", ".join(f for f, on in (("default", a["default"]), ("floor", a["floor"]), ("active", a["active"]))
                          if on)
        typer.echo(f"  {a['name']}{f' [{flags}]' if flags else ''}: {a['attacker']} holding {'; '.join(a['holds'])}")
        typer.echo(f"      settings: {', '.join(f'{k}={v}' for k, v in a['settings'].items())}")
    typer.echo(f"methods (sfl.method): {', '.join(strategy_names())}")
