"""``sflaudit plugins``: the registered plug-ins (built in, from installed packages' entry points, or registered by
the user's code) with what each declares — for an attack its threat model, settings and whether a sweep runs it by
default. Registered by :mod:`sflaudit.cli.commands` with ``app.command("plugins")(plugins)``."""

from __future__ import annotations

from typing import Annotated

import typer


def plugins(json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List the registered plug-ins: attacks, active servers, defences, sync methods and networks (what --attacks,
    attack.kind, attacker.kind, defence.*, sfl.method and model.arch accept)."""
    import json

    from sflaudit.architectures import arch_names
    from sflaudit.attackers import ATTACKERS
    from sflaudit.auditors import ATTACKS
    from sflaudit.defenders import DEFENCES
    from sflaudit.sfl.strategies import strategy_names

    attacks = [{"name": p.name, "default": p.default, "floor": p.floor, "attacker": p.threat.attacker,
                "holds": list(p.threat.holds), "active": p.threat.active,
                "settings": {name: default for name, (_, default) in p.fields().items()}} for p in ATTACKS]
    attackers = [{"name": p.name, "controls": p.controls, "evaluation": p.evaluation,
                  "settings": {name: default for name, (_, default) in p.fields().items()}} for p in ATTACKERS]
    if json_out:
        defences = [{"name": d.name, "acts": d.acts, "settings": {k: v for k, (_, v) in d.fields().items()}}
                    for d in DEFENCES]
        typer.echo(json.dumps({"attacks": attacks, "attackers": attackers, "defences": defences, "methods": list(strategy_names()),
                               "archs": list(arch_names())}, indent=2))
        return
    typer.echo("attacks (attack.kind, sflaudit report --attacks):")
    for a in attacks:
        flags = ", ".join(f for f, on in (("default", a["default"]), ("floor", a["floor"]), ("active", a["active"]))
                          if on)
        typer.echo(f"  {a['name']}{f' [{flags}]' if flags else ''}: {a['attacker']} holding {'; '.join(a['holds'])}")
        typer.echo(f"      settings: {', '.join(f'{k}={v}' for k, v in a['settings'].items())}")
    typer.echo("active servers (attacker.kind; none = honest):")
    for a in attackers:
        typer.echo(f"  {a['name']}: controls {a['controls']}; evaluated by the {a['evaluation']} attack")
        typer.echo(f"      settings: {', '.join(f'{k}={v}' for k, v in a['settings'].items())}")
    typer.echo("defences (defence.*):")
    for d in DEFENCES:
        typer.echo(f"  {d.name} [{d.acts}]: {', '.join(f'{k}={v}' for k, (_, v) in d.fields().items())}")
    typer.echo(f"methods (sfl.method): {', '.join(strategy_names())}")
    typer.echo(f"archs (model.arch): {', '.join(arch_names())}, and any traced network: torchvision:<builder> "
               f"(e.g. torchvision:resnet50, torchvision:mobilenet_v3_small) or package.module:callable")
