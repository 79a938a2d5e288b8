"""The report's figures as PNG bytes (matplotlib Agg, seaborn style), drawn from :mod:`sflaudit.reports.collect` rows.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot state, no GUI backend) inside a seaborn
style context, so drawing them changes no global settings. Missing values (failed or unfinished cells) are left out
of the lines; a figure with no data at all says so instead of being empty.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sflaudit.reports.collect import MIB
from sflaudit.auditors import ATTACKS
from sflaudit.reports.plotkit import (Row, band, depth_axis, empty, lines, log_axis, png, series_key, series_label,
                                      series_marker, series_names, style, values)



def accuracy_plot(rows: Sequence[Row]) -> bytes:
    """kNN accuracy at the best evaluation (left) and linear-probe accuracy (right) against depth, both methods."""
    with style():
        fig = Figure(figsize=(10.5, 3.9))
        left, right = fig.subplots(1, 2)
        for ax, key, title in ((left, "knn_best", "kNN monitor (best evaluation)"),
                               (right, "probe_best", "Linear probe on frozen features")):
            lines(ax, rows, ((key, "", "-"),))
            ax.set_ylabel("test accuracy (%)")
            ax.set_title(f"{title} — higher is better")
            depth_axis(ax, rows)
        fig.tight_layout()
        return png(fig)


def attack_plot(rows: Sequence[Row]) -> bytes:
    """Attack quality against depth: SSIM (and LPIPS when measured) left, PSNR right."""
    with style():
        fig = Figure(figsize=(10.5, 3.9))
        left, right = fig.subplots(1, 2)
        specs = [("attack_ssim", "SSIM", "-")]
        if any(r.get("attack_lpips") is not None for r in rows):
            specs.append(("attack_lpips", "LPIPS", ":"))
        lines(left, rows, specs)
        left.set_ylabel("SSIM / LPIPS (0–1)")
        left.set_title("SSIM (lower = more private), LPIPS (higher = more private)")
        lines(right, rows, (("attack_psnr", "PSNR", "-"),))
        right.set_ylabel("PSNR (dB)")
        right.set_title("Reconstruction PSNR (lower = more private)")
        for ax in (left, right):
            depth_axis(ax, rows)
        fig.tight_layout()
        return png(fig)


def membership_plot(rows: Sequence[Row]) -> bytes:
    """Membership-inference ROC AUC against depth, both scores, with the bootstrap interval as a band; 0.5 = chance."""
    with style():
        fig = Figure(figsize=(10.5, 3.9))
        left, right = fig.subplots(1, 2)
        for ax, prefix, title in ((left, "mia", "View-similarity score (EncoderMI)"),
                                  (right, "mia_contrastive", "Contrastive-loss score")):
            lines(ax, rows, ((f"{prefix}_auc", "AUC", "-"),))
            ax.axhline(0.5, color="#888888", linestyle=":", linewidth=1)
            ax.set_ylabel("ROC AUC (0.5 = chance)")
            ax.set_title(f"{title} — lower is more private")
            depth_axis(ax, rows)
        fig.tight_layout()
        return png(fig)


def bandwidth_plot(rows: Sequence[Row]) -> bytes:
    """Bytes by direction against depth: one participating client per step (left), one client per run (right)."""
    with style():
        fig = Figure(figsize=(10.5, 3.9))
        left, right = fig.subplots(1, 2)
        step = [("step_up", "up ↑", "-"), ("step_down", "down ↓", "--")]
        run = [("client_run_up", "up ↑", "-"), ("client_run_down", "down ↓", "--")]
        for ax, specs, title, unit in ((left, step, "Per step, one participating client", "MiB per step"),
                                       (right, run, "Whole run, one client", "MiB per client per run")):
            if lines(ax, rows, specs, scale=MIB):
                log_axis(ax, "y")
            ax.set_ylabel(f"{unit} (log)")
            ax.set_title(title)
            depth_axis(ax, rows)
        fig.tight_layout()
        return png(fig)


def tradeoff_plot(rows: Sequence[Row], pareto: Sequence[str], recommended: str | None = None) -> bytes:
    """kNN against MiB per client (log x); colour = attack SSIM; Pareto cells ringed and joined, the pick starred."""
    points = [r for r in rows if r.get("status") == "ok" and None not in
              (r.get("knn_best"), r.get("mb_per_client"), r.get("attack_ssim"))]
    with style():
        fig = Figure(figsize=(10.5, 5.2))
        ax = fig.subplots()
        if not points:
            empty(ax)
        else:
            ssims = [r["attack_ssim"] for r in points]
            lo, hi = min(ssims), max(ssims)
            sc = None
            keys = series_names(points)
            for key in keys:
                mine = [r for r in points if series_key(r) == key]
                sc = ax.scatter([r["mb_per_client"] for r in mine], [r["knn_best"] for r in mine],
                                c=[r["attack_ssim"] for r in mine], cmap="viridis_r", vmin=lo, vmax=hi or 1.0,
                                s=70, marker=_marker(key, keys), edgecolors="white", linewidths=0.6,
                                label=series_label(key), zorder=3)
                if any(r.get("knn_best_low") is not None for r in mine):
                    ax.errorbar([r["mb_per_client"] for r in mine if r.get("knn_best_low") is not None],
                                [r["knn_best"] for r in mine if r.get("knn_best_low") is not None],
                                yerr=[[r["knn_best"] - r["knn_best_low"] for r in mine if r.get("knn_best_low")
                                       is not None],
                                      [r["knn_best_high"] - r["knn_best"] for r in mine if r.get("knn_best_low")
                                       is not None]],
                                fmt="none", ecolor="#999999", elinewidth=0.8, alpha=0.6, zorder=2)
            front = sorted((r for r in points if r["cell"] in set(pareto)), key=lambda r: r["mb_per_client"])
            if front:
                ax.plot([r["mb_per_client"] for r in front], [r["knn_best"] for r in front], color="#C44E52",
                        linewidth=1.2, linestyle="--", zorder=2, label="Pareto front")
                ax.scatter([r["mb_per_client"] for r in front], [r["knn_best"] for r in front], s=170,
                           facecolors="none", edgecolors="#C44E52", linewidths=1.6, zorder=4)
            for r in points:
                ax.annotate(f"d{r['depth']}", (r["mb_per_client"], r["knn_best"]), xytext=(5, 4),
                            textcoords="offset points", fontsize=7, color="#333")
            pick = next((r for r in points if r["cell"] == recommended), None)
            if pick is not None:
                ax.scatter([pick["mb_per_client"]], [pick["knn_best"]], marker="*", s=330, color="#C44E52",
                           edgecolors="black", linewidths=0.7, zorder=5, label="recommended")
            log_axis(ax, "x")
            cbar = fig.colorbar(sc, ax=ax, pad=0.02)
            cbar.set_label("attack SSIM (lower = more private)")
            ax.legend(handles=_tradeoff_legend(keys, bool(front), pick is not None), loc="best",
                      fontsize=8)
        ax.set_xlabel("MiB per client per run (log; fewer is better)")
        ax.set_ylabel("kNN accuracy (%) (higher is better)")
        ax.set_title("Privacy–accuracy–bandwidth trade-off")
        fig.tight_layout()
        return png(fig)


SETTING_MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")


def _marker(key: str, keys: Sequence[str]) -> str:
    """The method's marker without --vary; with it, one marker per series so that defences stand apart."""
    if all(" · " not in k for k in keys):
        return series_marker(key)
    return SETTING_MARKERS[keys.index(key) % len(SETTING_MARKERS)]


