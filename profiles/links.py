"""Network links of the time model: ``--link up=10Mbit,down=50Mbit,rtt=40ms`` and named link profiles.

A :class:`Link` is one client's access link to the server: its uplink and downlink rates in bit/s and its round-trip
time in seconds. The server's own link is not modelled (it is assumed to be a datacenter link, not the bottleneck).

>>> parse_link("up=10Mbit,down=50Mbit,rtt=40ms")
Link(up_bps=10000000.0, down_bps=50000000.0, rtt_s=0.04, name='', source='')

Rates are decimal (1 Mbit = 10⁶ bit, as network rates are quoted); bytes are 8 bits, so 1 MB (10⁶ bytes) takes 1 s
at 8 Mbit/s. Named profiles (:data:`LINKS`) round their public sources to the digits the source gives; they are
typical figures of a class of link, not measurements of any one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from sflaudit.errors import SflauditError

_RATE_UNITS: dict[str, float] = {"bit": 1.0, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9}
_TIME_UNITS: dict[str, float] = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6}
_QUANTITY = re.compile(r"^([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-zµ/]+)$", re.IGNORECASE)
_KEYS: tuple[str, ...] = ("up", "down", "rtt")
_EXAMPLE = "expected e.g. up=10Mbit,down=50Mbit,rtt=40ms (rates in bit/kbit/Mbit/Gbit[/s], rtt in s/ms/us)"


@dataclass(frozen=True)
class Link:
    """One client's link to the server."""

    up_bps: float        # client → server, bit/s
    down_bps: float      # server → client, bit/s
    rtt_s: float         # round-trip time, s (one message each way costs rtt/2 of propagation)
    name: str = ""       # a named profile's name ("" for a spec)
    source: str = ""     # where a named profile's numbers come from

    def up_seconds(self, nbytes: float) -> float:
        """Seconds to push ``nbytes`` bytes up at the uplink rate (no latency)."""
        return 8.0 * nbytes / self.up_bps

    def down_seconds(self, nbytes: float) -> float:
        """Seconds to pull ``nbytes`` bytes down at the downlink rate (no latency)."""
        return 8.0 * nbytes / self.down_bps

    def describe(self) -> str:
        """``up=10Mbit,down=50Mbit,rtt=40ms`` form of this link (prefixed by its name when it has one)."""
        text = f"up={_rate_text(self.up_bps)},down={_rate_text(self.down_bps)},rtt={_time_text(self.rtt_s)}"
        return f"{self.name} ({text})" if self.name else text


def _rate_text(bps: float) -> str:
    for unit, scale in (("Gbit", 1e9), ("Mbit", 1e6), ("kbit", 1e3)):
        if bps >= scale:
            return f"{bps / scale:g}{unit}"
    return f"{bps:g}bit"


def _time_text(seconds: float) -> str:
    if seconds >= 1.0 or seconds == 0.0:
        return f"{seconds:g}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:g}ms"
    return f"{seconds * 1e6:g}us"


# Named profiles. Rates and RTTs as the cited source states them, to its own precision.
LINKS: dict[str, Link] = {
    "3g": Link(
        up_bps=750e3, down_bps=1.6e6, rtt_s=0.150, name="3g",
        source="Lighthouse mobile throttling preset ('Slow 4G', formerly 'Fast 3G'; = WebPageTest 'Mobile 3G - "
               "Fast'): 150 ms, 1.6 Mbit/s down, 750 kbit/s up — GoogleChrome/lighthouse docs/throttling.md "
               "(2019–2024): about the top 25% of 3G / bottom 25% of 4G connections"),
    "lte": Link(
        up_bps=12.6e6, down_bps=56.7e6, rtt_s=0.037, name="lte",
        source="Ookla Speedtest Global Index, global mobile, August 2021: 56.74 Mbit/s down, 12.61 Mbit/s up, "
               "37 ms latency (mostly 4G/LTE tests that year; as reported 2021-09-17)"),
    "home-broadband": Link(
        up_bps=60.1e6, down_bps=110.2e6, rtt_s=0.019, name="home-broadband",
        source="Ookla Speedtest Global Index, global fixed broadband, August 2021: 110.24 Mbit/s down, "
               "60.13 Mbit/s up, 19 ms latency (as reported 2021-09-17)"),
    "dsl": Link(
        up_bps=384e3, down_bps=1.5e6, rtt_s=0.050, name="dsl",
        source="WebPageTest connectivity preset 'DSL': 1.5 Mbit/s down, 384 kbit/s up, 50 ms RTT "
               "(www/settings/connectivity.ini.sample, catchpoint/WebPageTest commit 0c6c27a, read 2026)"),
    "cable": Link(
        up_bps=1e6, down_bps=5e6, rtt_s=0.028, name="cable",
        source="WebPageTest connectivity preset 'Cable': 5 Mbit/s down, 1 Mbit/s up, 28 ms RTT "
               "(www/settings/connectivity.ini.sample, catchpoint/WebPageTest commit 0c6c27a, read 2026)"),
    "datacenter": Link(
        up_bps=10e9, down_bps=10e9, rtt_s=0.0005, name="datacenter",
        source="10 Gbit/s Ethernet (IEEE 802.3ae, 2002) each way; 0.5 ms round trip within a datacenter (Jeff "
               "Dean, 'Latency numbers every programmer should know', ~2010)"),
}


