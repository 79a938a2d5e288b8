"""Typed run artifacts: every file of a run directory as a frozen dataclass, and :class:`RunDir`, the only place
that spells their file names and JSON keys (the schema is in docs/architecture.md). The JSON documents share
:class:`sflaudit.artifact_json.Artifact` (``"format": "sflaudit-<kind>/<version>"``, another version refused)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from sflaudit.artifact_json import Artifact, read_artifact, write_artifact
from sflaudit.errors import SflauditError
from sflaudit.runs import atomic_write_bytes, atomic_write_text
from sflaudit.sfl.schedule import Schedule


@dataclass(frozen=True)
class Summary(Artifact):
    """``summary.json``: what training produced. Written last, so its presence means training is complete."""

    FORMAT: ClassVar[str] = "sflaudit-summary/2"
    REMEDY: ClassVar[str] = "retrain it with --force (or delete the run directory)"

    train_id: str
    method: str
    arch: str
    depth: int
    epochs: int
    steps: int
    schedule: Schedule
    knn_final: float | None
    knn_best: float | None
    final_loss: float | None
    wall_time_s: float
    knn_monitor_s: float
    knn_monitor_share: float | None
    steps_per_s: float | None
    images_per_s: float | None
    traffic_total: dict[str, int]


@dataclass(frozen=True)
class Evaluation(Artifact):
    """``evals/<eval id>.json``: kNN and linear probe of one checkpoint under one evaluation setting."""

    FORMAT: ClassVar[str] = "sflaudit-eval/1"
    eval_id: str
    settings: dict[str, Any]
    checkpoint: str
    step: int
    knn: float | None
    linear_probe_best: float | None
    linear_probe_last: float | None
    wall_s: float
    test_images: int | None = None      # test-split size the accuracies are measured on (for their intervals)


@dataclass(frozen=True)
class AttackRecord(Artifact):
    """``attacks/<attack id>/invert.json``: one attack's metrics on one checkpoint, with its threat model."""

    FORMAT: ClassVar[str] = "sflaudit-invert/2"
    attack_id: str
    settings: dict[str, Any]            # the attack identity (sflaudit.stages.attack_settings) + protocol details
    threat_model: dict[str, Any]        # what the attacker holds: weights?, aux size and source, checkpoint
    run: dict[str, Any]                 # arch, depth, width, method, dataset, image size, activation shape
    mean: dict[str, float | None]       # mse, psnr, ssim, ssim_ref, lpips (means over the targets)
    metrics: dict[str, Any]             # per-image lists and summary statistics
    lpips: dict[str, Any]               # status, reason, weights
    training: dict[str, Any]            # the attack's own training curve (decoder), best epoch
    attack_wall_s: float
    wall_s: float


@dataclass(frozen=True)
class MembershipRecord(Artifact):
    """``membership/<id>.json``: a label-free membership-inference audit of one checkpoint."""

    FORMAT: ClassVar[str] = "sflaudit-membership/1"
    membership_id: str
    settings: dict[str, Any]
    threat_model: dict[str, Any]
    scores: dict[str, dict[str, float | None]]   # per score: auc, auc_low, auc_high, tpr_at_1fpr, tpr_at_10fpr
    per_client_auc: dict[str, list[float | None]]  # per score: AUC of each client's members vs the non-members
    members: list[int]                             # training-split indices (the clients' partitions)
    member_clients: list[int]
    nonmembers: list[int]                          # indices into nonmember_source
    nonmember_source: str                          # "test" | "train-unused"
    wall_s: float


@dataclass(frozen=True)
class RunProfile(Artifact):
    """``profile.json``: the analytic profile of the run's depth and the traffic of its own method."""

    FORMAT: ClassVar[str] = "sflaudit-profile/2"
    arch: str
    depth: int
    method: str
    schedule: Schedule
    sent: list[list[int]]               # C,H,W of each tensor sent per image
    client_params: int
    client_flops: int | None
    server_flops: int | None
    step_up: int                        # bytes of one step, all pool clients, the run's symmetric mode
    step_down: int
    sync_up: int                        # bytes of one sync (all clients), the run's method
    sync_down: int
    run_up: int                         # whole run, all clients
    run_down: int
    client_run_up: int                  # whole run, one client that is in every pool
    client_run_down: int
    analytic_traffic: dict[str, Any]    # sflaudit.profiles.runtraffic.RunTraffic.as_dict()
    row: dict[str, Any]                 # the full `sflaudit profile` row of this depth
    config: dict[str, Any]