def _tradeoff_legend(keys: Sequence[str], front: bool, pick: bool) -> list[Line2D]:
    """Neutral legend handles (the colour of a point is its SSIM, not its series)."""
    handles = [Line2D([], [], linestyle="", marker=_marker(k, keys), markersize=8, color="#777",
                      label=series_label(k)) for k in keys]
    if front:
        handles.append(Line2D([], [], color="#C44E52", linestyle="--", marker="o", markersize=10,
                              markerfacecolor="none", markeredgewidth=1.6, label="Pareto front"))
    if pick:
        handles.append(Line2D([], [], linestyle="", marker="*", markersize=14, color="#C44E52",
                              markeredgecolor="black", label="recommended"))
    return handles


def attacks_plot(rows: Sequence[Row]) -> bytes:
    """Each attack's SSIM against depth, one panel per series (at most four), the floor attack (the prior) as a
    band; every registered attack plug-in with results is drawn in its own line style and label."""
    kinds = [p for p in ATTACKS if any(r.get(f"attack_{p.name}_ssim") is not None for r in rows)]
    keys = series_names(rows)[:4] or ["none"]
    with style():
        fig = Figure(figsize=(10.5, 3.9))
        axes = fig.subplots(1, len(keys), squeeze=False)[0]
        for ax, key in zip(axes, keys):
            drawn = False
            floor = next((p for p in kinds if p.floor), None)
            xs, prior = values(rows, key, f"attack_{floor.name}_ssim") if floor is not None else ([], [])
            if xs:
                ax.fill_between(xs, 0, prior, color="#bbbbbb", alpha=0.35, linewidth=0,
                                label=f"{floor.label or floor.name} (no activation): floor")
            for i, plugin in enumerate(kinds):
                kind = plugin.name
                xk, ys = values(rows, key, f"attack_{kind}_ssim")
                if not xk or plugin.floor:
                    continue
                color = ("#4C72B0", "#C44E52", "#55A868", "#8172B3", "#CCB974", "#64B5CD")[i % 6]
                ax.plot(xk, ys, linestyle=plugin.style, marker="o", markersize=4, color=color,
                        label=plugin.label or kind)
                band(ax, rows, key, f"attack_{kind}_ssim", color)
                drawn = True
            if drawn or xs:
                ax.legend(loc="best", fontsize=7)
            else:
                empty(ax)
            ax.set_title(series_label(key) if key != "none" else "attacks")
            ax.set_ylabel("SSIM (lower = more private)")
            depth_axis(ax, rows)
        fig.tight_layout()
        return png(fig)


