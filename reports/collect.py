"""Run directories → report rows; the Pareto front and the recommended cut, as pure functions on those rows.

A row is a flat dict of plain JSON values (one per sweep cell = method × depth), so the same rows feed the HTML
table, ``report.csv`` and ``report.json``. Rows are built from the typed artifacts of ``sflaudit.artifacts`` (the
one owner of run-directory files and keys): the evaluation and the attack result the row reads are those whose
ids match the cell's settings. Byte columns are exact integers; ``mb_per_client`` is in MiB (2**20 bytes), the
bytes one client that is in the pool every epoch sends and receives over the whole run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sflaudit.artifacts import (AttackRecord, ErrorRecord, Evaluation, MembershipRecord, RunDir, RunProfile,
                                Summary, Traffic)
from sflaudit.auditors import ATTACKS
from sflaudit.errors import SflauditError
from sflaudit.reports.active import detector_columns
from sflaudit.reports.attackcols import attack_columns
from sflaudit.reports.intervals import bootstrap_mean, finite_or_none, wilson_percent

MIB = 1024 ** 2
BOOTSTRAP_SEED = 126      # the attack-metric intervals' resampling (beside AUX 123, TARGET 124, MEMBER 125)
ROW_STATUSES: tuple[str, ...] = ("ok", "failed", "missing")


class CellLike(Protocol):
    """What :func:`collect_rows` needs of a sweep cell (``sflaudit.reports.sweep.Cell`` fits)."""

    method: str
    depth: int
    run_dir: Path

    @property
    def name(self) -> str: ...
    @property
    def eval_id(self) -> str: ...
    @property
    def attack_id(self) -> str: ...
    @property
    def attack_ids(self) -> dict[str, str]: ...
    @property
    def membership_id(self) -> str | None: ...


@dataclass(frozen=True)
class _Artifacts:
    """What one run directory holds for one cell's settings (None = absent), and the first unreadable file."""

    summary: Summary | None
    profile: RunProfile | None
    evaluation: Evaluation | None
    attack: AttackRecord | None
    attacks: dict[str, AttackRecord | None]
    traffic: Traffic | None
    membership: MembershipRecord | None
    error: ErrorRecord | None
    unreadable: str | None


def _artifacts(cell: CellLike) -> _Artifacts:
    run = RunDir(Path(cell.run_dir))
    reads = {"summary": run.read_summary, "profile": run.read_profile,
             "evaluation": lambda: run.read_eval(cell.eval_id), "attack": lambda: run.read_attack(cell.attack_id),
             "attacks": lambda: {k: run.read_attack(aid) for k, aid in _attack_ids(cell).items()},
             "traffic": run.read_traffic,
             "membership": lambda: run.read_membership(mid) if (mid := _membership_id(cell)) else None}
    got: dict[str, Any] = {}
    unreadable = None
    for name, read in reads.items():
        try:
            got[name] = read()
        except SflauditError as exc:           # a report never crashes on one cell: the row says why
            got[name] = None
            unreadable = unreadable or str(exc)
    return _Artifacts(**got, error=run.read_error(), unreadable=unreadable)


def _attack_ids(cell: CellLike) -> dict[str, str]:
    ids = getattr(cell, "attack_ids", None)
    return dict(ids) if ids else {cell.attack_id.split("-")[0]: cell.attack_id}   # an id starts with its kind


def _membership_id(cell: CellLike) -> str | None:
    return getattr(cell, "membership_id", None)