@dataclass(frozen=True)
class Traffic(Artifact):
    """``traffic.json``: bytes metered on the link, by direction, kind and client, with step and sync counts."""

    FORMAT: ClassVar[str] = "sflaudit-traffic/2"
    wire_dtype: str
    total: dict[str, int]
    by_kind: dict[str, dict[str, int]]
    per_client: dict[str, dict[str, int]]
    steps: int
    syncs: int
    per_step: dict[str, int]
    per_sync: dict[str, int]

    def matches(self, analytic: dict[str, Any]) -> bool:
        """Equal to the analytic count (``RunProfile.analytic_traffic``) on totals, kinds, steps and syncs."""
        return (self.total == analytic.get("total") and self.by_kind == analytic.get("by_kind")
                and self.steps == analytic.get("steps") and self.syncs == analytic.get("syncs"))


@dataclass(frozen=True)
class ErrorRecord(Artifact):
    """``error.json``: the stage of a sweep cell that failed, with the error's first line."""

    FORMAT: ClassVar[str] = "sflaudit-error/1"
    stage: str
    error: str
    type: str
    cell: str


@dataclass(frozen=True)
class Checkpoint:
    """``ckpt.pt`` / ``best.pt`` (containers and tensors, weights_only); ``trainer``: resume state (None in best.pt)."""

    FORMAT: ClassVar[str] = "sflaudit-ckpt/2"
    config: str                                 # the resolved config (TOML) the run was trained with
    step: int
    epoch: int
    batch: int
    clients_online: list[dict[str, Any]]        # N client state_dicts
    clients_momentum: list[dict[str, Any]]
    server_online: dict[str, Any]               # server backbone + projector
    server_momentum: dict[str, Any]
    queue: Any                                  # K×D key queue tensor
    queue_ptr: int
    knn: float | None                           # kNN at this checkpoint's last evaluation
    trainer: dict[str, Any] | None = None
    hijack: dict[str, Any] | None = None        # an active server's state (attacker.kind ≠ none), else absent

    def to_state(self) -> dict[str, Any]:
        return {"format": self.FORMAT, **{f.name: getattr(self, f.name) for f in fields(self)
                                          if not (f.name == "hijack" and self.hijack is None)}}

    @classmethod
    def from_state(cls, obj: Any, *, source: str) -> Checkpoint:
        """Validate a loaded checkpoint object (format /2; format /1 of sflaudit 0.1 is read too)."""
        if not isinstance(obj, dict) or obj.get("format") not in (cls.FORMAT, "sflaudit-ckpt/1"):
            raise SflauditError(f"{source} is not an sflaudit checkpoint (expected format {cls.FORMAT})")
        names = [f.name for f in fields(cls) if f.name not in ("trainer", "hijack")]
        missing = [n for n in names if n not in obj]
        if missing:
            raise SflauditError(f"{source} lacks {', '.join(missing)}: not a complete sflaudit checkpoint")
        trainer = obj.get("trainer")
        if obj["format"] == "sflaudit-ckpt/1" and "optim" in obj:   # 0.1 kept the resume state at top level
            trainer = {k: v for k, v in obj.items() if k not in names and k != "format"}
        return cls(**{n: obj[n] for n in names}, trainer=trainer, hijack=obj.get("hijack"))


