"""The grid of ``sflaudit report``: depths × methods × varied config values × seeds, and the attacks each cell runs.

A cell is one training run (its own run directory) and the attacks run on it. Its name says where it sits in the
grid: ``<method>-d<depth>``, then ``-<key>=<value>`` for every ``--vary`` axis in the order given, then
``-seed<seed>`` for every seed but the sweep's first — so a sweep widened by a new value, a new seed or a new depth
plans the old cells under their old names and trains only the new ones. Cells that differ only in their seed form
one *group*: the report's row of the group is the mean over its seeds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from sflaudit.auditors import ATTACKS, attack_names
from sflaudit.config import Config, apply_dict, config_from_toml, config_to_toml, parse_override, validate
from sflaudit.errors import SflauditError
from sflaudit.sfl.strategies import strategy_names
from sflaudit.stages import attack_id, eval_id, membership_id

METHODS: tuple[str, ...] = ("mocosfl", "monacosfl")       # the default grid; --methods takes any registered strategy

Setting = tuple[tuple[str, str], ...]                     # ((dotted key, value as written), …) in --vary order


@dataclass(frozen=True)
class Cell:
    """One point of the grid: a method at a depth under one setting and seed, its run directory, its fully
    resolved config (TOML) and the attack kinds run on it."""

    method: str
    depth: int
    run_dir: Path
    config_text: str
    setting: Setting = ()
    seed: int | None = None          # None: the sweep's first seed (the cell's name carries no seed)
    attacks: tuple[str, ...] = ("decoder",)

    @property
    def name(self) -> str:
        return self.group + (f"-seed{self.seed}" if self.seed is not None else "")

    @property
    def group(self) -> str:
        """The name without the seed: the cells of one group differ only in ``run.seed``."""
        return f"{self.method}-d{self.depth}" + "".join(f"-{k}={v.replace('/', '_')}" for k, v in self.setting)

    def config(self) -> Config:
        """The cell's config, parsed once (the stage ids below and every stage read it)."""
        return self._parsed

    @cached_property
    def _parsed(self) -> Config:
        return config_from_toml(self.config_text, source=f"config of {self.name}")

    @property
    def eval_id(self) -> str:
        """Id of the evaluation result this cell's report row reads."""
        return eval_id(self.config().eval)

    def attack_config(self, kind: str):
        """The cell's attack section with ``kind`` as the attack."""
        return replace(self.config().attack, kind=kind)

    @property
    def attack_ids(self) -> dict[str, str]:
        """Attack kind → id of the result this cell's row reads, for every attack of the sweep."""
        return {kind: attack_id(self.attack_config(kind)) for kind in self.attacks}

    @property
    def attack_id(self) -> str:
        """Id of the first attack's result (the grid image shown first)."""
        return next(iter(self.attack_ids.values()))

    @property
    def membership_id(self) -> str | None:
        """Id of the membership audit this cell's row reads (None when ``membership.images`` is 0)."""
        m = self.config().membership
        return membership_id(m) if m.images > 0 else None


def parse_methods(spec: str) -> list[str]:
    """``"mocosfl,monacosfl"`` → both, in the order given, without repeats (SflauditError on unknown names)."""
    return _parse_list(spec, strategy_names(), "--methods", "method")


def default_attacks() -> tuple[str, ...]:
    """The attacks a sweep runs without ``--attacks``: the registered plug-ins declared ``default``."""
    return tuple(p.name for p in ATTACKS if p.default)


def parse_attacks(spec: str) -> list[str]:
    """``"prior,decoder,hybrid"`` → those attack kinds in order, without repeats (SflauditError on unknown ones):
    any registered attack plug-in."""
    return _parse_list(spec, attack_names(), "--attacks", "attack")


def _parse_list(spec: str, valid: Sequence[str], option: str, what: str) -> list[str]:
    out: list[str] = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        if item not in valid:
            raise SflauditError(f"unknown {what} {item!r} in {option} (valid: {', '.join(valid)})")
        if item not in out:
            out.append(item)
    if not out:
        raise SflauditError(f"{option} is empty (valid: {', '.join(valid)})")
    return out


