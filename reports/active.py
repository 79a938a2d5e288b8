"""The active server on the page: which cells a hijacking server trained, each next to its honest twin, and what the
answer assumes.

A deployer chooses the depth and the method, not the server's behaviour, so the answer is picked among the honest
cells only (``attacker.kind = none``); a hijacked cell (``--vary attacker.kind=none,fsha``) is measured beside the
honest cell that differs from it only in the attacker, and the answer card says how its pick fares against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

HONEST = "none"


def attacker_of(row: dict[str, Any]) -> str:
    """``attacker.kind`` of a report row (``none`` for rows of runs from before active attacks existed)."""
    return str(row.get("attacker") or HONEST)


def is_active(row: dict[str, Any]) -> bool:
    return attacker_of(row) != HONEST


def _twin_key(row: dict[str, Any]) -> tuple[Any, ...]:
    setting = {k: v for k, v in (row.get("setting") or {}).items() if k != "attacker.kind"}
    return row["method"], int(row["depth"]), tuple(sorted(setting.items()))


def _interval(row: dict[str, Any] | None, key: str) -> tuple[float | None, float | None, float | None]:
    if row is None:
        return None, None, None
    return row.get(key), row.get(f"{key}_low"), row.get(f"{key}_high")


def active_pairs(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per hijacked row: its attack's SSIM next to the honest twin's worst case, and both kNN.

    Keys: method, depth, attacker, setting_text (of the honest twin), honest (the twin's row or None), hijacked
    (the row), active_ssim (+ _low, _high: the active attacker's own evaluation), honest_ssim (+ _low, _high,
    _by: the honest worst case), knn_honest, knn_hijacked, detector columns where the rows have them.
    """
    honest = {_twin_key(r): r for r in rows if not is_active(r)}
    out = []
    for row in sorted((r for r in rows if is_active(r)), key=lambda r: (r["method"], int(r["depth"]))):
        twin = honest.get(_twin_key(row))
        kind = attacker_of(row)
        active = _interval(row, f"attack_{_evaluation(kind)}_ssim")
        worst = _interval(twin, "attack_ssim")
        other = ", ".join(f"{k}={v}" for k, v in _twin_key(row)[2])
        out.append({"method": row["method"], "depth": int(row["depth"]), "attacker": kind, "setting_text": other,
                    "honest": twin, "hijacked": row,
                    "active_ssim": active[0], "active_ssim_low": active[1], "active_ssim_high": active[2],
                    "honest_ssim": worst[0], "honest_ssim_low": worst[1], "honest_ssim_high": worst[2],
                    "honest_ssim_by": twin.get("attack_ssim_by") if twin else None,
                    "knn_honest": twin.get("knn_best") if twin else None, "knn_hijacked": row.get("knn_best"),
                    "alarm_rate": row.get("detector_alarm_rate"),
                    "alarm_step": row.get("detector_first_alarm"),
                    "honest_alarm_rate": twin.get("detector_alarm_rate") if twin else None})
    return out


def _evaluation(kind: str) -> str:
    from sflaudit.attackers import ATTACKERS

    return ATTACKERS.get(kind).evaluation if kind in ATTACKERS else kind


def _fmt(value: float | None, low: float | None, high: float | None) -> str:
    if value is None:
        return "not measured"
    ci = f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None and low != high else ""
    return f"{value:.3f}{ci}"


def attacker_note(rows: Sequence[dict[str, Any]], pick: dict[str, Any] | None) -> str:
    """The answer's assumption about the server, and how the pick fares against an active one where measured."""
    base = ("The answer assumes an honest-but-curious server: it runs the protocol and attacks what it received "
            "(the worst case over the attacks above)")
    if pick is None:
        return base + "."
    every = active_pairs(rows)
    pairs = [p for p in every if p["honest"] is not None and p["honest"]["cell"] == pick["cell"]]
    if not pairs:
        measured = sorted({p["depth"] for p in every})
        where = (f"; an active server was measured at depth(s) {', '.join(map(str, measured))} only"
                 if measured else "; no active server was run (add --vary attacker.kind=none,fsha)")
        return base + where + "."
    parts = []
    for p in pairs:
        h = p["hijacked"]
        knn = (f"; the hijack costs the clients' features: kNN {p['knn_hijacked']:.1f}% against "
               f"{p['knn_honest']:.1f}% honest" if p["knn_hijacked"] is not None and p["knn_honest"] is not None
               else "")
        verdict = ("worse than the honest worst case" if _above(p) else
                   "no worse than the honest worst case" if _below(p) else "within noise of the honest worst case")
        detector = (f"; the clients' canary detector first alarmed at step {p['alarm_step']}"
                    if p["alarm_step"] is not None else
                    "; the clients' canary detector did not alarm" if p["alarm_rate"] is not None else "")
        parts.append(f"against an active server ({p['attacker']}, which controls the gradients the clients receive) "
                     f"this pick's reconstructions reach SSIM {_fmt(p['active_ssim'], p['active_ssim_low'], p['active_ssim_high'])}"
                     f", {verdict} ({_fmt(p['honest_ssim'], p['honest_ssim_low'], p['honest_ssim_high'])}){knn}"
                     f"{detector}" + (f"; cell {h['cell']}" if h.get("cell") else ""))
    return base + "; " + "; ".join(parts) + "."


def _above(p: dict[str, Any]) -> bool:
    low, high = p["active_ssim_low"], p["honest_ssim_high"]
    return low is not None and high is not None and low > high


def _below(p: dict[str, Any]) -> bool:
    high, low = p["active_ssim_high"], p["honest_ssim_low"]
    return high is not None and low is not None and high < low


def detector_columns(metrics: Any, threshold: float | None = None) -> dict[str, Any]:
    """The canary detector's record of one run (metrics.jsonl rows with ``canary_gap``): checks, the share that
    alarmed (gap below ``threshold``; None: the alarms logged during training), the first alarm's step and the
    smallest gap; None where the detector was off."""
    from sflaudit.runs import read_jsonl

    checks = [r for r in read_jsonl(metrics) if r.get("type") == "train" and "canary_gap" in r] \
        if metrics is not None and metrics.is_file() else []
    if not checks:
        return {"detector_checks": None, "detector_alarm_rate": None, "detector_first_alarm": None,
                "detector_min_gap": None}
    alarms = [r["step"] for r in checks
              if (r.get("canary_alarm") if threshold is None else float(r["canary_gap"]) < threshold)]
    return {"detector_checks": len(checks), "detector_alarm_rate": len(alarms) / len(checks),
            "detector_first_alarm": alarms[0] if alarms else None,
            "detector_min_gap": min(float(r["canary_gap"]) for r in checks)}