def cell_row(cell: CellLike) -> dict[str, Any]:
    """The report row of one cell (whatever of its stages' results its run directory holds)."""
    a = _artifacts(cell)
    setting = tuple(getattr(cell, "setting", ()))
    row: dict[str, Any] = {"cell": cell.name, "group": getattr(cell, "group", cell.name), "method": cell.method,
                           "depth": cell.depth, "setting": {k: v for k, v in setting},
                           "setting_text": ", ".join(f"{k}={v}" for k, v in setting),
                           "seed": getattr(cell, "seed", None), "run_dir": str(cell.run_dir),
                           "eval_id": cell.eval_id, "attack_id": cell.attack_id,
                           "membership_id": _membership_id(cell)}
    absent = [f"attack {aid}" for kind, aid in _attack_ids(cell).items() if (a.attacks or {}).get(kind) is None]
    missing = [what for what, have in (("training", a.summary), ("profile", a.profile), ("evaluation", a.evaluation),
                                       ("membership audit", a.membership if _membership_id(cell) else True))
               if have is None] + absent
    if a.error is not None:
        row.update(status="failed", error=a.error.error, error_stage=a.error.stage)
    elif a.unreadable is not None:
        row.update(status="failed", error=a.unreadable, error_stage="read")
    elif missing:
        row.update(status="missing", error=f"not run yet: no {', '.join(missing)}", error_stage=None)
    else:
        row.update(status="ok", error=None, error_stage=None)
    s, e = a.summary, a.evaluation
    row.update(knn_best=finite_or_none(s.knn_best) if s else None, knn_final=finite_or_none(s.knn_final) if s else None,
               probe_best=finite_or_none(e.linear_probe_best) if e else None,
               probe_last=finite_or_none(e.linear_probe_last) if e else None,
               epochs=s.epochs if s else None, steps=s.steps if s else None,
               train_wall_s=finite_or_none(s.wall_time_s) if s else None)
    r = a.attack
    row.update(attack_kind=r.settings.get("kind") if r else None, lpips_status=r.lpips.get("status") if r else None,
               invert_wall_s=finite_or_none(sum(x.wall_s for x in (a.attacks or {}).values() if x is not None))
               if any((a.attacks or {}).values()) else None,
               grid=str(RunDir(Path(cell.run_dir)).attack_png(cell.attack_id)) if r else None,
               image_size=(r.run or {}).get("image_size") if r else None, attack_ids=_attack_ids(cell),
               grids={k: str(RunDir(Path(cell.run_dir)).attack_png(aid)) for k, aid in _attack_ids(cell).items()
                      if (a.attacks or {}).get(k) is not None})
    row.update(attack_columns(a.attacks or {}, interval=_bootstrap))
    row.update(_accuracy_intervals(row, a.evaluation))
    row.update(_membership_columns(a.membership))
    row.update(hours=None, hours_compute=None, hours_transfer=None, hours_latency=None,
               time_bottleneck=None)          # sflaudit.reports.timecols fills these in (they need the report's link)
    row.update(_profile_columns(a.profile))
    row["dp_epsilon"] = ((a.profile.config.get("defence") or {}).get("dp_epsilon") or None) if a.profile else None
    canary = (a.profile.config.get("defence") or {}).get("canary", 0) if a.profile else 1   # off: metrics unread
    row.update(detector_columns(RunDir(Path(cell.run_dir)).metrics if canary else None, _canary_threshold(cell)))
    row["attacker"] = (a.profile.config.get("attacker") or {}).get("kind", "none") if a.profile else \
        dict(setting).get("attacker.kind", "none")
    t, analytic = a.traffic, (a.profile.analytic_traffic if a.profile else None)
    row.update(measured_up=t.total.get("up") if t else None, measured_down=t.total.get("down") if t else None,
               analytic_up=(analytic or {}).get("total", {}).get("up"),
               analytic_down=(analytic or {}).get("total", {}).get("down"),
               traffic_match=t.matches(analytic) if t is not None and analytic is not None else None)
    return row


def _canary_threshold(cell: CellLike) -> float | None:
    """The cell's ``defence.canary_threshold`` (a runtime setting), or None when the cell has no config."""
    config = getattr(cell, "config", None)
    return float(config().defence.canary_threshold) if callable(config) else None


def _membership_columns(m: MembershipRecord | None) -> dict[str, Any]:
    """AUC (with its bootstrap interval) and TPR at 1 % FPR of both membership scores."""
    out: dict[str, Any] = {}
    for score, prefix in (("view_similarity", "mia"), ("contrastive", "mia_contrastive")):
        got = m.scores.get(score, {}) if m else {}
        out.update({f"{prefix}_auc": finite_or_none(got.get("auc")), f"{prefix}_auc_low": finite_or_none(got.get("auc_low")),
                    f"{prefix}_auc_high": finite_or_none(got.get("auc_high")),
                    f"{prefix}_tpr_1fpr": finite_or_none(got.get("tpr_at_1fpr"))})
    out["mia_wall_s"] = finite_or_none(m.wall_s) if m else None
    out.update(_membership_calibrated(m))
    return out


def _membership_calibrated(m: MembershipRecord | None) -> dict[str, Any]:
    """The worst case for privacy over every membership score: the one with the highest TPR at 1 % FPR (a
    calibrated LiRA/RMIA score when ``membership.refs`` > 0), its interval, and the largest empirical ε bound."""
    scores = m.scores if m else {}
    name = max(scores, key=lambda n: (scores[n].get("tpr_at_1fpr") or 0.0, n), default=None)
    got = scores.get(name, {}) if name else {}
    eps = [s.get("epsilon_lower") for s in scores.values() if s.get("epsilon_lower") is not None]
    return {"mia_refs": int(m.settings.get("refs", 0)) if m else None, "mia_worst": name,
            **{f"mia_worst_{k}": finite_or_none(got.get(f"tpr_at_{k}")) for k in ("1fpr", "1fpr_low", "1fpr_high",
                                                                                 "01fpr", "10fpr")},
            "mia_epsilon_lower": max(eps) if eps else None}


def _accuracy_intervals(row: dict[str, Any], e: Evaluation | None) -> dict[str, Any]:
    """95 % Wilson intervals of the kNN and linear-probe accuracies on the evaluation's test-set size."""
    n = getattr(e, "test_images", None) if e is not None else None
    out: dict[str, Any] = {"test_images": n}
    for key in ("knn_best", "probe_best"):
        value = row.get(key)
        low, high = wilson_percent(value, n) if n and value is not None else (None, None)
        out[f"{key}_low"], out[f"{key}_high"] = low, high
    return out


def _bootstrap(values: list[float]) -> tuple[float | None, float | None]:
    """95 % bootstrap interval of the mean of per-image attack metrics (seeded: the same page every render)."""
    low, high = bootstrap_mean(values, seed=BOOTSTRAP_SEED)
    return finite_or_none(low), finite_or_none(high)


_PROFILE_COLUMNS: tuple[str, ...] = ("client_params", "client_flops", "server_flops", "step_up", "step_down",
                                     "sync_up", "sync_down", "run_up", "run_down", "client_run_up",
                                     "client_run_down")


def _profile_columns(p: RunProfile | None) -> dict[str, Any]:
    """Bytes, parameters and FLOPs of the cell's own method and symmetric mode."""
    out: dict[str, Any] = {k: getattr(p, k) if p else None for k in _PROFILE_COLUMNS}
    out["sent"] = " + ".join("×".join(str(n) for n in shape) for shape in p.sent) if p and p.sent else None
    out["after"] = (p.row.get("after") or None) if p else None      # the layer the cut follows
    up, down = out["client_run_up"], out["client_run_down"]
    out["mb_per_client"] = (up + down) / MIB if up is not None and down is not None else None
    return out


@dataclass(frozen=True)
class _Blank:
    method: str = "mocosfl"
    depth: int = 0
    run_dir: Path = Path("/nonexistent/sflaudit-cell")
    name: str = "blank"
    eval_id: str = "none"
    attack_id: str = "none"
    attack_ids: dict = field(default_factory=dict)
    membership_id: str | None = "none"


def complete_row(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with every column of :func:`cell_row` present (absent ones None: every registered attack's too), for
    rows made by hand."""
    empty = dict.fromkeys(cell_row(_Blank(attack_ids={p.name: "none" for p in ATTACKS})), None)
    return {**empty, **row}


def collect_rows(cells: Iterable[CellLike]) -> list[dict[str, Any]]:
    """One row per cell, sorted by depth then method (mocosfl before monacosfl)."""
    rows = [cell_row(c) for c in cells]
    return sorted(rows, key=lambda r: (r["depth"], r["method"]))
