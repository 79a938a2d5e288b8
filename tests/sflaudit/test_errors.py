"""``first_line``: the one line of an exception that a one-line error message quotes."""

from __future__ import annotations

from sflaudit.errors import first_line


def test_first_line__skips_leading_blank_lines_and_strips() -> None:
    exc = RuntimeError("\n  \n  size mismatch for conv1.weight  \n  copying a param with shape ...\n")
    assert first_line(exc) == "size mismatch for conv1.weight"


def test_first_line__with_type_prefixes_the_type_name() -> None:
    assert first_line(ValueError("bad value\nmore"), with_type=True) == "ValueError: bad value"


def test_first_line__empty_text_is_the_type_name() -> None:
    assert first_line(EOFError()) == "EOFError"
    assert first_line(KeyError(""), with_type=True) == "KeyError: ''"  # str(KeyError('')) is "''"
    assert first_line(OSError("  \n "), with_type=True) == "OSError"
