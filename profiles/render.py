"""Rendering of ``sflaudit profile``: the rich table, and JSON/CSV rows, to stdout or a file (atomically)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import typer

from sflaudit.runs import atomic_write_text

PROFILE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("depth", "depth"), ("client_layers", "cut after"), ("sent", "sent C×H×W"), ("client_params", "client params"),
    ("client_flops", "client MMAC/img"), ("server_flops", "server MMAC/img"), ("step_up", "step up MB"),
    ("step_down", "step down MB"), ("sync_moco", "sync MB moco"), ("sync_mona", "sync MB monaco"),
    ("run_moco", "run MB moco"), ("run_mona", "run MB monaco"), ("ref_total_mb", "ref calc MB"),
    ("memory_bytes", "client peak MB"),
)


def profile_cells(row: dict, symmetric: str) -> dict[str, str]:
    mb = 1024 ** 2
    layers = row["client_layers"]
    return {
        "depth": str(row["depth"]),
        "client_layers": row.get("after") or (layers[-1] if layers else ""),
        "sent": " + ".join("×".join(map(str, s)) for s in row["sent"]),
        "client_params": f"{row['client_params']:,}",
        "client_flops": f"{row['client_flops'] / 1e6:.1f}",
        "server_flops": f"{row['server_flops'] / 1e6:.1f}",
        "step_up": f"{row[f'step_up_{symmetric}'] / mb:.2f}",
        "step_down": f"{row[f'step_down_{symmetric}'] / mb:.2f}",
        "sync_moco": f"{(row['sync_up_mocosfl'] + row['sync_down_mocosfl']) / mb:.2f}",
        "sync_mona": f"{(row['sync_up_monacosfl'] + row['sync_down_monacosfl']) / mb:.2f}",
        "run_moco": f"{(row['run_up_mocosfl'] + row['run_down_mocosfl']) / mb:.1f}",
        "run_mona": f"{(row['run_up_monacosfl'] + row['run_down_monacosfl']) / mb:.1f}",
        "ref_total_mb": f"{row['ref_total_mb']:.2f}",
        "memory_bytes": f"{row['memory_bytes'] / mb:.1f}" if row.get("memory_bytes") is not None else "-",
    }


def print_depth_list(arch: str, depths: list[int], width: float, fmt: str, out: Path | None, *,
                     input_size: int = 32, norm: str = "groupnorm") -> None:
    from sflaudit.models import cut_info

    rows = [cut_info(arch, d, width=width, input_size=input_size, norm=norm) for d in depths]
    data = [{"depth": i.depth, "after": i.after or i.client_layers[-1], "client_layers": list(i.client_layers),
             "sent": [list(s) for s in i.sent], "client_params": i.client_params} for i in rows]
    if fmt == "table":
        from rich.table import Table

        table = Table(title=f"{arch} depths (width {width:g})")
        for col in ("depth", "cut after", "sent C×H×W", "client params"):
            table.add_column(col, justify="right" if col != "cut after" else "left", no_wrap=col == "cut after")
        for r in data:
            table.add_row(str(r["depth"]), r["after"],
                          " + ".join("×".join(map(str, s)) for s in r["sent"]), f"{r['client_params']:,}")
        write_table(table, out)
    else:
        write_rows(data, fmt, out)


def emit_profile(rows: list[dict], cfg: Any, schedule: dict, fmt: str, out: Path | None) -> None:
    if fmt == "table":
        from rich.table import Table

        table = Table(title=f"{cfg.model.arch} (width {cfg.model.width:g}, {cfg.sfl.clients} clients, B "
                            f"{cfg.sfl.batch}, {schedule['epochs']} epochs × {schedule['steps_per_epoch']} steps, "
                            f"{cfg.ssl.symmetric}-side symmetric, wire {cfg.sfl.wire_dtype})",
                      caption="MB = MiB; step = one participating client; sync/run = all clients; MMAC = fvcore "
                              "FLOPs (1 FLOP = 1 multiply-add); ref calc = the reference overhead calculator "
                              "(protocol §6.1)")
        for _, title in PROFILE_COLUMNS:
            table.add_column(title, justify="left" if title == "cut after" else "right", no_wrap=title == "cut after")
        for r in rows:
            cells = profile_cells(r, cfg.ssl.symmetric)
            table.add_row(*(cells[key] for key, _ in PROFILE_COLUMNS))
        write_table(table, out)
        uncounted = sorted({op for r in rows for op in r.get("uncounted_ops", [])})
        if uncounted and out is None:
            typer.echo(f"operators fvcore did not count: {', '.join(uncounted)}", err=True)
    else:
        write_rows(rows, fmt, out)


def emit_time_profile(rows: list[dict], cfg: Any, schedule: dict, setting: str, fmt: str, out: Path | None) -> None:
    """``sflaudit profile --link``: hours per run per depth and method, with the step's compute/transfer/latency
    split (rows carry :func:`sflaudit.profiles.timemodel.time_columns`); ``setting`` names the link and devices."""
    if fmt != "table":
        write_rows(rows, fmt, out)
        return
    from rich.table import Table

    from sflaudit.sfl.strategies import strategy_names

    mb = 1024 ** 2
    methods = strategy_names()
    table = Table(title=f"{cfg.model.arch} (width {cfg.model.width:g}, {cfg.sfl.clients} clients, B {cfg.sfl.batch}, "
                        f"{schedule['epochs']} epochs × {schedule['steps_per_epoch']} steps, "
                        f"{len(schedule['sync_batches'])} syncs/epoch) on {setting}",
                  caption="s/step = one step along the critical path (slowest client); compute = client forward + "
                          "backward + server; transfer = bytes ÷ link rate; latency = RTT per round trip; "
                          "bound = the largest part of the whole run")
    titles = ["depth", "sent C×H×W", "step up MB", "step down MB", "compute s/step", "transfer s/step",
              "latency s/step", "step s", *(f"sync s {m}" for m in methods), *(f"hours {m}" for m in methods),
              *(f"bound {m}" for m in methods)]
    for title in titles:
        table.add_column(title, justify="right")
    for r in rows:
        table.add_row(
            str(r["depth"]), " + ".join("×".join(map(str, s)) for s in r["sent"]),
            f"{r[f'step_up_{cfg.ssl.symmetric}'] / mb:.2f}", f"{r[f'step_down_{cfg.ssl.symmetric}'] / mb:.2f}",
            f"{r['time_step_compute_s']:.3f}", f"{r['time_step_transfer_s']:.3f}", f"{r['time_step_latency_s']:.3f}",
            f"{r['time_step_s']:.3f}", *(f"{r[f'time_sync_s_{m}']:.2f}" for m in methods),
            *(f"{r[f'time_run_h_{m}']:.1f}" for m in methods), *(str(r[f"time_bottleneck_{m}"]) for m in methods))
    write_table(table, out)


def write_table(table: Any, out: Path | None) -> None:
    from rich.console import Console

    if out is None:
        Console(width=max(160, shutil.get_terminal_size().columns)).print(table)
        return
    console = Console(record=True, width=200, file=io.StringIO())
    console.print(table)
    atomic_write_text(out, console.export_text())


def write_rows(rows: list[dict], fmt: str, out: Path | None) -> None:
    if fmt == "json":
        text = json.dumps(rows, indent=2) + "\n"
    else:
        buf = io.StringIO()
        keys = list(rows[0].keys()) if rows else []
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in r.items()})
        text = buf.getvalue()
    if out is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(out, text)
