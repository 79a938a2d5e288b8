"""Parse the user's depth specs (``--depths``): ``a..b``, ``a..b:step``, comma lists and mixes.

>>> parse_depths("1,3,5..9", valid=range(1, 18))
[1, 3, 5, 6, 7, 8, 9]
"""

from __future__ import annotations

import re

from sflaudit.errors import SflauditError

_NUMBER = re.compile(r"^\d+$")
_RANGE = re.compile(r"^(\d+)\.\.(\d+)(?::(\d+))?$")
_EXAMPLES = "expected e.g. 5, 1..17, 1..17:2 or 1,3,5..9"


def range_text(valid: range) -> str:
    """``range(1, 18)`` → ``"1..17"`` (step ignored: depth ranges are contiguous)."""
    return f"{valid.start}..{valid.stop - 1}"


def _valid_range(arch: str | None, valid: range | None) -> range | None:
    if valid is not None or arch is None:
        return valid
    from sflaudit.models import depth_range  # core import, kept local so this module parses without models

    return depth_range(arch)


def _where(arch: str | None, valid: range | None) -> str:
    if valid is None:
        return ""
    return f" for {arch} ({range_text(valid)})" if arch else f" ({range_text(valid)})"


def _parse_item(item: str, spec: str, where: str) -> list[int]:
    if _NUMBER.match(item):
        return [int(item)]
    match = _RANGE.match(item)
    if not match:
        raise SflauditError(f"bad depth spec {spec!r} at {item!r}: {_EXAMPLES}{where}")
    first, last = int(match.group(1)), int(match.group(2))
    step = int(match.group(3)) if match.group(3) is not None else 1
    if step < 1:
        raise SflauditError(f"bad depth spec {spec!r}: step {step} must be at least 1{where}")
    if last < first:
        raise SflauditError(f"bad depth spec {spec!r}: range {item!r} runs backwards{where}")
    return list(range(first, last + 1, step))


def parse_depths(spec: str, arch: str | None = None, *, valid: range | None = None) -> list[int]:
    """Depths named by ``spec``, sorted and without repeats.

    Args:
        spec: comma-separated items, each ``d``, ``a..b`` (inclusive) or ``a..b:step``; spaces are ignored.
        arch: architecture whose ``depth_range`` bounds the depths (``sflaudit.models.depth_range``).
        valid: explicit valid range instead of ``arch``'s (for tests and other callers); ``None`` with no
            ``arch`` means no bound.
    Raises:
        SflauditError: bad syntax, empty spec, or a depth outside the valid range; the message lists the range.
    """
    bounds = _valid_range(arch, valid)
    where = _where(arch, bounds)
    text = spec.replace(" ", "")
    if not text:
        raise SflauditError(f"empty depth spec: {_EXAMPLES}{where}")
    depths: set[int] = set()
    for item in text.split(","):
        if not item:
            raise SflauditError(f"bad depth spec {spec!r}: empty item; {_EXAMPLES}{where}")
        depths.update(_parse_item(item, spec, where))
    if bounds is not None:
        for depth in sorted(depths):
            if depth not in bounds:
                name = arch if arch else "this architecture"
                raise SflauditError(f"depth {depth} is out of range for {name} ({range_text(bounds)})")
    return sorted(depths)
