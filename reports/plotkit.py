"""Drawing helpers shared by the report's figures: style, PNG output, axes, and one line per *series*.

A series is a method under one ``--vary`` setting (``row["series"]``; the method alone without ``--vary``). Its
colour is the method's when the sweep varies nothing, else one of a qualitative palette. A value with an interval
(``<key>_low``/``<key>_high`` in the rows) is drawn with a translucent band.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from sflaudit.reports.tradeoffs import METHOD_LABELS  # noqa: E402

Row = dict[str, Any]
METHOD_COLORS: dict[str, str] = {"mocosfl": "#4C72B0", "monacosfl": "#DD8452"}
METHOD_MARKERS: dict[str, str] = {"mocosfl": "o", "monacosfl": "s"}
PALETTE: tuple[str, ...] = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3",
                            "#8C8C8C", "#CCB974", "#64B5CD")
DPI = 110


@contextmanager
def style() -> Iterator[None]:
    import seaborn as sns

    rc = {**sns.axes_style("whitegrid"), **sns.plotting_context("notebook", font_scale=0.85),
          "axes.titleweight": "bold", "axes.titlesize": 11, "legend.frameon": True, "legend.framealpha": 0.9,
          "savefig.facecolor": "white", "figure.facecolor": "white"}
    with matplotlib.rc_context(rc):
        yield


def png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def series_key(row: Row) -> str:
    """The series a row belongs to: its method, plus its ``--vary`` setting when there is one."""
    return row.get("series") or (f"{row['method']} · {row['setting_text']}" if row.get("setting_text")
                                 else row["method"])


def series_names(rows: Sequence[Row]) -> list[str]:
    """Every series, methods in their usual order, settings in the order they appear."""
    seen: list[str] = []
    for row in sorted(rows, key=lambda r: (r["method"] not in METHOD_COLORS, r["method"])):
        key = series_key(row)
        if key not in seen:
            seen.append(key)
    return seen


def series_label(key: str) -> str:
    method, _, setting = key.partition(" · ")
    name = METHOD_LABELS.get(method, method)
    return f"{name} · {setting}" if setting else name


def series_color(key: str, keys: Sequence[str]) -> str:
    if all(" · " not in k for k in keys):
        return METHOD_COLORS.get(key, PALETTE[keys.index(key) % len(PALETTE)])
    return PALETTE[keys.index(key) % len(PALETTE)]


def series_marker(key: str) -> str:
    return METHOD_MARKERS.get(key.partition(" · ")[0], "o")


def values(rows: Sequence[Row], key: str, column: str, scale: float = 1.0) -> tuple[list[int], list[float]]:
    """(depths, values) of series ``key`` where ``column`` has a value, by depth."""
    pts = sorted((r["depth"], r[column] / scale) for r in rows
                 if series_key(r) == key and r.get(column) is not None)
    return [d for d, _ in pts], [v for _, v in pts]


def depth_axis(ax: Any, rows: Sequence[Row]) -> None:
    depths = sorted({r["depth"] for r in rows})
    ax.set_xlabel("cut depth (client conv layers)")
    if depths and len(depths) <= 20:
        ax.set_xticks(depths)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if depths:
        ax.set_xlim(min(depths) - 0.5, max(depths) + 0.5)


def log_axis(ax: Any, which: str) -> None:
    """Log scale with plain numbers (``0.5``, ``2``, ``30``) instead of powers of ten. Minor ticks are labelled on
    short axes: all of them below a 4× span, only 2s and 5s below two decades, none beyond."""
    getattr(ax, f"set_{which}scale")("log")
    axis = getattr(ax, f"{which}axis")
    lo, hi = getattr(ax, f"get_{which}lim")()
    span = hi / lo if lo > 0 else float("inf")
    digits = "23456789" if span < 4 else "25" if span < 100 else ""
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in digits else ""))


def empty(ax: Any, text: str = "no finished cells yet") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#777")


def band(ax: Any, rows: Sequence[Row], key: str, column: str, color: str | None, scale: float = 1.0) -> None:
    """The interval of ``column`` for series ``key`` as a translucent band (where every point has one)."""
    xs, lo = values(rows, key, f"{column}_low", scale)
    xh, hi = values(rows, key, f"{column}_high", scale)
    if len(xs) >= 1 and xs == xh:
        if len(xs) == 1:
            ax.errorbar(xs, [(a + b) / 2 for a, b in zip(lo, hi)], yerr=[(b - a) / 2 for a, b in zip(lo, hi)],
                        fmt="none", color=color, alpha=0.5, capsize=3)
        else:
            ax.fill_between(xs, lo, hi, color=color, alpha=0.15, linewidth=0)


def lines(ax: Any, rows: Sequence[Row], specs: Sequence[tuple[str, str, str]], scale: float = 1.0) -> bool:
    """One line per (series, column) with its interval band; specs = (column, label suffix, linestyle), then the
    legend — or, when nothing was drawn, the "no finished cells yet" note. Returns whether anything was drawn.

    When every series has exactly the same values for a column (e.g. per-step bytes), it is drawn once, in grey,
    labelled with all of them, instead of one line hiding the others.
    """
    drawn = False
    keys = series_names(rows)
    for column, suffix, linestyle in specs:
        data = {k: values(rows, k, column, scale) for k in keys}
        shared = len(keys) > 1 and all(data[k] == data[keys[0]] for k in keys)
        groups = [(keys, "#555555")] if shared else [([k], series_color(k, keys)) for k in keys]
        for group, color in groups:
            xs, ys = data[group[0]]
            if not xs:
                continue
            name = " = ".join(series_label(k) for k in group)
            ax.plot(xs, ys, linestyle=linestyle, marker=series_marker(group[0]) if len(group) == 1 else "D",
                    markersize=5, color=color, label=f"{name} {suffix}".strip())
            if len(group) == 1:
                band(ax, rows, group[0], column, color, scale)
            drawn = True
    if drawn:
        ax.legend(loc="best", fontsize=8)
    else:
        empty(ax)
    return drawn
