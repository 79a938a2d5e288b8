"""The checkpoint file format (``ckpt.pt``, ``best.pt``): a :class:`~sflaudit.artifacts.Checkpoint` on disk.

What goes into a checkpoint is the trainer's business (``Trainer.state_dict``); this module only writes one
atomically and reads one back safely (``torch.load(weights_only=True)`` on the CPU).
"""

from __future__ import annotations

from pathlib import Path

import torch

from sflaudit.artifacts import Checkpoint
from sflaudit.errors import SflauditError, first_line
from sflaudit.memo import memoized
from sflaudit.runs import atomic_torch_save


def write_checkpoint(ckpt: Checkpoint, path: str | Path) -> None:
    """Write ``ckpt`` to ``path`` atomically (temp file + fsync + rename)."""
    atomic_torch_save(ckpt.to_state(), Path(path))


def read_checkpoint(path: str | Path) -> Checkpoint:
    """The checkpoint at ``path``; a one-line SflauditError when it is missing, corrupt or not an sflaudit file."""
    p = Path(path)
    if not p.is_file():
        raise SflauditError(f"checkpoint {p} does not exist")
    stat = p.stat()
    return memoized("checkpoint", (str(p.resolve()), stat.st_size, stat.st_mtime_ns), lambda: _read(p))


def _read(p: Path) -> Checkpoint:
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a corrupt or unsafe file
        raise SflauditError(f"checkpoint {p} cannot be read (corrupt or not an sflaudit checkpoint): "
                            f"{first_line(exc)}") from None
    return Checkpoint.from_state(obj, source=str(p))
