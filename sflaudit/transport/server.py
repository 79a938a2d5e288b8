"""The server side of a TCP run: :class:`RemoteClients`, the trainer's client side when every client is a remote
process, so the simulator's :class:`~sflaudit.sfl.trainer.Trainer` runs the same step and sync over TCP.

The trainer's :class:`~sflaudit.sfl.clients.ClientPool` is then a *mirror* of the N clients (their models,
optimizers, step counts and the data stream) that :meth:`RemoteClients.gather` refreshes from the clients
(``COLLECT`` → ``STATE``) only where the trainer reads them: before the kNN monitor and before every checkpoint. So
ckpt.pt, best.pt, metrics.jsonl, traffic.json and summary.json are the simulator's files, a TCP run resumes from its
own ckpt.pt (the server sends each client its state back), and a simulator run can resume it too. The trainer
carries every activation, gradient and payload through the same metered :class:`~sflaudit.sfl.wire.Link` as in the
simulator: on arrival (up) or before sending (down).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sflaudit.config import Config, config_to_toml
from sflaudit.sfl.client_step import on_device, state_digest
from sflaudit.sfl.sides import ClientSide
from sflaudit.sfl.strategies import PAYLOAD_KINDS, SyncPlan
from sflaudit.sfl.trainer import ProgressFn, Trainer
from sflaudit.sfl.wire import WIRE_DTYPES
from sflaudit.stages import training_id
from sflaudit.transport.connection import Connection
from sflaudit.transport.frames import FrameType, TransportError
from sflaudit.transport.listener import Listener
from sflaudit.transport.settings import check_tcp_config
from sflaudit.transport.state import client_state, load_client_state, load_stream, same_stream, stream_state


@dataclass
class TransportStats:
    """Socket bytes by frame type (``up`` = received by the server, ``down`` = sent), frame counts and timing."""

    up: dict[str, int] = field(default_factory=dict)
    down: dict[str, int] = field(default_factory=dict)
    frames_up: dict[str, int] = field(default_factory=dict)
    frames_down: dict[str, int] = field(default_factory=dict)
    step_seconds: list[float] = field(default_factory=list)
    sync_seconds: list[float] = field(default_factory=list)

    def total(self, direction: str, types: set[str] | None = None) -> int:
        counts = self.up if direction == "up" else self.down
        return sum(v for k, v in counts.items() if types is None or k in types)

    def seconds_per_step(self) -> float | None:
        return sum(self.step_seconds) / len(self.step_seconds) if self.step_seconds else None

    def seconds_per_sync(self) -> float | None:
        return sum(self.sync_seconds) / len(self.sync_seconds) if self.sync_seconds else None


def _add(into: dict[str, int], counts: dict[str, int]) -> None:
    for k, v in counts.items():
        into[k] = into.get(k, 0) + v


class RemoteClients(ClientSide):
    """The N clients of ``trainer`` as remote processes met on ``listener``; ``alive`` returns a reason to stop
    waiting for them to join (e.g. a local client process died) or None."""

    checkpoint_at_start = True            # a resumable ckpt.pt from the moment every client has joined

    def __init__(self, trainer: Trainer, listener: Listener, *, alive: Any = None) -> None:
        check_tcp_config(trainer.cfg)
        self.cfg, self.device, self.clients = trainer.cfg, trainer.device, trainer.clients   # clients: the mirror
        self.gen, self.batches = trainer.gen, trainer.batches                                # the data stream
        self.listener, self.settings, self.alive = listener, listener.settings, alive
        self.init_digest = state_digest(self.clients.online[0])   # every client builds the same initial weights
        self.conns: list[Connection] = []
        self.stats = TransportStats()
        self._gathered_at = -1
        self._wire = WIRE_DTYPES[self.cfg.sfl.wire_dtype]
        self._keys = list(self.clients.online[0].state_dict().keys())
        self._step, self._sync, self._t0 = 0, 0, 0.0

    # ------------------------------------------------------------------------------------------------ session

    def start(self, *, resumed: bool, step: int) -> None:
        """Seat the N clients, check that they built this training, then START them on the data stream (and, on a
        resume, their state). WELCOME tells them the torch thread count to compute with: this process's, the one
        the simulator would use here (``run.threads``, else torch's default)."""
        welcome = {"config": config_to_toml(self.cfg), "clients": self.cfg.sfl.clients,
                   "threads": torch.get_num_threads()}
        self.conns = self.listener.join(self.cfg.sfl.clients, welcome=welcome, alive=self.alive)
        self.listener.close()
        want = training_id(self.cfg)
        for conn in self.conns:
            ready = conn.recv(FrameType.READY, what="waiting for the client to build its models",
                              timeout=self.settings.join_timeout_s).json()
            if ready.get("training_id") != want:
                raise TransportError(f"{conn.peer} built training {ready.get('training_id')}, not {want}")
            if ready.get("digest") != self.init_digest:
                raise TransportError(f"{conn.peer} built other initial weights than the server (another torch "
                                     "version or config?)")
        tensors, meta = stream_state(self.gen, self.batches)
        for c, conn in enumerate(self.conns):
            body, info = dict(tensors), dict(meta)
            if resumed:
                mine, extra = client_state(self.clients.online[c], self.clients.momentum[c],
                                           self.clients.optimizers[c], self.clients.steps[c])
                body.update(mine)
                info.update(extra, resume="1")
            conn.send_tensors(FrameType.START, body, metadata=info, what="starting the client")
        self._gathered_at = step

    def close(self, error: str | None = None) -> None:
        for conn in self.conns:
            if error is not None:
                conn.error(f"server stopped: {error}")
            else:
                try:
                    conn.send_json(FrameType.STOP, {"step": self._step})
                except TransportError:
                    pass
            _add(self.stats.up, conn.received)
            _add(self.stats.down, conn.sent)
            _add(self.stats.frames_up, conn.frames_received)
            _add(self.stats.frames_down, conn.frames_sent)
            conn.close()
        self.conns = []
        self.listener.close()

    # ------------------------------------------------------------------------------------------------ one step

    def begin_step(self, epoch: int, batch: int, step: int, pool: list[int]) -> None:
        """STEP to every client: each replays the data stream; the pool's clients compute."""
        self._t0, self._step = time.perf_counter(), step
        order = {"epoch": epoch, "batch": batch, "step": step, "pool": pool}
        for conn in self.conns:
            conn.send_json(FrameType.STEP, order, what=f"sending step {step}")

    def activations(self, position: int, client: int) -> tuple[Tensor, Tensor]:
        return self._activation(client, "query"), self._activation(client, "key")

    def _activation(self, c: int, kind: str) -> Tensor:
        conn = self.conns[c]
        frame = conn.recv(FrameType.ACTIVATION, kind=kind, what=f"waiting for its {kind} activations at step "
                                                                f"{self._step}")
        t = frame.tensors()[0].get("t")
        if t is None or t.dtype != self._wire or frame.dtype is None:
            raise TransportError(f"{conn.peer} sent a malformed {kind} frame at step {self._step}")
        return on_device(t, self.device, self.cfg).to(frame.dtype)   # the client's tensor (wire values), as sent

    def apply_gradient(self, client: int, grad: Tensor) -> None:
        self.conns[client].send_tensors(FrameType.ACTIVATION, {"t": grad.to(self._wire)}, kind="grad",
                                        dtype=grad.dtype, what=f"sending its gradient at step {self._step}")
        self.clients.steps[client] += 1                           # the mirror's count drives the logged client lr

    def end_step(self) -> None:
        self.stats.step_seconds.append(time.perf_counter() - self._t0)

    # ------------------------------------------------------------------------------------------------ one sync

    def begin_sync(self, number: int, plan: SyncPlan, pool: list[int]) -> None:
        self._t0, self._sync = time.perf_counter(), number
        order = {"number": number, "up": list(plan.up), "down": list(plan.down), "pool": pool}
        for conn in self.conns:
            conn.send_json(FrameType.SYNC, order, what=f"sending sync {number}")

    def upload(self, client: int, payload: str) -> list[Tensor]:
        conn = self.conns[client]
        frame = conn.recv(FrameType.WEIGHTS, kind=PAYLOAD_KINDS[payload],
                          what=f"waiting for its {payload} weights at sync {self._sync}")
        tensors, _ = frame.tensors()
        if set(tensors) != set(self._keys):
            raise TransportError(f"{conn.peer} sent {payload} weights that do not fit the client model")
        return [tensors[k].to(self.device) for k in self._keys]

    def download(self, client: int, payload: str, tensors: list[Tensor]) -> None:
        self.conns[client].send_tensors(FrameType.WEIGHTS, dict(zip(self._keys, tensors, strict=True)),
                                        kind=PAYLOAD_KINDS[payload],
                                        what=f"sending merged {payload} weights at sync {self._sync}")

    def end_sync(self) -> None:
        self.stats.sync_seconds.append(time.perf_counter() - self._t0)

    # ------------------------------------------------------------------------------------------------ mirror

    def gather(self, step: int) -> None:
        """Refresh the mirror of every client (models, optimizer, steps, data stream) from the clients."""
        if self._gathered_at == step:
            return
        for conn in self.conns:
            conn.send_json(FrameType.COLLECT, {"step": step}, what="asking for the client's state")
        first = None
        for c, conn in enumerate(self.conns):
            frame = conn.recv(FrameType.STATE, what=f"waiting for its state at step {step}")
            tensors, meta = frame.tensors()
            self.clients.steps[c] = load_client_state(tensors, meta, self.clients.online[c],
                                                      self.clients.momentum[c], self.clients.optimizers[c],
                                                      source=conn.peer)
            if first is None:
                first = (tensors, meta)
                load_stream(tensors, meta, self.gen, self.batches, source=conn.peer)
            elif not same_stream(first, (tensors, meta)):
                raise TransportError(f"{conn.peer} holds another data stream than client 0 at step {step} "
                                     "(the client processes diverged)")
        self._gathered_at = step


def tcp_trainer(cfg: Config, run_dir: str | Path, listener: Listener, *,
                progress: ProgressFn | None = None) -> tuple[Trainer, RemoteClients]:
    """The simulator's :class:`Trainer` with the N clients remote (met on ``listener``), and its client side."""
    check_tcp_config(cfg)
    trainer = Trainer(cfg, run_dir, progress=progress, side=lambda t: RemoteClients(t, listener))
    assert isinstance(trainer.side, RemoteClients)
    return trainer, trainer.side
