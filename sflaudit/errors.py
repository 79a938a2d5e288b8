"""The project's one exception type: every user-facing failure is a one-line :class:`SflauditError`."""

from __future__ import annotations


class SflauditError(Exception):
    """A failure caused by user input or a bad file; the CLI prints its message on one line and exits 2.

    The message names the offending value and, where there is one, the valid range, e.g.
    ``depth 18 is out of range for resnet18 (1..17)``.
    """


def first_line(exc: BaseException, *, with_type: bool = False) -> str:
    """The first non-empty line of ``str(exc)`` (stripped), or the type name when the text is empty.

    ``with_type`` prefixes ``"TypeName: "`` to a non-empty line, e.g. ``KeyError: 'x'``; an empty text gives the
    bare type name either way.
    """
    line = next((part.strip() for part in str(exc).splitlines() if part.strip()), "")
    if not line:
        return type(exc).__name__
    return f"{type(exc).__name__}: {line}" if with_type else line