@dataclass(frozen=True)
class RunDir:
    """One run directory: its paths, and typed reads/writes of its artifacts."""

    path: Path
    config: Path = field(init=False)
    metrics: Path = field(init=False)
    ckpt: Path = field(init=False)
    best: Path = field(init=False)
    lock: Path = field(init=False)
    summary_path: Path = field(init=False)
    traffic_path: Path = field(init=False)
    profile_path: Path = field(init=False)
    error_path: Path = field(init=False)

    def __post_init__(self) -> None:
        p = Path(self.path)
        object.__setattr__(self, "path", p)
        for name, file in (("config", "config.toml"), ("metrics", "metrics.jsonl"), ("ckpt", "ckpt.pt"),
                           ("best", "best.pt"), ("lock", ".lock"), ("summary_path", "summary.json"),
                           ("traffic_path", "traffic.json"), ("profile_path", "profile.json"),
                           ("error_path", "error.json")):
            object.__setattr__(self, name, p / file)

    def is_complete(self) -> bool:      # training finished: summary.json exists
        return self.summary_path.is_file()

    def read_summary(self) -> Summary | None:
        return read_artifact(Summary, self.summary_path)

    def write_summary(self, summary: Summary) -> None:
        write_artifact(self.summary_path, summary)

    def write_config(self, text: str) -> None:
        atomic_write_text(self.config, text)

    def read_traffic(self) -> Traffic | None:
        return read_artifact(Traffic, self.traffic_path)

    def write_traffic(self, traffic: Traffic) -> None:
        write_artifact(self.traffic_path, traffic)

    def read_profile(self) -> RunProfile | None:
        return read_artifact(RunProfile, self.profile_path)

    def write_profile(self, profile: RunProfile) -> None:
        write_artifact(self.profile_path, profile)

    def eval_path(self, eval_id: str) -> Path:
        return self.path / "evals" / f"{eval_id}.json"

    def read_eval(self, eval_id: str) -> Evaluation | None:
        return read_artifact(Evaluation, self.eval_path(eval_id))

    def write_eval(self, evaluation: Evaluation) -> Path:
        write_artifact(path := self.eval_path(evaluation.eval_id), evaluation)
        return path

    def attack_json(self, attack_id: str) -> Path:
        return self.path / "attacks" / attack_id / "invert.json"

    def attack_png(self, attack_id: str) -> Path:
        return self.path / "attacks" / attack_id / "invert.png"

    def read_attack(self, attack_id: str) -> AttackRecord | None:
        return read_artifact(AttackRecord, self.attack_json(attack_id))

    def write_attack(self, record: AttackRecord, png: bytes) -> Path:
        """The grid first, then the record (the record's presence means the attack is complete)."""
        atomic_write_bytes(self.attack_png(record.attack_id), png)
        write_artifact(path := self.attack_json(record.attack_id), record)
        return path

    def attack_ids(self) -> list[str]:
        """Ids of the complete attack results held, sorted."""
        return sorted(p.parent.name for p in (self.path / "attacks").glob("*/invert.json"))

    def membership_path(self, membership_id: str) -> Path:
        return self.path / "membership" / f"{membership_id}.json"

    def read_membership(self, membership_id: str) -> MembershipRecord | None:
        return read_artifact(MembershipRecord, self.membership_path(membership_id))

    def write_membership(self, record: MembershipRecord, scores: dict[str, Any] | None = None) -> Path:
        """The per-image scores (``membership/<id>.npz``: NumPy arrays by name) first, then the record."""
        if scores is not None:
            buf = io.BytesIO()
            np.savez(buf, **scores)
            atomic_write_bytes(self.membership_path(record.membership_id).with_suffix(".npz"), buf.getvalue())
        write_artifact(path := self.membership_path(record.membership_id), record)
        return path

    def read_membership_scores(self, membership_id: str) -> dict[str, Any] | None:
        """The arrays of ``membership/<id>.npz`` (read without pickle), or None when absent."""
        if not (path := self.membership_path(membership_id).with_suffix(".npz")).is_file():
            return None
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def read_error(self) -> ErrorRecord | None:
        try:
            return read_artifact(ErrorRecord, self.error_path)
        except SflauditError:
            return ErrorRecord(stage="unknown", error=f"{self.error_path} is unreadable", type="SflauditError",
                               cell=self.path.name)

    def write_error(self, record: ErrorRecord) -> None:
        write_artifact(self.error_path, record)

    def clear_error(self) -> None:
        self.error_path.unlink(missing_ok=True)
