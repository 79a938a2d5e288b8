"""Step/epoch/sync arithmetic and learning-rate schedules (protocol §1.4–§1.6), as pure functions."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sflaudit.config import Config
from sflaudit.errors import SflauditError


@dataclass(frozen=True)
class Schedule:
    """How a run is laid out in steps: what the trainer does and what the analytic traffic counts."""

    steps_per_epoch: int            # num_batch = ceil(|client 0's data| / B)
    epochs: int                     # effective epochs = base epochs · int(1 / sampling_ratio)
    pool_size: int                  # clients per epoch = int(sampling_ratio · N)
    clients: int                    # N
    sync_batches: tuple[int, ...]   # batch indices after which a sync happens
    rows_per_client: int            # query (and key) rows one pool client sends per step: 2B or B

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    @property
    def syncs_per_epoch(self) -> int:
        return len(self.sync_batches)

    @property
    def total_syncs(self) -> int:
        return self.syncs_per_epoch * self.epochs

    def sync_number(self, epoch: int, batch: int) -> int:
        """1-based number, over the whole run, of the sync that follows ``batch`` (one of ``sync_batches``) of
        ``epoch``: the ``s`` a :class:`~sflaudit.sfl.strategies.SyncStrategy` plans for."""
        return epoch * self.syncs_per_epoch + self.sync_batches.index(batch) + 1

    def to_json(self) -> dict[str, int | list[int]]:
        """The one serialised form (summary.json, profile.json): every field, ``sync_batches`` as a list."""
        return {"steps_per_epoch": self.steps_per_epoch, "epochs": self.epochs, "pool_size": self.pool_size,
                "clients": self.clients, "sync_batches": list(self.sync_batches),
                "rows_per_client": self.rows_per_client}

    @classmethod
    def from_json(cls, data: dict) -> Schedule:
        """Inverse of :meth:`to_json` (SflauditError on a missing or mistyped field)."""
        try:
            return cls(steps_per_epoch=int(data["steps_per_epoch"]), epochs=int(data["epochs"]),
                       pool_size=int(data["pool_size"]), clients=int(data["clients"]),
                       sync_batches=tuple(int(b) for b in data["sync_batches"]),
                       rows_per_client=int(data["rows_per_client"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise SflauditError(f"schedule record is incomplete or mistyped ({exc!r})") from None


def sync_batches(num_batch: int, avg_freq: int) -> tuple[int, ...]:
    """Batch indices (0-based, within an epoch) followed by a sync.

    With ``I = num_batch // avg_freq`` a sync follows every batch with ``batch % I == I - 1`` and the last batch of
    the epoch (protocol §1.5). Example: 125 batches, avg_freq 10 → I = 12 → 11 syncs.
    """
    if avg_freq > num_batch:
        raise SflauditError(
            f"sfl.avg_freq = {avg_freq} is larger than the {num_batch} steps per epoch (valid: 1..{num_batch})"
        )
    interval = num_batch // avg_freq
    marks = {b for b in range(num_batch) if b % interval == interval - 1}
    marks.add(num_batch - 1)
    return tuple(sorted(marks))


def effective_epochs(epochs: int, sampling_ratio: float) -> int:
    """Base epochs × int(1 / ratio) (protocol §1.4): every client is still visited ≈ ``epochs`` times."""
    return epochs * max(1, int(1.0 / sampling_ratio + 1e-9))


def pool_size(clients: int, sampling_ratio: float) -> int:
    return max(1, int(sampling_ratio * clients + 1e-9))


def rows_per_client(batch: int, symmetric: str) -> int:
    """Rows one pool client sends per step and tensor kind (query, key; and gets back as gradients).

    Args:
        batch: B, images per client per step.
        symmetric: ``ssl.symmetric`` — ``client`` (both view orders on the client: 2B rows) or ``original`` (B).
    """
    if symmetric not in ("client", "original"):
        raise SflauditError(f"symmetric {symmetric!r} is not one of client, original")
    return 2 * batch if symmetric == "client" else batch


def plan_schedule(cfg: Config, client0_size: int) -> Schedule:
    """The schedule of a run whose client 0 holds ``client0_size`` images."""
    if client0_size < 1:
        raise SflauditError("client 0 holds no training images: use fewer clients or more data")
    num_batch = math.ceil(client0_size / cfg.sfl.batch)
    return Schedule(
        steps_per_epoch=num_batch,
        epochs=effective_epochs(cfg.optim.epochs, cfg.sfl.sampling_ratio),
        pool_size=pool_size(cfg.sfl.clients, cfg.sfl.sampling_ratio),
        clients=cfg.sfl.clients,
        sync_batches=sync_batches(num_batch, cfg.sfl.avg_freq),
        rows_per_client=rows_per_client(cfg.sfl.batch, cfg.ssl.symmetric),
    )


def cosine_lr(base: float, t: int, t_max: int) -> float:
    """PyTorch's CosineAnnealingLR in closed form, continuing periodically past ``t_max`` (quirk Q1)."""
    return base * (1.0 + math.cos(math.pi * t / t_max)) / 2.0


def multistep_lr(base: float, t: int, t_max: int, gamma: float) -> float:
    """Step decay by ``gamma`` at 60% and 80% of ``t_max``."""
    milestones = (int(0.6 * t_max), int(0.8 * t_max))
    return base * gamma ** sum(t >= m for m in milestones)


def scheduled_lr(kind: str, base: float, t: int, t_max: int, *, gamma: float) -> float:
    """LR after ``t`` scheduler steps for schedule ``kind`` (cosine | multistep)."""
    if kind == "cosine":
        return cosine_lr(base, t, t_max)
    return multistep_lr(base, t, t_max, gamma)
