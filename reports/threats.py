"""The report's threat-model section: what each attack's attacker holds, in words, from the attack records."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sflaudit.artifacts import AttackRecord, RunDir
from sflaudit.auditors import ATTACKS, get_attack
from sflaudit.defenders import DEFENCES
from sflaudit.errors import SflauditError

WEIGHTS_TEXT = {True: "yes — the synced client weights (it runs FedAvg)",
                False: "no — it never reads the client's weights (secure aggregation or a separate aggregator)"}


def attack_text(settings: dict[str, Any]) -> str:
    """One sentence saying what the attack does, from its record's settings (the plug-in's ``describe``)."""
    kind = settings.get("kind") or "unknown"
    if kind not in ATTACKS:
        return f"{kind} (its plug-in is not installed here)"
    return get_attack(kind).describe(settings) or str(kind)


def _read(row: dict[str, Any], attack_id: str) -> AttackRecord | None:
    try:
        return RunDir(Path(row["run_dir"])).read_attack(attack_id)
    except SflauditError:
        return None


def threat_models(rows: Sequence[dict[str, Any]], attacks: Sequence[str]) -> list[dict[str, Any]]:
    """Per attack kind of the sweep (in its order): the threat model of the first cell holding its result."""
    out = []
    for kind in attacks:
        for row in rows:
            aid = (row.get("attack_ids") or {}).get(kind)
            record = _read(row, aid) if aid else None
            if record is None:
                continue
            threat, settings, lpips = record.threat_model, record.settings, record.lpips
            out.append({
                "kind": kind, "id": record.attack_id,
                "attacker": threat.get("attacker") or "honest-but-curious server",
                "holds": "; ".join(str(h) for h in threat.get("holds") or []) or "–",
                "weights": WEIGHTS_TEXT.get(bool(threat.get("client_weights")), "–"),
                "aux": f"{threat.get('aux_images', '–')} images ({threat.get('aux_source') or 'training split'})",
                "attack": attack_text(settings),
                "targets": f"{settings.get('targets_used', '–')} test images (fixed, seed "
                           f"{settings.get('target_seed', '–')}); ground truth {settings.get('ground_truth', 'exact')}",
                "checkpoint": "best.pt of each cell (client 0's weights at the best kNN evaluation)",
                "lpips_ok": lpips.get("status") == "ok", "lpips": lpips.get("status") or "unknown",
                "lpips_reason": lpips.get("reason")})
            break
    return out


def membership_text(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The membership audit's threat model and settings in words, from the first cell that holds one."""
    for row in rows:
        if not row.get("membership_id") or row.get("mia_auc") is None:
            continue
        try:
            record = RunDir(Path(row["run_dir"])).read_membership(row["membership_id"])
        except SflauditError:
            continue
        if record is None:
            continue
        source = "test split" if record.nonmember_source == "test" else "training images no client received"
        return {"id": record.membership_id, "attacker": record.threat_model.get("attacker"),
                "refs": record.settings.get("refs", 0), "calibration": record.settings.get("calibration", "none"),
                "holds": "; ".join(record.threat_model.get("holds", [])), "views": record.settings.get("views"),
                "audit": f"{record.settings.get('images')} members drawn evenly from the clients' partitions vs as "
                         f"many non-members from the {source}; seed {record.settings.get('seed')}; "
                         f"{record.settings.get('interval')}"}
    return None


def defence_notes(cfg: Any, vary: Sequence[tuple[str, Sequence[str]]]) -> list[dict[str, str]]:
    """One note per defence plug-in the report's cells use (switched on in the base config or varied): where it acts
    and what the attacks see (the plug-in's ``describe``). Names carry the values (``dp_epsilon = 8``)."""
    used: dict[str, list[str]] = {}
    for plugin in DEFENCES:
        if plugin.active(cfg.defence.settings):
            used[plugin.name] = [str(getattr(cfg.defence, plugin.name))]
    for key, values in vary:
        section, _, name = key.partition(".")
        if section == "defence" and name in DEFENCES:
            used[name] = [v for v in values if v not in ("0", "0.0", "none")] or list(values)
    return [{"name": name, "values": ", ".join(values), "text": DEFENCES.get(name).describe}
            for name, values in used.items()]
