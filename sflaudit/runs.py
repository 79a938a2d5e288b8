"""Atomic writes (temp file + fsync + rename) and the append-only metrics.jsonl; run-directory files are typed in
sflaudit.artifacts."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from sflaudit.errors import SflauditError


def _write_failed(path: Path, exc: OSError) -> SflauditError:
    """One line for an OS-level write failure of ``path`` (ENOSPC, EDQUOT, EIO, EROFS, ...)."""
    reason = exc.strerror or str(exc)
    keep = f"; the previous {path.name} is unchanged" if path.exists() else ""
    return SflauditError(f"cannot write {path}: {reason}{keep}")


def _atomic(path: Path, write: Any) -> None:
    """Write through a temp file in the same folder, fsync, then rename over ``path``.

    Any OS-level failure (a full disk, a quota, a read-only or vanished folder) removes the temp file, leaves the
    previous ``path`` as it was and raises :class:`SflauditError` with one line naming the file and the reason."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _write_failed(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _write_failed(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    _atomic(Path(path), lambda fh: fh.write(data))


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=True) + "\n")


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` through :func:`_atomic`. The archive is built in memory first: torch's zip writer turns an
    ENOSPC into an opaque RuntimeError, while a plain write of the finished bytes raises the OSError itself."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    _atomic(Path(path), lambda fh: fh.write(buf.getbuffer()))


def append_jsonl(path: str | Path, obj: dict[str, Any]) -> None:
    """Append one JSON object as a line (metrics.jsonl is append-only). A failed append (a full disk) is cut back
    to the file's previous length, so no torn line stays behind, and raises :class:`SflauditError`."""
    p = Path(path)
    line = memoryview((json.dumps(obj, allow_nan=True) + "\n").encode())
    try:
        fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _write_failed(p, exc) from None
    try:
        size = os.fstat(fd).st_size
        try:
            while line:
                line = line[os.write(fd, line):]
        except OSError as exc:
            os.ftruncate(fd, size)
            raise _write_failed(p, exc) from None
    finally:
        os.close(fd)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """All complete lines of a JSONL file (a torn last line from a crash is ignored)."""
    p = Path(path)
    if not p.exists():
        return []
    rows = []
    for line in p.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows
