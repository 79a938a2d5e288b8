"""One client process of a TCP run: connect, prove the token, build the run's seeded setup, then obey the server.

The client receives the run's config and its torch thread count (the simulator's) from the server, repeats the
simulator's seeded construction (:func:`~sflaudit.sfl.client_step.seeded_setup`) and keeps its own online and
momentum models and optimizer. At every ``STEP`` it replays the pool-wide data stream (every client process draws the
pool's batches and augmentations from the same seeded generator, and uses its own rows) and, when in the pool, runs
the shared step code (:func:`~sflaudit.sfl.client_step.client_forward` /
:func:`~sflaudit.sfl.client_step.client_update`) around the server's gradient. A real deployment would give each
client only its own images and stream; the replay and the shared thread count are what make a loopback run
bit-identical to the simulator.
"""

from __future__ import annotations

import socket

import torch

from sflaudit.config import Config, config_from_toml
from sflaudit.sfl.client_step import (autocast_context, build_clients, client_forward, client_lr, client_update,
                                     memory_format, on_device, pool_views, seeded_setup, state_digest)
from sflaudit.sfl.clients import float_state
from sflaudit.sfl.sampling import ClientBatches
from sflaudit.sfl.setup import pick_device
from sflaudit.sfl.strategies import PAYLOAD_KINDS
from sflaudit.sfl.sync import load_states
from sflaudit.sfl.wire import WIRE_DTYPES
from sflaudit.stages import training_id
from sflaudit.transport.auth import client_handshake
from sflaudit.transport.connection import Connection
from sflaudit.transport.frames import Frame, FrameType, TransportError
from sflaudit.transport.settings import TransportSettings, check_tcp_config
from sflaudit.transport.state import client_state, load_client_state, load_stream, stream_state

COMMANDS = (FrameType.START, FrameType.STEP, FrameType.SYNC, FrameType.COLLECT, FrameType.STOP)


