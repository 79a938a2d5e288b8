"""The server of a TCP run: the simulator's loop (:class:`~sflaudit.sfl.trainer.Trainer`) with the clients' half of
each step and sync done by remote client processes.

The server keeps a *mirror* of the N clients (their models, optimizers, step counts and the data stream) that it
refreshes from the clients (``COLLECT`` → ``STATE``) only where it reads them: before the kNN monitor and before
every checkpoint. So ckpt.pt, best.pt, metrics.jsonl, traffic.json and summary.json are the simulator's files,
a TCP run resumes from its own ckpt.pt (the server sends each client its state back), and a simulator run can resume
it too. Every activation, gradient and payload passes through the same metered :class:`~sflaudit.sfl.wire.Link` as
in the simulator, on arrival (up) or before sending (down).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sflaudit.artifacts import Summary
from sflaudit.config import Config, config_to_toml
from sflaudit.errors import first_line
from sflaudit.sfl.client_step import state_digest
from sflaudit.sfl.strategies import PAYLOAD_KINDS, PAYLOADS
from sflaudit.sfl.sync import divergence, online_momentum_gap
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


class TcpTrainer(Trainer):
    """The simulator's loop on the server, with N remote clients met on ``listener``."""

    def __init__(self, cfg: Config, run_dir: str | Path, listener: Listener, *, progress: ProgressFn | None = None,
                 alive: Any = None) -> None:
        check_tcp_config(cfg)
        super().__init__(cfg, run_dir, progress=progress)
        self.listener = listener
        self.settings = listener.settings
        self.log = listener.log
        self.alive = alive
        self.init_digest = state_digest(self.clients.online[0])   # every client builds the same initial weights
        self.conns: list[Connection] = []
        self.stats = TransportStats()
        self._gathered_at = -1
        self._wire = WIRE_DTYPES[cfg.sfl.wire_dtype]
        self._keys = list(self.clients.online[0].state_dict().keys())

    # ------------------------------------------------------------------------------------------------ session

    def fit(self, *, stop_after_steps: int | None = None) -> Summary | None:
        try:
            summary = super().fit(stop_after_steps=stop_after_steps)
        except BaseException as exc:
            self._close(error=first_line(exc))
            raise
        self._close()
        return summary

    def _start(self, *, resumed: bool) -> None:
        welcome = {"config": config_to_toml(self.cfg), "clients": self.cfg.sfl.clients}
        self.conns = self.listener.join(self.cfg.sfl.clients, welcome=welcome, alive=self.alive)
        self.listener.close()
        want = training_id(self.cfg)
        for c, conn in enumerate(self.conns):
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
        self._gathered_at = self.step
        if not resumed:
            self._save()                      # a resumable ckpt.pt from the moment every client has joined

    def _close(self, error: str | None = None) -> None:
        for conn in self.conns:
            if error is not None:
                conn.error(f"server stopped: {error}")
            else:
                try:
                    conn.send_json(FrameType.STOP, {"step": self.step})
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

    def _layout(self, t: Tensor) -> Tensor:
        t = t.to(self.device)
        return t.contiguous(memory_format=torch.channels_last) if self.cfg.optim.channels_last and t.dim() == 4 else t

    def _activation(self, c: int, kind: str) -> Tensor:
        conn = self.conns[c]
        frame = conn.recv(FrameType.ACTIVATION, kind=kind, what=f"waiting for its {kind} activations at step "
                                                                f"{self.step + 1}")
        tensors, _ = frame.tensors()
        t = tensors.get("t")
        if t is None or t.dtype != self._wire or frame.dtype is None:
            raise TransportError(f"{conn.peer} sent a malformed {kind} frame at step {self.step + 1}")
        wire = self.link.send_activation(self._layout(t), direction="up", kind=kind, client=c)
        return wire.to(frame.dtype)

    def train_step(self) -> tuple[float, float]:
        """One step: every client replays the data stream; the pool's clients send query and key activations, get
        their gradient rows back and update themselves."""
        t0 = time.perf_counter()
        pool = self.pool
        order = {"epoch": self.epoch, "batch": self.batch_idx, "step": self.step + 1, "pool": pool}
        for conn in self.conns:
            conn.send_json(FrameType.STEP, order, what=f"sending step {self.step + 1}")
        queries, keys = [], []
        for c in pool:
            queries.append(self._activation(c, "query"))
            keys.append(self._activation(c, "key"))
        grad, loss, acc = self.server.step(torch.cat(queries), torch.cat(keys), symmetric=self.cfg.ssl.symmetric,
                                           autocast=self.autocast)
        start = 0
        for c, q in zip(pool, queries, strict=True):
            g = grad[start:start + q.shape[0]]
            start += q.shape[0]
            sent = self.link.send_activation(g, direction="down", kind="grad", client=c)
            self.conns[c].send_tensors(FrameType.ACTIVATION, {"t": sent.to(self._wire)}, kind="grad", dtype=g.dtype,
                                       what=f"sending its gradient at step {self.step + 1}")
            self.clients.steps[c] += 1
        self.link.end_step()
        self.stats.step_seconds.append(time.perf_counter() - t0)
        return loss, acc

    # ------------------------------------------------------------------------------------------------ one sync

    def sync(self, number: int | None = None) -> dict[str, float]:
        """The strategy's sync over the wire: planned uploads from the pool, the merge here, planned downloads to
        all N. Logs the divergences that the uploads allow (all of them when both payloads went up, else ol-og)."""
        t0 = time.perf_counter()
        number = number if number is not None else self.link.syncs + 1
        plan = self.strategy.plan(number, self.cfg.sfl)
        order = {"number": number, "up": list(plan.up), "down": list(plan.down), "pool": self.pool}
        for conn in self.conns:
            conn.send_json(FrameType.SYNC, order, what=f"sending sync {number}")
        n = len(self.conns)
        got: dict[str, list[Any]] = {p: [None] * n for p in plan.up}
        for c in self.pool:
            for p in plan.up:
                frame = self.conns[c].recv(FrameType.WEIGHTS, kind=PAYLOAD_KINDS[p],
                                           what=f"waiting for its {p} weights at sync {number}")
                tensors, _ = frame.tensors()
                if set(tensors) != set(self._keys):
                    raise TransportError(f"{self.conns[c].peer} sent {p} weights that do not fit the client model")
                state = [tensors[k].to(self.device) for k in self._keys]
                got[p][c] = self.link.send_weights(state, direction="up", kind=PAYLOAD_KINDS[p], client=c)
        merged = {p: self.strategy.merge(got[p], self.pool, self.cfg.sfl) for p in plan.up}
        for c, conn in enumerate(self.conns):
            for p in plan.down:
                sent = self.link.send_weights(merged[p], direction="down", kind=PAYLOAD_KINDS[p], client=c)
                conn.send_tensors(FrameType.WEIGHTS, dict(zip(self._keys, sent, strict=True)),
                                  kind=PAYLOAD_KINDS[p], what=f"sending merged {p} weights at sync {number}")
        div = self._divergence(got, merged, set(plan.down))
        self.link.end_sync()
        self.stats.sync_seconds.append(time.perf_counter() - t0)
        return div

    def _divergence(self, got: dict[str, list[Any]], merged: dict[str, list[Tensor]], down: set[str]) -> dict:
        pool, mask = self.pool, self.div_mask
        if set(got) == set(PAYLOADS):
            div = divergence(got["online"], got["momentum"], merged["online"], merged["momentum"], pool, mask)
            if down == set(PAYLOADS):
                n = len(self.conns)
                div["ol-ml/after"] = online_momentum_gap([merged["online"]] * n, [merged["momentum"]] * n, pool,
                                                         mask)
            return div
        # online only: ol-og is the one measure the server can compute (momentum models never left the clients)
        div = divergence(got["online"], got["online"], merged["online"], merged["online"], pool, mask)
        return {k: v for k, v in div.items() if k.startswith("ol-og/")}

    # ------------------------------------------------------------------------------------------------ mirror

    def _gather(self) -> None:
        """Refresh the mirror of every client (models, optimizer, steps, data stream) from the clients."""
        if self._gathered_at == self.step:
            return
        for conn in self.conns:
            conn.send_json(FrameType.COLLECT, {"step": self.step}, what="asking for the client's state")
        first = None
        for c, conn in enumerate(self.conns):
            frame = conn.recv(FrameType.STATE, what=f"waiting for its state at step {self.step}")
            tensors, meta = frame.tensors()
            self.clients.steps[c] = load_client_state(tensors, meta, self.clients.online[c],
                                                      self.clients.momentum[c], self.clients.optimizers[c],
                                                      source=conn.peer)
            if first is None:
                first = (tensors, meta)
                load_stream(tensors, meta, self.gen, self.batches, source=conn.peer)
            elif not same_stream(first, (tensors, meta)):
                raise TransportError(f"{conn.peer} holds another data stream than client 0 at step {self.step} "
                                     "(the client processes diverged)")
        self._gathered_at = self.step
