"""Run directories → report rows; the Pareto front and the recommended cut, as pure functions on those rows.

A row is a flat dict of plain JSON values (one per sweep cell = method × depth), so the same rows feed the HTML
table, ``report.csv`` and ``report.json``. Rows are built from the typed artifacts of ``sflaudit.artifacts`` (the
one owner of run-directory files and keys): the evaluation and the attack result the row reads are those whose
ids match the cell's settings. Byte columns are exact integers; ``mb_per_client`` is in MiB (2**20 bytes), the
bytes one client that is in the pool every epoch sends and receives over the whole run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sflaudit.artifacts import AttackRecord, ErrorRecord, Evaluation, RunDir, RunProfile, Summary, Traffic
from sflaudit.errors import SflauditError

MIB = 1024 ** 2
METHOD_LABELS: dict[str, str] = {"mocosfl": "MocoSFL", "monacosfl": "MonAcoSFL"}
ROW_STATUSES: tuple[str, ...] = ("ok", "failed", "missing")


class CellLike(Protocol):
    """What :func:`collect_rows` needs of a sweep cell (``reports.sweep.Cell`` fits)."""

    method: str
    depth: int
    run_dir: Path

    @property
    def name(self) -> str: ...
    @property
    def eval_id(self) -> str: ...
    @property
    def attack_id(self) -> str: ...


@dataclass(frozen=True)
class _Artifacts:
    """What one run directory holds for one cell's settings (None = absent), and the first unreadable file."""

    summary: Summary | None
    profile: RunProfile | None
    evaluation: Evaluation | None
    attack: AttackRecord | None
    traffic: Traffic | None
    error: ErrorRecord | None
    unreadable: str | None


def _artifacts(cell: CellLike) -> _Artifacts:
    run = RunDir(Path(cell.run_dir))
    reads = {"summary": run.read_summary, "profile": run.read_profile,
             "evaluation": lambda: run.read_eval(cell.eval_id), "attack": lambda: run.read_attack(cell.attack_id),
             "traffic": run.read_traffic}
    got: dict[str, Any] = {}
    unreadable = None
    for name, read in reads.items():
        try:
            got[name] = read()
        except SflauditError as exc:           # a report never crashes on one cell: the row says why
            got[name] = None
            unreadable = unreadable or str(exc)
    return _Artifacts(**got, error=run.read_error(), unreadable=unreadable)


