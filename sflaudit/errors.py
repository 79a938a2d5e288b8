"""The project's one exception type: every user-facing failure is a one-line :class:`SflauditError`."""

from __future__ import annotations


class SflauditError(Exception):
    """A failure caused by user input or a bad file; the CLI prints its message on one line and exits 2.

    The message names the offending value and, where there is one, the valid range, e.g.
    ``depth 18 is out of range for resnet18 (1..17)``.
    """
