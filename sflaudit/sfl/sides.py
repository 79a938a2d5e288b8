"""The clients' half of a run behind the trainer: in this process (:class:`LocalClients`, the simulator) or in remote
client processes (``sflaudit.transport.server.RemoteClients``, the TCP transport).

:class:`~sflaudit.sfl.trainer.Trainer` owns the protocol and writes it once: it asks the side for each pool client's
query and key activations as the client sends them, carries them and the gradients through the metered
:class:`~sflaudit.sfl.wire.Link`, runs the server step, and executes the sync strategy's plan (uploads, the merge,
downloads to all N). A side only does, or relays, what the clients do: the data stream, the client forward and
update, keeping and loading the payload states. So metering and the link's defence draws happen in one place, in one
order, whichever side runs the clients.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from sflaudit.config import Config
from sflaudit.data import AugmentSpec
from sflaudit.errors import first_line
from sflaudit.sfl.client_step import PoolViews, client_forward, client_lr, client_update, pool_views
from sflaudit.sfl.canary import canary_gap, is_check_step, with_canaries
from sflaudit.sfl.clients import ClientPool, float_state
from sflaudit.sfl.dcor import nopeek_loss
from sflaudit.sfl.sampling import ClientBatches
from sflaudit.sfl.strategies import PAYLOADS, SflSettings, SyncPlan, SyncStrategy
from sflaudit.sfl.sync import divergence, load_states, online_momentum_gap

States = Mapping[str, Sequence[Sequence[Tensor]]]        # payload → per client (all N) its state tensors


class ClientSide(ABC):
    """The N clients as the trainer drives them. Per step: :meth:`begin_step`, then for each pool client in pool
    order :meth:`activations`, then (after the server step) :meth:`apply_gradient` per pool client, :meth:`end_step`.
    Per sync: :meth:`begin_sync`, :meth:`upload` per pool client and planned payload, :meth:`download` per client
    (all N) and planned payload, :meth:`end_sync`."""

    checkpoint_at_start: bool = False     # the trainer writes ckpt.pt right after :meth:`start` on a fresh run

    def start(self, *, resumed: bool, step: int) -> None:
        """Before the first step (after a resume loaded ckpt.pt into the trainer's clients)."""

    def close(self, error: str | None = None) -> None:
        """After the run, or when it failed with ``error`` (one line)."""

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """The run: :meth:`close` afterwards, told the error when it failed."""
        try:
            yield
        except BaseException as exc:
            self.close(error=first_line(exc))
            raise
        self.close()

    def gather(self, step: int) -> None:
        """Make the trainer's :class:`ClientPool` and data stream current before they are read (kNN monitor,
        checkpoint). In-process they are the clients themselves."""

    @abstractmethod
    def begin_step(self, epoch: int, batch: int, step: int, pool: list[int]) -> None:
        """Step ``step`` (1-based over the run) at ``epoch``/``batch`` begins for ``pool``."""

    @abstractmethod
    def activations(self, position: int, client: int) -> tuple[Tensor, Tensor]:
        """(query, key) activations of pool client ``client`` at pool ``position``, as it sends them (the trainer
        then carries them through the link)."""

    @abstractmethod
    def apply_gradient(self, client: int, grad: Tensor) -> None:
        """Hand ``client`` the gradient w.r.t. its query activations, as it crossed the link; it takes its step."""

    def end_step(self) -> None:
        """After the link has closed the step."""

    def step_log(self) -> dict[str, float]:
        """Extra fields for this step's metrics.jsonl row (then forgotten)."""
        return {}

    @abstractmethod
    def begin_sync(self, number: int, plan: SyncPlan, pool: list[int]) -> None:
        """Sync ``number`` (1-based over the run) begins: ``plan.up`` from ``pool``, ``plan.down`` to all N."""

    @abstractmethod
    def upload(self, client: int, payload: str) -> list[Tensor]:
        """Pool client ``client``'s ``payload`` state tensors (state_dict order), as it sends them."""

    @abstractmethod
    def download(self, client: int, payload: str, tensors: list[Tensor]) -> None:
        """Give ``client`` the merged ``payload`` (as it crossed the link) to load."""

    def states(self) -> States | None:
        """Every client's live payload states where the side holds them (the divergence log then measures the full
        states), else None (the server knows only what was uploaded)."""
        return None

    def end_sync(self) -> None:
        """After the link has closed the sync."""


class LocalClients(ClientSide):
    """The simulator's clients: every client of ``clients`` in this process, fed from the pool-wide data stream."""

    def __init__(self, cfg: Config, clients: ClientPool, train: Tensor, batches: ClientBatches, spec: AugmentSpec,
                 gen: torch.Generator, *, epochs: int, device: torch.device, memory_format: torch.memory_format,
                 autocast: contextlib.AbstractContextManager) -> None:
        self.cfg, self.clients, self.train, self.batches, self.spec, self.gen = cfg, clients, train, batches, spec, gen
        self.epochs, self.device, self.memory_format, self.autocast = epochs, device, memory_format, autocast
        self.live = {"online": [float_state(m) for m in clients.online],
                     "momentum": [float_state(m) for m in clients.momentum]}
        self.epoch = 0
        self.views: PoolViews | None = None
        self.graphs: dict[int, tuple[Tensor, Tensor | None]] = {}   # client → (h_q with its graph, NoPeek penalty)
        self.rows = 0                                                # query rows of the whole pool this step
        self.dcor: list[float] = []                                  # this step's dCor(input, activation) per client
        self.canaries = 0                                            # canary rows per client this step (0: none)
        self.gaps: list[float] = []                                  # this step's canary gradient gaps per client

    def begin_step(self, epoch: int, batch: int, step: int, pool: list[int]) -> None:
        self.epoch, self.graphs, self.rows = epoch, {}, 0
        d = self.cfg.defence
        self.canaries = d.canary_rows if is_check_step(step, d.canary) else 0
        self.views = pool_views(self.train, self.batches, pool, self.spec, self.gen, device=self.device,
                                memory_format=self.memory_format)

    def activations(self, position: int, client: int) -> tuple[Tensor, Tensor]:
        assert self.views is not None, "begin_step first"
        q_in, k_in = self.views.inputs(position, symmetric=self.cfg.ssl.symmetric == "client")
        h_q, h_k = client_forward(self.clients, client, q_in, k_in, autocast=self.autocast)
        self.graphs[client] = (h_q, self._nopeek(q_in, h_q))
        self.rows += h_q.shape[0]
        return with_canaries(h_q, h_k, self.canaries) if self.canaries else (h_q, h_k)

    def _nopeek(self, x: Tensor, h: Tensor) -> Tensor | None:
        """NoPeek (``defence.nopeek`` = α > 0): α·dCor(x, h) for the client's loss; the step's mean dCor is
        logged."""
        alpha = self.cfg.defence.nopeek
        if alpha <= 0:
            return None
        pen = nopeek_loss(x, h, alpha)
        self.dcor.append(float(pen.detach()) / alpha)
        return pen

    def apply_gradient(self, client: int, grad: Tensor) -> None:
        h_q, penalty = self.graphs.pop(client)
        if self.canaries:                             # the canary rows' gradients are measured, never applied
            self.gaps.append(canary_gap(grad, h_q.shape[0], self.canaries))
            grad = grad[:h_q.shape[0]]
        lr = client_lr(self.cfg.optim, self.clients.steps[client], self.epoch, self.epochs)
        client_update(self.clients, client, h_q, grad, lr, penalty=penalty, rows_total=self.rows)

    def end_step(self) -> None:
        self.views, self.graphs = None, {}

    def step_log(self) -> dict[str, float]:
        dcor, self.dcor, gaps, self.gaps = self.dcor, [], self.gaps, []
        out = {"dcor": round(sum(dcor) / len(dcor), 5)} if dcor else {}
        if gaps:                                      # the step's smallest gap over the pool decides the alarm
            out.update(canary_gap=round(min(gaps), 6), canary_alarm=int(min(gaps) < self.cfg.defence.canary_threshold))
        return out

    def begin_sync(self, number: int, plan: SyncPlan, pool: list[int]) -> None:
        pass

    def upload(self, client: int, payload: str) -> list[Tensor]:
        return self.live[payload][client]

    def download(self, client: int, payload: str, tensors: list[Tensor]) -> None:
        load_states([self.live[payload][client]], tensors)

    def states(self) -> States:
        return self.live


def local_clients(trainer: Any) -> LocalClients:
    """The simulator's side of a :class:`~sflaudit.sfl.trainer.Trainer`: its own clients and data stream."""
    t = trainer
    return LocalClients(t.cfg, t.clients, t.data.train, t.batches, t.spec, t.gen, epochs=t.schedule.epochs,
                        device=t.device, memory_format=t.memory_format, autocast=t.autocast)


def merge_payloads(strategy: SyncStrategy, sfl: SflSettings, states: States | None, got: States, plan: SyncPlan,
                   pool: list[int]) -> dict[str, list[Tensor]]:
    """Each payload merged over the pool: every payload from the full ``states`` where the side holds them (those
    the plan does not send too, for the divergence log; no bytes), else the uploaded ones from ``got``."""
    if states is not None:
        return {p: strategy.merge(states[p], pool, sfl) for p in PAYLOADS}
    return {p: strategy.merge(got[p], pool, sfl) for p in plan.up}


def sync_divergence(states: States | None, got: States, merged: Mapping[str, Sequence[Tensor]], pool: list[int],
                    mask: Sequence[bool]) -> dict[str, float]:
    """The divergences of a sync before loading: over the full ``states`` where known (every measure), else over the
    uploads ``got`` (all measures when both payloads went up, else ol-og only: the momentum models never left)."""
    if states is not None or set(got) == set(PAYLOADS):
        s = states if states is not None else got
        return divergence(s["online"], s["momentum"], merged["online"], merged["momentum"], pool, mask)
    div = divergence(got["online"], got["online"], merged["online"], merged["online"], pool, mask)
    return {k: v for k, v in div.items() if k.startswith("ol-og/")}


def gap_after(states: States | None, merged: Mapping[str, Sequence[Tensor]], plan: SyncPlan, pool: list[int],
              clients: int, mask: Sequence[bool]) -> dict[str, float]:
    """``ol-ml/after``: over the live states where known, else where both merged payloads went down to everyone."""
    if states is not None:
        return {"ol-ml/after": online_momentum_gap(states["online"], states["momentum"], pool, mask)}
    if set(plan.up) == set(plan.down) == set(PAYLOADS):
        return {"ol-ml/after": online_momentum_gap([merged["online"]] * clients, [merged["momentum"]] * clients,
                                                   pool, mask)}
    return {}
