"""Unpickling with an allow-list of globals: files from outside (CIFAR batches, LPIPS checkpoints) run no code.

A pickle can call any importable function while it loads (``os.system`` via ``__reduce__``). Every global it
names goes through :meth:`RestrictedUnpickler.find_class`, which refuses all but the allowed ``(module, name)``
pairs — plain containers, strings, bytes and numbers need none; numpy arrays need :data:`NUMPY_ARRAY_GLOBALS`.
"""

from __future__ import annotations

import importlib
import importlib.util
import pickle
from collections.abc import Iterable
from typing import IO, Any

NUMPY_ARRAY_GLOBALS: frozenset[tuple[str, str]] = frozenset({
    ("numpy.core.multiarray", "_reconstruct"),   # how numpy < 2 pickles an ndarray
    ("numpy._core.multiarray", "_reconstruct"),  # numpy ≥ 2
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
})  # fmt: skip


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list; nothing of it was called."""


class RestrictedUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` that resolves only the ``allowed`` globals and refuses every other one.

    ``numpy.core.*`` names (written by numpy < 2) are looked up in ``numpy._core`` where that exists, so old
    pickles load on numpy 2 without its deprecation shim.
    """

    def __init__(self, file: IO[bytes], *, allowed: Iterable[tuple[str, str]] = (), **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self.allowed = frozenset(allowed)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.allowed:
            raise UnsafePickleError(f"refusing to load {module}.{name}")
        if module.startswith("numpy.core.") and importlib.util.find_spec("numpy._core") is not None:
            module = "numpy._core." + module[len("numpy.core."):]
        return getattr(importlib.import_module(module), name)


def restricted_load(file: IO[bytes], *, allowed: Iterable[tuple[str, str]] = (), encoding: str = "ASCII") -> Any:
    """``pickle.load`` that refuses any global not in ``allowed`` (:class:`UnsafePickleError`).

    ``encoding="latin1"`` reads Python 2 pickles (the CIFAR batches) as numpy needs.
    """
    return RestrictedUnpickler(file, allowed=allowed, encoding=encoding).load()
