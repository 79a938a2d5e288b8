"""The report's figures as PNG bytes (matplotlib Agg, seaborn style), drawn from :mod:`reports.collect` rows.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot state, no GUI backend) inside a seaborn
style context, so drawing them changes no global settings. Missing values (failed or unfinished cells) are left out
of the lines; a figure with no data at all says so instead of being empty.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from reports.collect import MIB  # noqa: E402
from reports.tradeoffs import METHOD_LABELS  # noqa: E402

Row = dict[str, Any]
METHOD_COLORS: dict[str, str] = {"mocosfl": "#4C72B0", "monacosfl": "#DD8452"}
METHOD_MARKERS: dict[str, str] = {"mocosfl": "o", "monacosfl": "s"}
DPI = 110


@contextmanager
def _style() -> Iterator[None]:
    import seaborn as sns

    rc = {**sns.axes_style("whitegrid"), **sns.plotting_context("notebook", font_scale=0.85),
          "axes.titleweight": "bold", "axes.titlesize": 11, "legend.frameon": True, "legend.framealpha": 0.9,
          "savefig.facecolor": "white", "figure.facecolor": "white"}
    with matplotlib.rc_context(rc):
        yield


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def _methods(rows: Sequence[Row]) -> list[str]:
    return sorted({r["method"] for r in rows}, key=lambda m: (m not in METHOD_COLORS, m))


def _series(rows: Sequence[Row], method: str, key: str, scale: float = 1.0) -> tuple[list[int], list[float]]:
    """(depths, values) of ``method`` where ``key`` has a value, by depth."""
    pts = sorted((r["depth"], r[key] / scale) for r in rows if r["method"] == method and r.get(key) is not None)
    return [d for d, _ in pts], [v for _, v in pts]


def _depth_axis(ax: Any, rows: Sequence[Row]) -> None:
    depths = sorted({r["depth"] for r in rows})
    ax.set_xlabel("cut depth (client conv layers)")
    if depths and len(depths) <= 20:
        ax.set_xticks(depths)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if depths:
        ax.set_xlim(min(depths) - 0.5, max(depths) + 0.5)


def _log_axis(ax: Any, which: str) -> None:
    """Log scale with plain numbers (``0.5``, ``2``, ``30``) instead of powers of ten. Minor ticks are labelled on
    short axes: all of them below a 4× span, only 2s and 5s below two decades, none beyond."""
    getattr(ax, f"set_{which}scale")("log")
    axis = getattr(ax, f"{which}axis")
    lo, hi = getattr(ax, f"get_{which}lim")()
    span = hi / lo if lo > 0 else float("inf")
    digits = "23456789" if span < 4 else "25" if span < 100 else ""
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in digits else ""))


def _empty(ax: Any, text: str = "no finished cells yet") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#777")


def _lines(ax: Any, rows: Sequence[Row], specs: Sequence[tuple[str, str, str]], scale: float = 1.0) -> bool:
    """One line per (method, key); specs = (key, label suffix, linestyle), then the legend — or, when nothing was
    drawn, the "no finished cells yet" note. Returns whether anything was drawn.

    When every method has exactly the same series for a key (e.g. per-step bytes), it is drawn once, in grey,
    labelled with all the methods, instead of one line hiding the other.
    """
    drawn = False
    methods = _methods(rows)
    for key, suffix, style in specs:
        series = {m: _series(rows, m, key, scale) for m in methods}
        shared = len(methods) > 1 and all(series[m] == series[methods[0]] for m in methods)
        groups = [(methods, "#555555")] if shared else [([m], METHOD_COLORS.get(m)) for m in methods]
        for group, color in groups:
            xs, ys = series[group[0]]
            if not xs:
                continue
            name = " = ".join(METHOD_LABELS.get(m, m) for m in group)
            ax.plot(xs, ys, linestyle=style, marker=METHOD_MARKERS.get(group[0], "o") if len(group) == 1 else "D",
                    markersize=5, color=color, label=f"{name} {suffix}".strip())
            drawn = True
    if drawn:
        ax.legend(loc="best", fontsize=8)
    else:
        _empty(ax)
    return drawn


def accuracy_plot(rows: Sequence[Row]) -> bytes:
    """kNN accuracy at the best evaluation (left) and linear-probe accuracy (right) against depth, both methods."""
    with _style():
        fig = Figure(figsize=(10.5, 3.9))
        left, right = fig.subplots(1, 2)
        for ax, key, title in ((left, "knn_best", "kNN monitor (best evaluation)"),
                               (right, "probe_best", "Linear probe on frozen features")):
            _lines(ax, rows, ((key, "", "-"),))
            ax.set_ylabel("test accuracy (%)")
            ax.set_title(f"{title} — higher is better")
            _depth_axis(ax, rows)
        fig.tight_layout()
        return _png(fig)


def attack_plot(rows: Sequence[Row]) -> bytes:
    """Attack quality against depth: SSIM (and LPIPS when measured) left, PSNR right."""
    with _style():
        fig = Figure(figsize=(10.5, 3.9))
        left, right = fig.subplots(1, 2)
        specs = [("attack_ssim", "SSIM", "-")]
        if any(r.get("attack_lpips") is not None for r in rows):
            specs.append(("attack_lpips", "LPIPS", ":"))
        _lines(left, rows, specs)
        left.set_ylabel("SSIM / LPIPS (0–1)")
        left.set_title("SSIM (lower = more private), LPIPS (higher = more private)")
        _lines(right, rows, (("attack_psnr", "PSNR", "-"),))
        right.set_ylabel("PSNR (dB)")
        right.set_title("Reconstruction PSNR (lower = more private)")
        for ax in (left, right):
            _depth_axis(ax, rows)
        fig.tight_layout()
        return _png(fig)


def membership_plot(rows: Sequence[Row]) -> bytes:
    """Membership-inference ROC AUC against depth, both scores, with the bootstrap interval as a band; 0.5 = chance."""
    with _style():
        fig = Figure(figsize=(10.5, 3.9))
        left, right = fig.subplots(1, 2)
        for ax, prefix, title in ((left, "mia", "View-similarity score (EncoderMI)"),
                                  (right, "mia_contrastive", "Contrastive-loss score")):
            _lines(ax, rows, ((f"{prefix}_auc", "AUC", "-"),))
            for m in _methods(rows):
                xs, lo = _series(rows, m, f"{prefix}_auc_low")
                xh, hi = _series(rows, m, f"{prefix}_auc_high")
                if xs and xs == xh:
                    ax.fill_between(xs, lo, hi, color=METHOD_COLORS.get(m), alpha=0.15, linewidth=0)
            ax.axhline(0.5, color="#888888", linestyle=":", linewidth=1)
            ax.set_ylabel("ROC AUC (0.5 = chance)")
            ax.set_title(f"{title} — lower is more private")
            _depth_axis(ax, rows)
        fig.tight_layout()
        return _png(fig)


def bandwidth_plot(rows: Sequence[Row]) -> bytes:
    """Bytes by direction against depth: one participating client per step (left), one client per run (right)."""
    with _style():
        fig = Figure(figsize=(10.5, 3.9))
        left, right = fig.subplots(1, 2)
        step = [("step_up", "up ↑", "-"), ("step_down", "down ↓", "--")]
        run = [("client_run_up", "up ↑", "-"), ("client_run_down", "down ↓", "--")]
        for ax, specs, title, unit in ((left, step, "Per step, one participating client", "MiB per step"),
                                       (right, run, "Whole run, one client", "MiB per client per run")):
            if _lines(ax, rows, specs, scale=MIB):
                _log_axis(ax, "y")
            ax.set_ylabel(f"{unit} (log)")
            ax.set_title(title)
            _depth_axis(ax, rows)
        fig.tight_layout()
        return _png(fig)


def tradeoff_plot(rows: Sequence[Row], pareto: Sequence[str], recommended: str | None = None) -> bytes:
    """kNN against MiB per client (log x); colour = attack SSIM; Pareto cells ringed and joined, the pick starred."""
    points = [r for r in rows if r.get("status") == "ok" and None not in
              (r.get("knn_best"), r.get("mb_per_client"), r.get("attack_ssim"))]
    with _style():
        fig = Figure(figsize=(10.5, 5.2))
        ax = fig.subplots()
        if not points:
            _empty(ax)
        else:
            ssims = [r["attack_ssim"] for r in points]
            lo, hi = min(ssims), max(ssims)
            sc = None
            for method in _methods(points):
                mine = [r for r in points if r["method"] == method]
                sc = ax.scatter([r["mb_per_client"] for r in mine], [r["knn_best"] for r in mine],
                                c=[r["attack_ssim"] for r in mine], cmap="viridis_r", vmin=lo, vmax=hi or 1.0,
                                s=70, marker=METHOD_MARKERS.get(method, "o"), edgecolors="white", linewidths=0.6,
                                label=METHOD_LABELS.get(method, method), zorder=3)
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
            _log_axis(ax, "x")
            cbar = fig.colorbar(sc, ax=ax, pad=0.02)
            cbar.set_label("attack SSIM (lower = more private)")
            ax.legend(handles=_tradeoff_legend(_methods(points), bool(front), pick is not None), loc="best",
                      fontsize=8)
        ax.set_xlabel("MiB per client per run (log; fewer is better)")
        ax.set_ylabel("kNN accuracy (%) (higher is better)")
        ax.set_title("Privacy–accuracy–bandwidth trade-off")
        fig.tight_layout()
        return _png(fig)


def _tradeoff_legend(methods: Sequence[str], front: bool, pick: bool) -> list[Line2D]:
    """Neutral legend handles (the colour of a point is its SSIM, not its method)."""
    handles = [Line2D([], [], linestyle="", marker=METHOD_MARKERS.get(m, "o"), markersize=8, color="#777",
                      label=METHOD_LABELS.get(m, m)) for m in methods]
    if front:
        handles.append(Line2D([], [], color="#C44E52", linestyle="--", marker="o", markersize=10,
                              markerfacecolor="none", markeredgewidth=1.6, label="Pareto front"))
    if pick:
        handles.append(Line2D([], [], linestyle="", marker="*", markersize=14, color="#C44E52",
                              markeredgecolor="black", label="recommended"))
    return handles


PLOTS: dict[str, tuple[str, Callable[..., bytes]]] = {
    "accuracy": ("Accuracy vs depth", accuracy_plot),
    "attack": ("Attack quality vs depth", attack_plot),
    "bandwidth": ("Bandwidth vs depth", bandwidth_plot),
    "membership": ("Membership inference vs depth", membership_plot),
}


def all_plots(rows: Sequence[Row], pareto: Sequence[str], recommended: str | None) -> dict[str, bytes]:
    """Every figure of the report, keyed ``tradeoff``, ``accuracy``, ``attack``, ``bandwidth``, ``membership``."""
    out = {"tradeoff": tradeoff_plot(rows, pareto, recommended)}
    out.update({key: fn(rows) for key, (_, fn) in PLOTS.items()})
    return out
