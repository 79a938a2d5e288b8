"""Time to train per report row: the time model of :mod:`sflaudit.profiles.timemodel` on each cell's own profile.

Every client is on the same device and link; the server on its own device. The defaults are an LTE link (median
mobile speeds) and a Raspberry Pi 4 client against an A100 server (both named profiles, with their sources in
:mod:`sflaudit.profiles.links` and :mod:`sflaudit.profiles.devices`); ``sflaudit report --link/--client-device/--server-device``
changes them. The columns are ``hours`` and its ``hours_compute``/``hours_transfer``/``hours_latency`` parts and
``time_bottleneck``; rows without a profile get None.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sflaudit.artifacts import RunDir
from sflaudit.errors import SflauditError

DEFAULT_LINK = "lte"
DEFAULT_CLIENT = "raspberry-pi-4"
DEFAULT_SERVER = "a100"


@dataclass(frozen=True)
class TimeSetting:
    """The link and devices the time-to-train column assumes, resolved, with a sentence for the page."""

    link: Any              # sflaudit.profiles.links.Link
    client_flops: float
    server_flops: float
    text: str


def time_setting(link: str | None, client: str | None, server: str | None, *, threads: int = 0) -> TimeSetting:
    """Resolve the report's time options (None = the defaults above)."""
    from sflaudit.profiles.devices import resolve_device
    from sflaudit.profiles.links import resolve_link

    ln = resolve_link(link or DEFAULT_LINK)
    cd = resolve_device(client or DEFAULT_CLIENT, threads=threads)
    sd = resolve_device(server or DEFAULT_SERVER, threads=threads)
    text = (f"every client on {ln.describe()} with a {cd.name} ({cd.flops / 1e9:.3g} GFLOP/s sustained), the server "
            f"a {sd.name} ({sd.flops / 1e12:.3g} TFLOP/s)")
    return TimeSetting(ln, cd.flops, sd.flops, text)


def add_time_columns(rows: Sequence[dict[str, Any]], cells: Iterable[Any], setting: TimeSetting) -> None:
    """Add the time columns to ``rows`` (matched to ``cells`` by name) in place, from each cell's profile.json."""
    from sflaudit.profiles.timemodel import row_run_time

    by_name = {c.name: c for c in cells}
    for row in rows:
        cell = by_name.get(row["cell"])
        row.update(hours=None, hours_compute=None, hours_transfer=None, hours_latency=None, time_bottleneck=None)
        if cell is None:
            continue
        try:
            profile = RunDir(Path(cell.run_dir)).read_profile()
        except SflauditError:
            continue
        if profile is None or profile.row.get("client_flops") is None:
            continue
        rt = row_run_time(profile.row, cell.config(), profile.schedule, setting.link, setting.client_flops,
                          setting.server_flops, cell.method)
        row.update(hours=rt.hours, hours_compute=rt.run.compute / 3600.0, hours_transfer=rt.run.transfer / 3600.0,
                   hours_latency=rt.run.latency / 3600.0, time_bottleneck=rt.run.bottleneck)
