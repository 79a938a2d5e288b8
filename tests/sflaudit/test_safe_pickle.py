"""The restricted unpickler: only allow-listed globals resolve; nothing else is imported or called."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from sflaudit.safe_pickle import NUMPY_ARRAY_GLOBALS, UnsafePickleError, restricted_load


class _Calls:
    """Pickles as ``func(*args)``: what a hostile file holds."""

    def __init__(self, func: object, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple:
        return (self.func, self.args)


def test_restricted_load__refuses_os_system_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    raw = pickle.dumps({"data": _Calls(os.system, f"touch {marker}")})
    with pytest.raises(UnsafePickleError, match=r"refusing to load (posix|nt)\.system"):
        restricted_load(io.BytesIO(raw), allowed=NUMPY_ARRAY_GLOBALS)
    assert not marker.exists()


def test_restricted_load__refuses_builtins_too() -> None:
    raw = pickle.dumps(_Calls(eval, "1 + 1"))
    with pytest.raises(UnsafePickleError, match=r"refusing to load builtins\.eval"):
        restricted_load(io.BytesIO(raw), allowed=NUMPY_ARRAY_GLOBALS)


def test_restricted_load__plain_containers_need_no_globals() -> None:
    entry = {"labels": [3, 1], "batch_label": "b1", "raw": b"\x00\xff", "scale": 0.5, "pair": (1, None)}
    assert restricted_load(io.BytesIO(pickle.dumps(entry))) == entry


def test_restricted_load__numpy_arrays_load_only_when_allowed() -> None:
    raw = pickle.dumps({"data": np.arange(6, dtype=np.uint8).reshape(2, 3)}, protocol=4)
    loaded = restricted_load(io.BytesIO(raw), allowed=NUMPY_ARRAY_GLOBALS)
    assert loaded["data"].dtype == np.uint8 and loaded["data"].tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(UnsafePickleError, match="multiarray._reconstruct"):
        restricted_load(io.BytesIO(raw))


def test_restricted_load__numpy1_module_names_resolve_on_numpy2() -> None:
    raw = pickle.dumps(np.array([7, 9], np.uint8), protocol=3)  # protocol 3: globals as text lines, no frames
    old = raw.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert b"numpy.core.multiarray" in old
    assert restricted_load(io.BytesIO(old), allowed=NUMPY_ARRAY_GLOBALS).tolist() == [7, 9]