def _quantity(key: str, text: str, units: dict[str, float], spec: str) -> float:
    match = _QUANTITY.match(text.strip())
    if not match:
        raise SflauditError(f"bad link spec {spec!r}: {key}={text!r} needs a number and a unit; {_EXAMPLE}")
    unit = match.group(2).lower()
    unit = unit[:-2] if unit.endswith("/s") else unit
    if unit not in units:
        raise SflauditError(f"bad link spec {spec!r}: unit {match.group(2)!r} of {key} is not one of "
                            f"{', '.join(sorted(units))}; {_EXAMPLE}")
    return float(match.group(1)) * units[unit]


def parse_link(spec: str, *, base: Link | None = None) -> Link:
    """The link named by ``spec``: comma-separated ``up=RATE``, ``down=RATE``, ``rtt=TIME``.

    Args:
        spec: e.g. ``up=10Mbit,down=50Mbit,rtt=40ms``; rates take bit, kbit, Mbit, Gbit (case-insensitive, an
            optional ``/s``), times s, ms, us. Spaces are ignored.
        base: a link whose fields the spec overrides (then any subset of the keys may be given); without it all
            three keys are required.
    Raises:
        SflauditError: unknown or repeated key, a missing key, a bad number or unit, a rate ≤ 0 or a negative rtt.
    """
    text = spec.replace(" ", "")
    if not text:
        raise SflauditError(f"empty link spec: {_EXAMPLE}")
    values: dict[str, float] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.lower()
        if not sep or key not in _KEYS:
            raise SflauditError(f"bad link spec {spec!r} at {item!r}: keys are up, down, rtt; {_EXAMPLE}")
        if key in values:
            raise SflauditError(f"bad link spec {spec!r}: {key} is given twice")
        values[key] = _quantity(key, value, _TIME_UNITS if key == "rtt" else _RATE_UNITS, spec)
    missing = [k for k in _KEYS if k not in values]
    if missing and base is None:
        raise SflauditError(f"bad link spec {spec!r}: missing {', '.join(missing)}; {_EXAMPLE}")
    for key in ("up", "down"):
        if key in values and values[key] <= 0:
            raise SflauditError(f"bad link spec {spec!r}: {key} rate must be above 0")
    if base is not None:
        fields = {"up": "up_bps", "down": "down_bps", "rtt": "rtt_s"}
        return replace(base, **{fields[k]: v for k, v in values.items()})
    return Link(up_bps=values["up"], down_bps=values["down"], rtt_s=values["rtt"])


def resolve_link(text: str) -> Link:
    """A named profile (``lte``), a spec (``up=10Mbit,down=50Mbit,rtt=40ms``) or a name with overrides
    (``lte,rtt=80ms``: the profile's source no longer applies to the overridden numbers, its name says so).

    Raises:
        SflauditError: an unknown name (the message lists the profiles) or a bad spec.
    """
    head, _, rest = text.replace(" ", "").partition(",")
    if "=" in head:
        return parse_link(text)
    name = head.lower()
    if name not in LINKS:
        raise SflauditError(f"unknown link {head!r}: use one of {', '.join(LINKS)} or a spec; {_EXAMPLE}")
    if not rest:
        return LINKS[name]
    changed = parse_link(rest, base=LINKS[name])
    return replace(changed, name=f"{name} (modified)")
