"""The report's threat-model section: what each attack's attacker holds, in words, from the attack records."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sflaudit.artifacts import AttackRecord, RunDir
from sflaudit.errors import SflauditError

WEIGHTS_TEXT = {True: "yes — the synced client weights (it runs FedAvg)",
                False: "no — it never reads the client's weights (secure aggregation or a separate aggregator)"}


def attack_text(settings: dict[str, Any]) -> str:
    """One sentence saying what the attack does, from its record's settings."""
    kind = settings.get("kind") or "unknown"
    dec = f"{settings.get('decoder')} decoder, {settings.get('epochs')} epoch(s) max, batch {settings.get('batch')}, " \
          f"lr {settings.get('lr')}"
    if kind == "decoder":
        return f"decoder inversion: a {dec} trained on (image, activation) pairs of the auxiliary set"
    if kind == "prior":
        return ("knows-nothing baseline: the better (on the attacker's own validation split) of the auxiliary mean "
                f"image and a {dec} trained on noise of the activation's shape — it never looks at the activation")
    if kind == "hybrid":
        return (f"decoder output refined by white-box optimisation through the client weights (activation matching "
                f"+ total variation + a pull towards the decoder output); {dec}")
    if kind == "substitute":
        budget = settings.get("substitute_budget")
        cap = (f", fewer where {budget} of the inverse network's arithmetic is less (deep cuts)" if budget
               else "")
        return ("FORA-style: a substitute client trained on the auxiliary set to match the distribution of the real "
                f"activations received during training (MMD + a discriminator; at most "
                f"{settings.get('substitute_steps')} steps{cap}), then a {dec} on the substitute")
    if kind == "whitebox":
        return (f"white-box optimisation: {settings.get('whitebox_steps')} steps, lr {settings.get('whitebox_lr')}, "
                f"total-variation weight {settings.get('tv_weight')}")
    return str(kind)


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
                "holds": "; ".join(record.threat_model.get("holds", [])), "views": record.settings.get("views"),
                "audit": f"{record.settings.get('images')} members drawn evenly from the clients' partitions vs as "
                         f"many non-members from the {source}; seed {record.settings.get('seed')}; "
                         f"{record.settings.get('interval')}"}
    return None


DEFENCE_TEXT: dict[str, str] = {
    "noise": "Gaussian noise on every activation the client sends, σ relative to each sample's RMS; every attack and "
             "the membership audit receive the noised activations.",
    "quantize": "activations and gradients on the wire as int8 with one float32 scale per tensor; the attacks see "
                "the dequantised values.",
    "topk": "only the largest-magnitude share of each sample's activation values is sent (values + int32 indices); "
            "the attacks see the sparse tensor.",
    "nopeek": "NoPeek: α·dCor(input, activation) added to the client's loss, so the client learns activations less "
              "correlated with its images; the wire itself is unchanged.",
    "bottleneck": "a client-side conv to C channels at stride S (and the server's expansion back): fewer values sent "
                  "and a different activation for the attacks.",
    "dp_epsilon": "DP-SGD (Opacus) on the clients' parameter updates: per-image clipped, noised gradients, so the "
                  "synced weights reveal at most (ε, δ) about any one image of a client over the run. It does "
                  "NOT privatise the forward activations: every attack on this page receives them "
                  "exactly as without DP, so these rows show what DP-SGD does to reconstruction and membership "
                  "leakage — measured, not guaranteed.",
}


def defence_notes(cfg: Any, vary: Sequence[tuple[str, Sequence[str]]]) -> list[dict[str, str]]:
    """One note per defence the report's cells use (set in the base config or varied): where it acts and what
    the attacks see. Names carry the values (``dp_epsilon = 8``)."""
    default = type(cfg.defence)()
    used: dict[str, list[str]] = {}
    for name in DEFENCE_TEXT:
        if getattr(cfg.defence, name) != getattr(default, name):
            used[name] = [str(getattr(cfg.defence, name))]
    for key, values in vary:
        section, _, name = key.partition(".")
        if section == "defence" and name in DEFENCE_TEXT:
            used[name] = [v for v in values if v not in ("0", "0.0", "none")] or list(values)
    return [{"name": name, "values": ", ".join(values), "text": DEFENCE_TEXT[name]} for name, values in used.items()]
