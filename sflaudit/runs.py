"""Run directory layout (DESIGN.md §3), atomic writes, metrics.jsonl and checkpoint loading."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sflaudit.errors import SflauditError

CKPT_FORMAT = "sflaudit-ckpt/1"


def _atomic(path: Path, write: Any) -> None:
    """Write through a temp file in the same folder, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
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
    _atomic(Path(path), lambda fh: torch.save(obj, fh))


def append_jsonl(path: str | Path, obj: dict[str, Any]) -> None:
    """Append one JSON object as a line (metrics.jsonl is append-only)."""
    with open(path, "a") as fh:
        fh.write(json.dumps(obj, allow_nan=True) + "\n")
        fh.flush()


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


def read_json(path: str | Path) -> Any:
    p = Path(path)
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        raise SflauditError(f"{p} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SflauditError(f"{p} is not valid JSON: {exc}") from None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load an sflaudit checkpoint safely (``weights_only=True``); one-line errors for missing/corrupt/foreign files."""
    p = Path(path)
    if not p.is_file():
        raise SflauditError(f"checkpoint {p} does not exist")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a corrupt or unsafe file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SflauditError(f"checkpoint {p} cannot be read (corrupt or not an sflaudit checkpoint): {first}") from None
    if not isinstance(obj, dict) or obj.get("format") != CKPT_FORMAT:
        raise SflauditError(f"{p} is not an sflaudit checkpoint (expected format {CKPT_FORMAT})")
    return obj


@dataclass(frozen=True)
class RunDir:
    """Paths of one run directory; ``summary.json`` marks a complete run."""

    path: Path

    @property
    def config(self) -> Path:
        return self.path / "config.toml"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def traffic(self) -> Path:
        return self.path / "traffic.json"

    @property
    def ckpt(self) -> Path:
        return self.path / "ckpt.pt"

    @property
    def best(self) -> Path:
        return self.path / "best.pt"

    @property
    def summary(self) -> Path:
        return self.path / "summary.json"

    @property
    def invert_json(self) -> Path:
        return self.path / "invert.json"

    @property
    def invert_png(self) -> Path:
        return self.path / "invert.png"

    @property
    def profile(self) -> Path:
        return self.path / "profile.json"

    def is_complete(self) -> bool:
        return self.summary.is_file()
