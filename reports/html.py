"""Render the sweep into one self-contained HTML page, plus the same table as ``report.csv`` and ``report.json``.

The page has no external resource: figures and reconstruction grids are inlined as ``data:`` URIs, the CSS is in
the page, there is no script and no web font. Every string that comes from a config, a file or a name goes through
Jinja's autoescaping.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from sflaudit.reports.active import active_pairs, attacker_note
from sflaudit.reports.collect import MIB, complete_row
from sflaudit.reports.gridimages import grids
from sflaudit.reports.plotkit import series_key, series_label, series_names
from sflaudit.reports.paired import paired_differences
from sflaudit.reports.seeds import group_rows
from sflaudit.reports.threats import defence_notes, membership_text, threat_models
from sflaudit.reports.recommend import annotate
from sflaudit.reports.tradeoffs import METHOD_LABELS, SSIM_AXIS, Constraints, PrivacyAxis
from sflaudit.config import Config, config_to_toml
from sflaudit.runs import atomic_write_text

REPORT_FORMAT = "sflaudit-report/1"
TEMPLATE = "report.html.j2"


@dataclass
class ReportInputs:
    """What a report is made of: the collected rows and how the sweep was set up."""

    rows: list[dict[str, Any]]
    config: Config                      # the sweep's base config (depth and method vary per cell)
    depths: list[int]
    methods: list[str]
    runs: Path
    constraints: Constraints = field(default_factory=Constraints)
    preset: str | None = None
    config_path: str | None = None
    overrides: list[str] = field(default_factory=list)
    executor: str = "local"
    attacks: list[str] = field(default_factory=lambda: ["decoder"])
    vary: list[tuple[str, list[str]]] = field(default_factory=list)
    seeds: int = 1
    time_text: str = ""
    privacy: PrivacyAxis = SSIM_AXIS     # the front's leakage objective (--privacy-axis)


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    csv: Path
    json: Path


# ---------------------------------------------------------------------------------------------------- formats


def fmt_num(value: Any, digits: int = 1) -> str:
    """``12.345`` → ``"12.3"``; None → an en dash."""
    return "–" if value is None else f"{float(value):.{digits}f}"


def fmt_bytes(value: Any) -> str:
    """Binary units with three significant figures: ``13184`` → ``"12.9 KiB"``; None → an en dash."""
    if value is None:
        return "–"
    v = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(v) < 1024 or unit == "TiB":
            return f"{int(v)} B" if unit == "B" else f"{v:.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"
        v /= 1024
    raise AssertionError("unreachable")


def fmt_int(value: Any) -> str:
    return "–" if value is None else f"{int(value):,}"


def fmt_mmac(value: Any) -> str:
    """FLOPs (fvcore: 1 FLOP = 1 multiply-add) → millions, e.g. ``"12.3"``."""
    return "–" if value is None else f"{float(value) / 1e6:.1f}"


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def method_label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def _env() -> Environment:
    env = Environment(loader=PackageLoader("sflaudit.reports", "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=fmt_num, bytes=fmt_bytes, int=fmt_int, mmac=fmt_mmac, method=method_label)
    return env


# ---------------------------------------------------------------------------------------------------- context


def _by_depth(rows: Sequence[dict[str, Any]], series: Sequence[str]) -> list[dict[str, Any]]:
    """Per depth: the setting-independent columns (from any cell with a profile) and each series' row."""
    out = []
    for depth in sorted({r["depth"] for r in rows}):
        cells = {series_key(r): r for r in rows if r["depth"] == depth}
        shared = next((r for r in cells.values() if r.get("client_params") is not None), next(iter(cells.values())))
        out.append({"depth": depth, "shared": shared, "variants": _cost_variants(list(cells.values())),
                    "cells": [cells.get(k) for k in series]})
    return out


_COST_KEYS = ("after", "sent", "client_params", "client_flops", "server_flops", "step_up", "step_down")