GRID_KEYS: frozenset[str] = frozenset({"model.depth", "sfl.method", "run.seed"})


def parse_vary(items: Iterable[str]) -> list[tuple[str, list[str]]]:
    """``["defence.noise=0,0.1", "sfl.avg_freq=2,10"]`` → [(key, [values as written]), …].

    Every value must be valid for its key (checked by parsing it onto the defaults); the grid's own axes (depth,
    method, seed) have their own options and are refused here, as is a key given twice.
    """
    out: list[tuple[str, list[str]]] = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        values = [v.strip() for v in raw.split(",") if v.strip()]
        if not sep or not values:
            raise SflauditError(f"--vary expects section.field=v1,v2,…, got {item!r}")
        if key in GRID_KEYS:
            raise SflauditError(f"--vary {key}: use --depths, --methods or --seeds for that axis")
        if any(key == k for k, _ in out):
            raise SflauditError(f"--vary {key} is given twice; list all its values in one option")
        if len(set(values)) != len(values):
            raise SflauditError(f"--vary {key} repeats a value: {raw}")
        for value in values:
            section, name, parsed = parse_override(f"{key}={value}")
            apply_dict(Config(), {section: {name: parsed}}, source=f"--vary {key}={value}")
        out.append((key, values))
    return out


def settings_of(vary: Sequence[tuple[str, Sequence[str]]]) -> list[Setting]:
    """Every combination of the varied values (the first axis varies slowest); [()] without --vary."""
    combos: list[Setting] = [()]
    for key, values in vary:
        combos = [(*c, (key, v)) for c in combos for v in values]
    return combos


def cell_config(base: Config, method: str, depth: int, setting: Setting = (), seed: int | None = None) -> Config:
    """``base`` with the method, depth, varied values and seed applied (validated: the depth must exist)."""
    from sflaudit.models import check_depth

    check_depth(base.model.arch, depth)
    data: dict[str, dict] = {"sfl": {"method": method}, "model": {"depth": depth}}
    for key, value in setting:
        section, name, parsed = parse_override(f"{key}={value}")
        data.setdefault(section, {})[name] = parsed
    if seed is not None:
        data.setdefault("run", {})["seed"] = seed
    cfg = apply_dict(base, data, source="report grid")
    validate(cfg)
    return cfg


def seed_list(base: Config, seeds: int) -> list[int | None]:
    """The seeds of a sweep: None (the base ``run.seed``, plain cell names) then base + 1, base + 2, …"""
    if seeds < 1:
        raise SflauditError(f"--seeds must be at least 1, got {seeds}")
    return [None, *(base.run.seed + i for i in range(1, seeds))]


def cell_attacks(cfg: Config, attacks: Sequence[str]) -> tuple[str, ...]:
    """The sweep's attacks on one cell: an active attack's evaluation (``fsha``) only where that attacker trained the
    cell — added there even when not listed — and never on an honest cell (it has nothing to decode with)."""
    from sflaudit.attackers import ATTACKERS, NONE, get_attacker

    evaluations = {p.evaluation for p in ATTACKERS}
    own = get_attacker(cfg.attacker.kind).evaluation if cfg.attacker.kind != NONE else None
    out = [a for a in attacks if a not in evaluations or a == own]
    return tuple(out + [own] if own is not None and own not in out else out)


def plan_cells(base: Config, depths: Iterable[int], methods: Sequence[str], runs: Path, *,
               attacks: Sequence[str] = ("decoder",), vary: Sequence[tuple[str, Sequence[str]]] = (),
               seeds: int = 1) -> list[Cell]:
    """Every cell of the grid, shallowest depth first; run directories are absolute (Ray workers need that)."""
    root = Path(runs).expanduser().resolve()
    cells = []
    for d in depths:
        for setting in settings_of(vary):
            for m in methods:
                for seed in seed_list(base, seeds):
                    cfg = cell_config(base, m, d, setting, seed)
                    cell = Cell(m, d, Path(), config_to_toml(cfg), setting, seed, cell_attacks(cfg, attacks))
                    cells.append(replace(cell, run_dir=root / cell.name))
    return cells