def time_plot(rows: Sequence[Row]) -> bytes:
    """Modelled hours to train against depth (log y): the whole run and the part spent moving bytes."""
    with style():
        fig = Figure(figsize=(10.5, 3.9))
        ax = fig.subplots()
        if lines(ax, rows, (("hours", "total", "-"), ("hours_transfer", "on the link", ":"))):
            log_axis(ax, "y")
        ax.set_ylabel("hours per run (log)")
        ax.set_title("Time to train on the assumed link and devices — lower is better")
        depth_axis(ax, rows)
        fig.tight_layout()
        return png(fig)


def membership_roc_plot(rows: Sequence[Row]) -> bytes:
    from sflaudit.reports.rocplot import membership_roc_plot as draw   # local: reads the scores beside each record

    return draw(rows)


PLOTS: dict[str, tuple[str, Callable[..., bytes]]] = {
    "accuracy": ("Accuracy vs depth", accuracy_plot),
    "attack": ("Attack quality vs depth (worst case over the attacks)", attack_plot),
    "attacks": ("Each attack vs depth", attacks_plot),
    "bandwidth": ("Bandwidth vs depth", bandwidth_plot),
    "membership": ("Membership inference vs depth", membership_plot),
    "membership_roc": ("Membership ROC per depth (log–log)", membership_roc_plot),
    "time": ("Time to train vs depth", time_plot),
}


def all_plots(rows: Sequence[Row], pareto: Sequence[str], recommended: str | None) -> dict[str, bytes]:
    """Every figure of the report, keyed ``tradeoff`` and the keys of :data:`PLOTS`."""
    out = {"tradeoff": tradeoff_plot(rows, pareto, recommended)}
    out.update({key: fn(rows) for key, (_, fn) in PLOTS.items()})
    return out