def _num(value: Any) -> float | None:
    """A finite float, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(float(value)) else None


def cell_row(cell: CellLike) -> dict[str, Any]:
    """The report row of one cell (whatever of its stages' results its run directory holds)."""
    a = _artifacts(cell)
    row: dict[str, Any] = {"cell": cell.name, "method": cell.method, "depth": cell.depth,
                           "run_dir": str(cell.run_dir), "eval_id": cell.eval_id, "attack_id": cell.attack_id}
    missing = [what for what, have in (("training", a.summary), ("profile", a.profile), ("evaluation", a.evaluation),
                                       (f"attack {cell.attack_id}", a.attack)) if have is None]
    if a.error is not None:
        row.update(status="failed", error=a.error.error, error_stage=a.error.stage)
    elif a.unreadable is not None:
        row.update(status="failed", error=a.unreadable, error_stage="read")
    elif missing:
        row.update(status="missing", error=f"not run yet: no {', '.join(missing)}", error_stage=None)
    else:
        row.update(status="ok", error=None, error_stage=None)
    s, e = a.summary, a.evaluation
    row.update(knn_best=_num(s.knn_best) if s else None, knn_final=_num(s.knn_final) if s else None,
               probe_best=_num(e.linear_probe_best) if e else None,
               probe_last=_num(e.linear_probe_last) if e else None,
               epochs=s.epochs if s else None, steps=s.steps if s else None,
               train_wall_s=_num(s.wall_time_s) if s else None)
    r = a.attack
    mean = r.mean if r else {}
    row.update(attack_kind=r.settings.get("kind") if r else None,
               attack_mse=_num(mean.get("mse")), attack_psnr=_num(mean.get("psnr")),
               attack_ssim=_num(mean.get("ssim")), attack_ssim_ref=_num(mean.get("ssim_ref")),
               attack_lpips=_num(mean.get("lpips")), lpips_status=r.lpips.get("status") if r else None,
               invert_wall_s=_num(r.wall_s) if r else None,
               grid=str(RunDir(Path(cell.run_dir)).attack_png(cell.attack_id)) if r else None)
    row.update(_profile_columns(a.profile))
    t, analytic = a.traffic, (a.profile.analytic_traffic if a.profile else None)
    row.update(measured_up=t.total.get("up") if t else None, measured_down=t.total.get("down") if t else None,
               analytic_up=(analytic or {}).get("total", {}).get("up"),
               analytic_down=(analytic or {}).get("total", {}).get("down"),
               traffic_match=t.matches(analytic) if t is not None and analytic is not None else None)
    return row


_PROFILE_COLUMNS: tuple[str, ...] = ("client_params", "client_flops", "server_flops", "step_up", "step_down",
                                     "sync_up", "sync_down", "run_up", "run_down", "client_run_up",
                                     "client_run_down")


def _profile_columns(p: RunProfile | None) -> dict[str, Any]:
    """Bytes, parameters and FLOPs of the cell's own method and symmetric mode."""
    out: dict[str, Any] = {k: getattr(p, k) if p else None for k in _PROFILE_COLUMNS}
    out["sent"] = " + ".join("×".join(str(n) for n in shape) for shape in p.sent) if p and p.sent else None
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


def complete_row(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with every column of :func:`cell_row` present (absent ones None), for rows made by hand."""
    empty = dict.fromkeys(cell_row(_Blank()), None)
    return {**empty, **row}


def collect_rows(cells: Iterable[CellLike]) -> list[dict[str, Any]]:
    """One row per cell, sorted by depth then method (mocosfl before monacosfl)."""
    rows = [cell_row(c) for c in cells]
    return sorted(rows, key=lambda r: (r["depth"], r["method"]))


# ------------------------------------------------------------------------------------------------ trade-offs


def _objectives(row: dict[str, Any]) -> tuple[float, float, float] | None:
    """(attack SSIM, −kNN, MiB per client): all three minimised; None when the row lacks one of them."""
    ssim, knn, mb = row.get("attack_ssim"), row.get("knn_best"), row.get("mb_per_client")
    if row.get("status") != "ok" or ssim is None or knn is None or mb is None:
        return None
    return (float(ssim), -float(knn), float(mb))


def pareto_indices(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the non-dominated points when every coordinate is minimised.

    A point is dominated when another is at least as good (≤) in every coordinate and strictly better (<) in one;
    equal points dominate neither, so both stay on the front.
    """
    front = []
    for i, p in enumerate(points):
        dominated = any(all(q[k] <= p[k] for k in range(len(p))) and any(q[k] < p[k] for k in range(len(p)))
                        for j, q in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return front


def pareto_cells(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Cells on the privacy–accuracy–bandwidth front: least attack SSIM, most kNN, fewest MiB per client."""
    scored = [(r["cell"], obj) for r in rows if (obj := _objectives(r)) is not None]
    return [scored[i][0] for i in pareto_indices([obj for _, obj in scored])]


@dataclass(frozen=True)
class Constraints:
    """The user's limits (None = no limit): attack SSIM at most, MiB per client per run at most, kNN % at least."""

    max_ssim: float | None = None
    max_mb_per_client: float | None = None
    min_knn: float | None = None

    def given(self) -> bool:
        return any(v is not None for v in (self.max_ssim, self.max_mb_per_client, self.min_knn))

    def describe(self) -> list[str]:
        """Human-readable limits, e.g. ``["attack SSIM ≤ 0.3", "kNN ≥ 50%"]``."""
        out = []
        if self.max_ssim is not None:
            out.append(f"attack SSIM ≤ {self.max_ssim:g}")
        if self.max_mb_per_client is not None:
            out.append(f"≤ {self.max_mb_per_client:g} MiB per client per run")
        if self.min_knn is not None:
            out.append(f"kNN ≥ {self.min_knn:g}%")
        return out

    def failures(self, row: dict[str, Any]) -> list[str]:
        """Names of the limits ``row`` breaks (empty when it meets all)."""
        obj = _objectives(row)
        if obj is None:
            return ["incomplete"]
        ssim, neg_knn, mb = obj
        out = []
        if self.max_ssim is not None and ssim > self.max_ssim:
            out.append("max_ssim")
        if self.max_mb_per_client is not None and mb > self.max_mb_per_client:
            out.append("max_mb_per_client")
        if self.min_knn is not None and -neg_knn < self.min_knn:
            out.append("min_knn")
        return out


@dataclass(frozen=True)
class Recommendation:
    """The recommended cell (None when no cell qualifies) and why."""

    cell: str | None
    reason: str
    feasible: tuple[str, ...]      # cells meeting every constraint


def _label(row: dict[str, Any]) -> str:
    return f"depth {row['depth']} with {METHOD_LABELS.get(row['method'], row['method'])}"


def _ideal_distance(row: dict[str, Any], rows: Sequence[dict[str, Any]]) -> float:
    """Euclidean distance to the ideal point after min–max scaling each objective over ``rows`` (0 = ideal)."""
    objs = [o for r in rows if (o := _objectives(r)) is not None]
    mine = _objectives(row)
    assert mine is not None
    total = 0.0
    for k in range(3):
        lo, hi = min(o[k] for o in objs), max(o[k] for o in objs)
        total += ((mine[k] - lo) / (hi - lo)) ** 2 if hi > lo else 0.0
    return math.sqrt(total)


def _best_of(rows: Sequence[dict[str, Any]], key: str, *, highest: bool) -> dict[str, Any]:
    usable = [r for r in rows if _objectives(r) is not None]
    return (max if highest else min)(usable, key=lambda r: r[key])


def _why_none(rows: Sequence[dict[str, Any]], c: Constraints) -> str:
    """Why no cell meets ``c``: per limit, the best value any cell reaches and how many cells meet it alone."""
    checks = (("max_ssim", "attack_ssim", False, f"attack SSIM ≤ {c.max_ssim:g}" if c.max_ssim is not None else "",
               "{:.3f}"),
              ("max_mb_per_client", "mb_per_client", False,
               f"≤ {c.max_mb_per_client:g} MiB per client" if c.max_mb_per_client is not None else "", "{:.2f} MiB"),
              ("min_knn", "knn_best", True, f"kNN ≥ {c.min_knn:g}%" if c.min_knn is not None else "", "{:.1f}%"))
    parts, alone = [], []
    for name, key, highest, text, fmt in checks:
        if getattr(c, name) is None:
            continue
        best = _best_of(rows, key, highest=highest)
        met = sum(1 for r in rows if name not in c.failures(r))
        alone.append(met > 0)
        parts.append(f"{text} (best reached: {fmt.format(best[key])} at {_label(best)}; {met} cell(s) meet it)")
    lead = ("each limit is met by some cell, but no cell meets all of them at once"
            if all(alone) else "no cell meets all limits")
    return f"{lead.capitalize()}: " + "; ".join(parts) + ". Relax a limit, or train longer (a larger budget raises kNN)"


def recommend(rows: Sequence[dict[str, Any]], constraints: Constraints = Constraints()) -> Recommendation:
    """The recommended cell under ``constraints``.

    Rule: among the cells that meet every limit, take their Pareto front (attack SSIM ↓, kNN ↑, MiB per client ↓)
    and pick the point closest to the ideal (lowest SSIM, highest kNN, fewest MiB, each min–max scaled over all
    finished cells); ties go to the shallower depth, then to the method name. With no finished cell, or none that
    meets the limits, ``cell`` is None and ``reason`` says why.
    """
    usable = [r for r in rows if _objectives(r) is not None]
    if not usable:
        return Recommendation(None, "no cell has finished (kNN, attack SSIM and bandwidth are all needed)", ())
    feasible = [r for r in usable if not constraints.failures(r)]
    if not feasible:
        return Recommendation(None, _why_none(usable, constraints), ())
    front = set(pareto_cells(feasible))
    candidates = [r for r in feasible if r["cell"] in front]
    best = min(candidates, key=lambda r: (_ideal_distance(r, usable), r["depth"], r["method"]))
    limits = constraints.describe()
    n = len(candidates)
    basis = (f"It meets {', '.join(limits)} and, of the {n} Pareto-optimal cell(s) that do, it"
             if limits else f"No limits given; of the {n} Pareto-optimal cell(s) it")
    reason = (f"{basis} is closest to the ideal of no leakage, the best kNN and the least traffic "
              f"(kNN {best['knn_best']:.1f}%, attack SSIM {best['attack_ssim']:.3f}, "
              f"{best['mb_per_client']:.2f} MiB per client per run)")
    return Recommendation(best["cell"], reason, tuple(r["cell"] for r in feasible))


def annotate(rows: Sequence[dict[str, Any]], constraints: Constraints = Constraints()
             ) -> tuple[list[dict[str, Any]], list[str], Recommendation]:
    """Rows with ``pareto`` / ``feasible`` / ``recommended`` flags added, the front, and the recommendation."""
    front = pareto_cells(rows)
    rec = recommend(rows, constraints)
    out = [dict(r, pareto=r["cell"] in front, feasible=r["cell"] in rec.feasible, recommended=r["cell"] == rec.cell)
           for r in rows]
    return out, front, rec
