"""Depth specs: ranges, steps, lists, validation against the architecture's depth range."""

from __future__ import annotations

import pytest

from sflaudit.profiles.depths import parse_depths
from sflaudit.errors import SflauditError


def test_parse_depths__inclusive_range() -> None:
    assert parse_depths("1..17", "resnet18") == list(range(1, 18))


def test_parse_depths__range_with_step() -> None:
    assert parse_depths("1..17:4", "resnet18") == [1, 5, 9, 13, 17]


def test_parse_depths__mix_of_numbers_and_ranges() -> None:
    assert parse_depths("3,5,7..9", "resnet18") == [3, 5, 7, 8, 9]


def test_parse_depths__sorted_without_repeats_and_spaces_ignored() -> None:
    assert parse_depths(" 9, 1..3 ,2", "resnet18") == [1, 2, 3, 9]


def test_parse_depths__explicit_valid_range_without_arch() -> None:
    assert parse_depths("1..19:6", valid=range(1, 20)) == [1, 7, 13, 19]


@pytest.mark.parametrize("spec", ["0", "18", "15..18"])
def test_parse_depths__out_of_range_lists_the_valid_range(spec: str) -> None:
    with pytest.raises(SflauditError, match=r"out of range for resnet18 \(1\.\.17\)"):
        parse_depths(spec, "resnet18")


def test_parse_depths__mobilenetv2_range_is_1_to_19() -> None:
    with pytest.raises(SflauditError, match=r"1\.\.19"):
        parse_depths("20", "mobilenetv2")


@pytest.mark.parametrize("spec", ["a..b", "1..", "..3", "1...3", "1..3:", "x", "1,,2", "", "3-5", "1..17:0"])
def test_parse_depths__bad_syntax_is_an_error_naming_the_range(spec: str) -> None:
    with pytest.raises(SflauditError, match=r"1\.\.17"):
        parse_depths(spec, "resnet18")


def test_parse_depths__backwards_range_is_an_error() -> None:
    with pytest.raises(SflauditError, match="backwards"):
        parse_depths("9..3", "resnet18")


def test_parse_depths__unknown_arch_is_an_error() -> None:
    with pytest.raises(SflauditError, match="vgg"):
        parse_depths("1", "vgg13")
