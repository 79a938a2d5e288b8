"""A cell's load-once scope: the stages of one sweep cell (train, profile, eval, every attack, membership) share one
parsed config, one dataset and one client 0 instead of each reading them again.

Inside ``with stage_memo() as memo:`` the loaders that consult :func:`memoized` (``config_from_toml``,
``load_dataset``, ``read_checkpoint``, ``load_client0``) compute each distinct value once; ``memo.loads`` counts the
real loads per kind. Outside any scope :func:`memoized` just calls the loader, so a single command behaves as before.
Keys name what the value depends on (a checkpoint's path, size and modification time, so a rewritten best.pt is read
again). Values must be treated as read-only by their users; loaders that hand out mutable data return copies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")


class StageMemo:
    """Values by (kind, key) and how many times each kind was really loaded."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, Hashable], Any] = {}
        self.loads: Counter[str] = Counter()

    def get(self, kind: str, key: Hashable, load: Callable[[], T]) -> T:
        slot = (kind, key)
        if slot not in self.values:
            self.values[slot] = load()
            self.loads[kind] += 1
        return self.values[slot]


_ACTIVE: ContextVar[StageMemo | None] = ContextVar("sflaudit_stage_memo", default=None)


@contextmanager
def stage_memo() -> Iterator[StageMemo]:
    """Open a load-once scope (nested scopes share the outer one)."""
    outer = _ACTIVE.get()
    if outer is not None:
        yield outer
        return
    memo = StageMemo()
    token = _ACTIVE.set(memo)
    try:
        yield memo
    finally:
        _ACTIVE.reset(token)


def memoized(kind: str, key: Hashable, load: Callable[[], T]) -> T:
    """``load()`` once per (kind, key) inside a :func:`stage_memo` scope; every time outside one."""
    memo = _ACTIVE.get()
    return load() if memo is None else memo.get(kind, key, load)