class RemoteClient:
    """Client ``client`` of the run configured by ``cfg``, talking to the server over ``conn``."""

    def __init__(self, cfg: Config, client: int, conn: Connection, *, idle_timeout_s: float) -> None:
        check_tcp_config(cfg)
        self.cfg, self.client, self.conn, self.idle = cfg, client, conn, idle_timeout_s
        self.device = pick_device(cfg.run.device)
        setup = seeded_setup(cfg)
        self.gen, self.data, self.spec, self.schedule = setup.gen, setup.data, setup.spec, setup.schedule
        self.pool = build_clients(cfg, setup.split.client, 1, self.device)   # local index 0 = this client
        self.memory_format = memory_format(cfg)
        self.batches = ClientBatches(self.data.parts, cfg.sfl.batch, cfg.sfl.batch_sampling, self.gen)
        self.states = {"online": float_state(self.pool.online[0]), "momentum": float_state(self.pool.momentum[0])}
        self.keys = list(self.pool.online[0].state_dict().keys())
        self.autocast = autocast_context(cfg.optim.precision, self.device)
        self.wire = WIRE_DTYPES[cfg.sfl.wire_dtype]
        self.digest = state_digest(self.pool.online[0])

    def serve(self) -> int:
        """Obey the server until ``STOP``; returns the number of steps this client trained."""
        self.conn.send_json(FrameType.READY, {"training_id": training_id(self.cfg), "digest": self.digest})
        while True:
            frame = self.conn.recv(COMMANDS, what="waiting for the server's next command", timeout=self.idle)
            if frame.type == FrameType.STOP:
                return self.pool.steps[0]
            handler = {FrameType.START: self._start, FrameType.STEP: self._step, FrameType.SYNC: self._sync,
                       FrameType.COLLECT: self._collect}[frame.type]
            handler(frame)

    def _start(self, frame: Frame) -> None:
        tensors, meta = frame.tensors()
        load_stream(tensors, meta, self.gen, self.batches, source="the server")
        if meta.get("resume") == "1":
            self.pool.steps[0] = load_client_state(tensors, meta, self.pool.online[0], self.pool.momentum[0],
                                                   self.pool.optimizers[0], source="the server")

    def _step(self, frame: Frame) -> None:
        order = frame.json()
        pool, step = [int(c) for c in order["pool"]], int(order["step"])
        views = pool_views(self.data.train, self.batches, pool, self.spec, self.gen, device=self.device,
                           memory_format=self.memory_format)
        if self.client not in pool:
            return                                         # replayed the stream; nothing to compute
        q_in, k_in = views.inputs(pool.index(self.client), symmetric=self.cfg.ssl.symmetric == "client")
        h_q, h_k = client_forward(self.pool, 0, q_in, k_in, autocast=self.autocast)
        for kind, h in (("query", h_q), ("key", h_k)):
            self.conn.send_tensors(FrameType.ACTIVATION, {"t": h.detach().to(self.wire)}, kind=kind, dtype=h.dtype,
                                   what=f"sending its {kind} activations at step {step}")
        reply = self.conn.recv(FrameType.ACTIVATION, kind="grad", what=f"waiting for the gradient of step {step}",
                               timeout=self.idle)
        g = reply.tensors()[0].get("t")
        if g is None or reply.dtype is None or g.shape != h_q.shape:
            raise TransportError(f"the server sent a malformed gradient at step {step}")
        lr = client_lr(self.cfg.optim, self.pool.steps[0], int(order["epoch"]), self.schedule.epochs)
        client_update(self.pool, 0, h_q, on_device(g.to(reply.dtype), self.device, self.cfg), lr)

    def _sync(self, frame: Frame) -> None:
        order = frame.json()
        number = order["number"]
        if self.client in order["pool"]:
            for p in order["up"]:
                self.conn.send_tensors(FrameType.WEIGHTS, dict(zip(self.keys, self.states[p], strict=True)),
                                       kind=PAYLOAD_KINDS[p], what=f"sending its {p} weights at sync {number}")
        for p in order["down"]:
            reply = self.conn.recv(FrameType.WEIGHTS, kind=PAYLOAD_KINDS[p], timeout=self.idle,
                                   what=f"waiting for the merged {p} weights of sync {number}")
            tensors = reply.tensors()[0]
            if set(tensors) != set(self.keys):
                raise TransportError(f"the server sent merged {p} weights that do not fit the client model")
            load_states([self.states[p]], [tensors[k] for k in self.keys])

    def _collect(self, frame: Frame) -> None:
        tensors, meta = client_state(self.pool.online[0], self.pool.momentum[0], self.pool.optimizers[0],
                                     self.pool.steps[0])
        stream, info = stream_state(self.gen, self.batches)
        self.conn.send_tensors(FrameType.STATE, {**tensors, **stream}, metadata={**meta, **info},
                               what="sending its state")


def connect(host: str, port: int, settings: TransportSettings) -> Connection:
    """A TCP connection to the server (bounded by ``settings.timeout_s``)."""
    try:
        sock = socket.create_connection((host, port), timeout=settings.timeout_s)
    except OSError as exc:
        raise TransportError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
    return Connection(sock, f"server {host}:{port}", timeout_s=settings.timeout_s,
                      max_frame_bytes=settings.max_frame_bytes)


def compute_threads(welcome: dict, cfg: Config, threads: int | None = None) -> int:
    """The torch thread count of a client process: ``threads`` when given, else the server's (WELCOME ``threads``:
    the count the simulator computes with on the server's machine), else ``run.threads``, else 1."""
    sent = welcome.get("threads")
    return threads or (sent if isinstance(sent, int) and sent > 0 else 0) or cfg.run.threads or 1


def run_client(host: str, port: int, client: int, settings: TransportSettings, *, threads: int | None = None) -> int:
    """Join the server at host:port as client ``client`` and train until it stops the run; returns the steps this
    client trained. Torch computes with :func:`compute_threads` threads (the server's unless ``threads`` is given:
    CPU convolutions round differently with another count). Raises :class:`TransportError` (one line) when refused,
    disconnected or timed out."""
    conn = connect(host, port, settings)
    try:
        welcome = client_handshake(conn, settings.token, client)
        cfg = config_from_toml(str(welcome.get("config", "")), source=f"config from {conn.peer}")
        torch.set_num_threads(compute_threads(welcome, cfg, threads))
        remote = RemoteClient(cfg, client, conn, idle_timeout_s=settings.idle_timeout_s)
        return remote.serve()
    except TransportError:
        raise
    except Exception as exc:
        conn.error(f"client {client} failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
        raise
    finally:
        conn.close()
