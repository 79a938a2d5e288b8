"""The JSON side of every run artifact: :class:`Artifact`, the versioned round trip of a frozen dataclass, and the
atomic read and write of one artifact file. Each document carries ``"format": "sflaudit-<kind>/<version>"``; another
version is refused in one line saying what to do. The run directory's artifacts (sflaudit.artifacts) and the sweep's
``sweep.json`` (sflaudit.reports.sweep.SweepManifest) share this base."""

from __future__ import annotations

import json
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from sflaudit.errors import SflauditError
from sflaudit.runs import atomic_write_json
from sflaudit.sfl.schedule import Schedule

A = TypeVar("A", bound="Artifact")


class Artifact:
    """JSON round trip shared by every artifact: ``format`` first, then the fields; nested Schedule objects."""

    FORMAT: ClassVar[str]
    REMEDY: ClassVar[str] = "re-run the stage that writes it"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": self.FORMAT}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.name] = value.to_json() if isinstance(value, Schedule) else value
        return out

    @classmethod
    def from_json(cls: type[A], data: Any, *, source: str) -> A:
        if not isinstance(data, dict):
            raise SflauditError(f"{source} is not an sflaudit {cls.__name__} record; {cls.REMEDY}")
        if data.get("format") != cls.FORMAT:
            found = data.get("format", "none (sflaudit 0.1)")
            raise SflauditError(f"{source} has format {found}, this sflaudit reads {cls.FORMAT}; {cls.REMEDY}")
        kwargs: dict[str, Any] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            if f.name not in data:
                if f.default is not MISSING or f.default_factory is not MISSING:
                    continue
                raise SflauditError(f"{source} lacks {f.name!r}; {cls.REMEDY}")
            value = data[f.name]
            kwargs[f.name] = Schedule.from_json(value) if f.name == "schedule" else value
        return cls(**kwargs)


def _read_doc(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SflauditError(f"{path} is not valid JSON: {exc}") from None
    except OSError as exc:
        raise SflauditError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_artifact(cls: type[A], path: Path) -> A | None:
    """The artifact at ``path``, None when the file does not exist; SflauditError when unreadable or foreign."""
    if not path.is_file():
        return None
    return cls.from_json(_read_doc(path), source=str(path))


def write_artifact(path: Path, artifact: Artifact) -> None:
    """Write an artifact atomically (temp file + rename)."""
    atomic_write_json(path, artifact.to_json())