def _cost_variants(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The distinct cost columns at one depth (one unless a --vary axis changes the network or what is sent: then
    each is labelled with the setting of its first cell)."""
    seen: dict[tuple, dict[str, Any]] = {}
    for r in cells:
        key = tuple(r.get(k) for k in _COST_KEYS)
        if key not in seen and (r.get("client_params") is not None or not seen):
            seen[key] = {"label": r.get("setting_text") or "", **{k: r.get(k) for k in _COST_KEYS}}
    variants = list(seen.values())
    if len(variants) == 1:
        variants[0]["label"] = ""
    return variants


def _series(rows: Sequence[dict[str, Any]], methods: Sequence[str]) -> list[dict[str, str]]:
    """The table's column groups: each method, under each --vary setting (in the order the rows give them)."""
    keys = [k for m in methods for k in series_names([r for r in rows if r["method"] == m])] or list(methods)
    return [{"key": k, "label": series_label(k), "method": k.partition(" · ")[0],
             "css": "moco" if k.startswith("mocosfl") else "monaco"} for k in keys]


def _steps_per_epoch(rows: Sequence[dict[str, Any]]) -> int | None:
    for row in rows:
        if row.get("steps") and row.get("epochs"):
            return int(row["steps"]) // int(row["epochs"])
    return None


def build_context(inputs: ReportInputs, out: Path = Path("report.html")) -> dict[str, Any]:
    """Everything the template needs (plots drawn, images encoded); also the content of report.json."""
    from sflaudit.reports.plots import PLOTS, all_plots
    from sflaudit.reports.provenance import provenance

    cells = [complete_row(r) for r in inputs.rows]
    rows, front, rec = annotate(group_rows(cells), inputs.constraints, inputs.privacy)
    for r in rows:
        r["series"] = series_key(r)
        r["series_label"] = series_label(r["series"])
    series = _series(rows, inputs.methods)
    keys = [s["key"] for s in series]
    threats = threat_models(rows, inputs.attacks)        # reads one attack record per kind
    figures = all_plots(rows, front, rec.cell)
    cfg = inputs.config
    prov = provenance(cfg, preset=inputs.preset, config_path=inputs.config_path, overrides=inputs.overrides,
                      steps_per_epoch=_steps_per_epoch(rows))
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in ("ok", "failed", "missing")}
    front_rows = sorted((r for r in rows if r["pareto"]), key=lambda r: (r["mb_per_client"], r["depth"]))
    depth_text = ", ".join(map(str, inputs.depths))
    return {
        "title": f"sflaudit report — where to cut {cfg.model.arch} on {cfg.data.dataset}",
        "rows": rows, "methods": list(inputs.methods), "depths": list(inputs.depths), "depth_text": depth_text,
        "pareto": front, "front_rows": front_rows, "recommendation": rec,
        "recommended_row": next((r for r in rows if r["recommended"]), None),
        "constraints": inputs.constraints.describe(), "counts": counts,
        "problems": [r for r in rows if r["status"] != "ok"],
        "mismatches": [r for r in rows if r.get("traffic_match") is False],
        "plots": {key: data_uri(png) for key, png in figures.items()},
        "plot_titles": {"tradeoff": "Privacy–accuracy–bandwidth trade-off",
                        **{k: title for k, (title, _) in PLOTS.items()}},
        "by_depth": _by_depth(rows, keys), "grids": grids(rows), "series": series,
        "attacks": list(inputs.attacks), "time_text": inputs.time_text, "vary": [(k, list(v)) for k, v in inputs.vary], "seeds": inputs.seeds,
        "threats": threats, "membership": membership_text(rows), "provenance": prov,
        "privacy_label": inputs.privacy.label,
        "cells": cells, "paired": paired_differences(cells, inputs.methods, base_seed=inputs.config.run.seed),
        "defences": defence_notes(cfg, inputs.vary),
        "active": active_pairs(rows),
        "attacker_note": attacker_note(rows, next((r for r in rows if r["recommended"]), None)),
        "lpips_note": threats[0] if threats else None,
        "config_text": config_to_toml(cfg),
        "runs": str(inputs.runs), "executor": inputs.executor, "mib": MIB,
        "symmetric": cfg.ssl.symmetric, "wire_dtype": cfg.sfl.wire_dtype,
        "table_files": [out.with_suffix(".csv").name, out.with_suffix(".json").name],
    }


def render_html(context: dict[str, Any]) -> str:
    return _env().get_template(TEMPLATE).render(**context)


# ---------------------------------------------------------------------------------------------------- files

CSV_SKIP = ("run_dir", "grid", "grids", "attack_ids", "setting", "seed_cells")


def rows_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The table as CSV: one line per cell, every scalar column (booleans as true/false, None as empty)."""
    keys = [k for k in rows[0] if k not in CSV_SKIP] if rows else []
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("true" if v else "false") if isinstance(v, bool) else ("" if v is None else v)
                         for k, v in row.items() if k in keys})
    return buf.getvalue()


def write_report(inputs: ReportInputs, out: Path) -> ReportFiles:
    """Write ``out`` (HTML) and, beside it, ``<stem>.csv`` and ``<stem>.json``; returns the three paths."""
    out = Path(out)
    context = build_context(inputs, out)
    files = ReportFiles(out, out.with_suffix(".csv"), out.with_suffix(".json"))
    atomic_write_text(files.html, render_html(context))
    atomic_write_text(files.csv, rows_csv(context["rows"]))
    doc = {"format": REPORT_FORMAT, "title": context["title"], "provenance": context["provenance"],
           "config": context["config_text"], "depths": context["depths"], "methods": context["methods"],
           "attacks": context["attacks"], "vary": context["vary"], "seeds": context["seeds"],
           "paired": context["paired"],
           "cells": context["cells"],
           "constraints": asdict(inputs.constraints), "pareto": context["pareto"],
           "recommendation": asdict(context["recommendation"]), "rows": context["rows"]}
    atomic_write_text(files.json, json.dumps(doc, indent=2, allow_nan=False) + "\n")
    _readable(files.html, files.csv, files.json)
    return files


def _readable(*paths: Path) -> None:
    """Give the report files the usual permissions (atomic writes create them owner-only)."""
    mask = os.umask(0)
    os.umask(mask)
    for path in paths:
        path.chmod(0o666 & ~mask)
