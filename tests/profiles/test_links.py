"""Links: ``--link`` spec parsing (units, errors) and the named link profiles with their sources."""

from __future__ import annotations

import re

import pytest

from sflaudit.profiles.links import LINKS, Link, parse_link, resolve_link
from sflaudit.errors import SflauditError


def test_parse_link__the_issue_spec() -> None:
    link = parse_link("up=10Mbit,down=50Mbit,rtt=40ms")
    assert (link.up_bps, link.down_bps, link.rtt_s) == (10e6, 50e6, 0.04)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("up=512kbit/s,down=1.5Gbit/s,rtt=0.2s", (512e3, 1.5e9, 0.2)),
        ("up=800bit, down=2e3bit, rtt=250us", (800.0, 2000.0, 250e-6)),
        ("UP=10mbit,Down=50MBIT/s,rtt=40MS", (10e6, 50e6, 0.04)),       # tc-style lower case: m = mega
        ("rtt=0ms,down=1Gbit,up=1Gbit", (1e9, 1e9, 0.0)),               # any order, zero latency allowed
    ],
)
def test_parse_link__units(spec: str, expected: tuple[float, float, float]) -> None:
    link = parse_link(spec)
    assert (link.up_bps, link.down_bps, link.rtt_s) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty link spec"),
        ("up=10Mbit,down=50Mbit", "missing rtt"),
        ("up=10Mbit,down=50Mbit,rtt=40ms,loss=1", "keys are up, down, rtt"),
        ("up=10,down=50Mbit,rtt=40ms", "needs a number and a unit"),
        ("up=10MB,down=50Mbit,rtt=40ms", "unit 'MB' of up is not one of"),
        ("up=10Mbit,down=50Mbit,rtt=40min", "unit 'min' of rtt"),
        ("up=10Mbit,up=5Mbit,down=50Mbit,rtt=40ms", "up is given twice"),
        ("up=0Mbit,down=50Mbit,rtt=40ms", "up rate must be above 0"),
        ("up=10Mbit,down=50Mbit,rtt=-4ms", "needs a number and a unit"),
        ("10Mbit,50Mbit,40ms", "keys are up, down, rtt"),
    ],
)
def test_parse_link__bad_input_is_one_clear_error(spec: str, message: str) -> None:
    with pytest.raises(SflauditError) as info:
        parse_link(spec)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_link__seconds_per_byte() -> None:
    link = Link(up_bps=8e6, down_bps=16e6, rtt_s=0.0)
    assert link.up_seconds(1_000_000) == 1.0            # 1 MB = 8·10⁶ bit at 8 Mbit/s
    assert link.down_seconds(1_000_000) == 0.5


def test_describe__parses_back_to_the_same_link() -> None:
    link = parse_link("up=750kbit,down=1.6Mbit,rtt=150ms")
    assert link.describe() == "up=750kbit,down=1.6Mbit,rtt=150ms"
    assert parse_link(link.describe()) == link


def test_named_profiles__present_with_a_named_source_and_a_year() -> None:
    assert {"3g", "lte", "home-broadband", "datacenter"} <= set(LINKS)
    for name, link in LINKS.items():
        assert link.name == name and link.up_bps > 0 and link.down_bps > 0 and link.rtt_s > 0
        assert re.search(r"\b(19|20)\d\d\b", link.source), name
        assert re.search(r"Ookla|Lighthouse|WebPageTest|IEEE|FCC|3GPP", link.source), name


def test_named_profiles__numbers_as_their_sources_state_them() -> None:
    assert (LINKS["3g"].down_bps, LINKS["3g"].up_bps, LINKS["3g"].rtt_s) == (1.6e6, 750e3, 0.150)
    assert "1.6 Mbit/s down, 750 kbit/s up" in LINKS["3g"].source
    assert LINKS["datacenter"].rtt_s < LINKS["home-broadband"].rtt_s < LINKS["lte"].rtt_s < LINKS["3g"].rtt_s


def test_resolve_link__name_spec_and_name_with_overrides() -> None:
    assert resolve_link("lte") is LINKS["lte"]
    assert resolve_link("up=1Mbit,down=2Mbit,rtt=3ms") == Link(1e6, 2e6, 0.003)
    slower = resolve_link("lte,rtt=80ms")
    assert (slower.up_bps, slower.down_bps, slower.rtt_s) == (LINKS["lte"].up_bps, LINKS["lte"].down_bps, 0.08)
    assert slower.name == "lte (modified)"


def test_resolve_link__unknown_name_lists_the_profiles() -> None:
    with pytest.raises(SflauditError, match="unknown link 'fiber'.*lte.*datacenter"):
        resolve_link("fiber")
