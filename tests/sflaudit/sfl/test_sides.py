"""The trainer's step and sync are written once, over a client side: the in-process side reproduces the simulator's
former step and sync exactly (weights, metered bytes, the defence's noise draws, NoPeek's dCor, divergences), the
protocol's order is the same whichever side runs the clients, and the TCP transport defines no loop of its own."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

import pytest
import torch

from sflaudit.config import Config, load_config
from sflaudit.sfl.client_step import client_forward, client_update, pool_views
from sflaudit.sfl.dcor import nopeek_loss
from sflaudit.sfl.sides import ClientSide, LocalClients, gap_after, sync_divergence
from sflaudit.sfl.strategies import SyncPlan, send_payloads
from sflaudit.sfl.sync import divergence, load_states, online_momentum_gap
from sflaudit.sfl.trainer import Trainer

SIDE_METHODS = ("begin_step", "activations", "apply_gradient", "end_step", "begin_sync", "upload", "download",
                "end_sync")


def _cfg(*more: str) -> Config:
    return load_config(preset="smoke", overrides=["eval.linear_epochs=0", "sfl.clients=3", *more])


def _former_step(t: Trainer) -> tuple[float, float]:
    """The simulator's train_step before the client side existed (the reference behaviour)."""
    cfg, pool = t.cfg, t.pool
    views = pool_views(t.data.train, t.batches, pool, t.spec, t.gen, device=t.device, memory_format=t.memory_format)
    graphs, queries, keys, penalties = [], [], [], []
    for position, c in enumerate(pool):
        q_in, k_in = views.inputs(position, symmetric=cfg.ssl.symmetric == "client")
        h_q, h_k = client_forward(t.clients, c, q_in, k_in, autocast=t.autocast)
        graphs.append(h_q)
        alpha = cfg.defence.nopeek
        pen = nopeek_loss(q_in, h_q, alpha) if alpha > 0 else None
        if pen is not None:
            t.former_dcor.append(float(pen.detach()) / alpha)
        penalties.append(pen)
        queries.append(t.link.send_activation(h_q, direction="up", kind="query", client=c))
        keys.append(t.link.send_activation(h_k, direction="up", kind="key", client=c))
    grad, loss, acc = t.server.step(torch.cat(queries), torch.cat(keys), symmetric=cfg.ssl.symmetric,
                                    autocast=t.autocast)
    start = 0
    for c, h_q, pen in zip(pool, graphs, penalties, strict=True):
        g = t.link.send_activation(grad[start:start + h_q.shape[0]], direction="down", kind="grad", client=c)
        start += h_q.shape[0]
        client_update(t.clients, c, h_q, g, t._client_lr(c), penalty=pen, rows_total=grad.shape[0])
    t.link.end_step()
    return loss, acc


def _former_sync(t: Trainer, number: int) -> dict[str, float]:
    """The simulator's sync before the client side existed."""
    states = {"online": t.online_states, "momentum": t.momentum_states}
    plan, merged = send_payloads(t.strategy, number, t.cfg.sfl, states, t.pool, t.link)
    div = divergence(t.online_states, t.momentum_states, merged["online"], merged["momentum"], t.pool, t.div_mask)
    for p in plan.down:
        load_states(states[p], merged[p])
    t.link.end_sync()
    div["ol-ml/after"] = online_momentum_gap(t.online_states, t.momentum_states, t.pool, t.div_mask)
    return div


def _state(t: Trainer) -> list[torch.Tensor]:
    ck = t.state_dict()
    return [v for s in (*ck.clients_online, *ck.clients_momentum, ck.server_online, ck.server_momentum)
            for v in s.values()] + [ck.queue]


@pytest.mark.parametrize("more", [
    ("sfl.method=monacosfl", "defence.noise=0.3", "defence.nopeek=0.5"),      # noise draws, NoPeek penalty
    ("sfl.method=mocosfl", "sfl.sampling_ratio=0.67", "ssl.symmetric=original"),   # a pool of 2 of 3, Q2
])
def test_local_side__equals_the_former_simulator_step_and_sync(tmp_path: Path, more: tuple[str, ...]) -> None:
    cfg = _cfg(*more)
    new, old = Trainer(cfg, tmp_path / "new"), Trainer(cfg, tmp_path / "old")
    assert isinstance(new.side, LocalClients)                # the default: the simulator's clients
    old.former_dcor = []                                     # type: ignore[attr-defined]
    pool = [2, 0] if cfg.sfl.sampling_ratio < 1 else [1, 2, 0]   # unsorted: pool order is the protocol's order
    new.pool, old.pool = list(pool), list(pool)
    dcor: list[float] = []
    for step in range(3):
        assert new.train_step() == _former_step(old)
        dcor.append(new.side.step_log().get("dcor", 0.0))
        new.step, old.step = step + 1, step + 1
    assert new.sync(1) == _former_sync(old, 1)
    assert new.train_step() == _former_step(old)
    former = old.former_dcor                                 # type: ignore[attr-defined]
    if cfg.defence.nopeek > 0:
        per_step = [round(sum(former[i:i + 3]) / 3, 5) for i in range(0, 9, 3)]
        assert dcor == per_step and all(d > 0 for d in dcor)
    assert all(torch.equal(a, b) for a, b in zip(_state(new), _state(old), strict=True))
    assert new.link.state_dict()["by_kind"] == old.link.state_dict()["by_kind"]
    assert new.link.state_dict()["per_client"] == old.link.state_dict()["per_client"]
    assert torch.equal(new.link.generator.get_state(), old.link.generator.get_state())    # same noise draws
    assert torch.equal(new.gen.get_state(), old.gen.get_state())                          # same data stream


class RecordingSide(LocalClients):
    """The in-process side, logging every call it gets (and the trainer's link logs every meter) in one list."""

    def __init__(self, t: Trainer, log: list[tuple[Any, ...]]) -> None:
        super().__init__(t.cfg, t.clients, t.data.train, t.batches, t.spec, t.gen, epochs=t.schedule.epochs,
                         device=t.device, memory_format=t.memory_format, autocast=t.autocast)
        self.log = log
        link = t.link
        send_activation, send_weights = link.send_activation, link.send_weights

        def metered_activation(t: torch.Tensor, **kw: Any) -> torch.Tensor:
            log.append(("link", kw["kind"], kw["client"]))
            return send_activation(t, **kw)

        def metered_weights(ts: Any, **kw: Any) -> list[torch.Tensor]:
            log.append(("link", kw["direction"], kw["kind"], kw["client"]))
            return send_weights(ts, **kw)

        link.send_activation, link.send_weights = metered_activation, metered_weights   # type: ignore[method-assign]

    def begin_step(self, epoch: int, batch: int, step: int, pool: list[int]) -> None:
        self.log.append(("begin_step", step, tuple(pool)))
        super().begin_step(epoch, batch, step, pool)

    def activations(self, position: int, client: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.log.append(("activations", position, client))
        return super().activations(position, client)

    def apply_gradient(self, client: int, grad: torch.Tensor) -> None:
        self.log.append(("apply_gradient", client))
        super().apply_gradient(client, grad)

    def end_step(self) -> None:
        self.log.append(("end_step",))
        super().end_step()

    def begin_sync(self, number: int, plan: SyncPlan, pool: list[int]) -> None:
        self.log.append(("begin_sync", number, plan.up, plan.down))

    def upload(self, client: int, payload: str) -> list[torch.Tensor]:
        self.log.append(("upload", client, payload))
        return super().upload(client, payload)

    def download(self, client: int, payload: str, tensors: list[torch.Tensor]) -> None:
        self.log.append(("download", client, payload))
        super().download(client, payload, tensors)

    def end_sync(self) -> None:
        self.log.append(("end_sync",))


def test_trainer__drives_any_side_in_the_protocols_order_with_the_same_result(tmp_path: Path) -> None:
    cfg = _cfg("sfl.method=monacosfl", "sfl.sampling_ratio=0.67")
    log: list[tuple[Any, ...]] = []
    plain = Trainer(cfg, tmp_path / "plain")
    recorded = Trainer(cfg, tmp_path / "recorded", side=lambda t: RecordingSide(t, log))
    for t in (plain, recorded):
        t.pool = [2, 0]
        t.train_step()
        t.step = 1
        t.sync(1)
    assert all(torch.equal(a, b) for a, b in zip(_state(plain), _state(recorded), strict=True))
    assert plain.link.traffic() == recorded.link.traffic()
    assert log == [
        ("begin_step", 1, (2, 0)),
        ("activations", 0, 2), ("link", "query", 2), ("link", "key", 2),
        ("activations", 1, 0), ("link", "query", 0), ("link", "key", 0),
        ("link", "grad", 2), ("apply_gradient", 2), ("link", "grad", 0), ("apply_gradient", 0),
        ("end_step",),
        ("begin_sync", 1, ("online", "momentum"), ("online", "momentum")),
        ("upload", 2, "online"), ("link", "up", "weights", 2), ("upload", 2, "momentum"),
        ("link", "up", "momentum", 2),
        ("upload", 0, "online"), ("link", "up", "weights", 0), ("upload", 0, "momentum"),
        ("link", "up", "momentum", 0),
        *[e for c in range(3) for e in (("link", "down", "weights", c), ("download", c, "online"),
                                        ("link", "down", "momentum", c), ("download", c, "momentum"))],
        ("end_sync",),
    ]


def test_step_and_sync__are_defined_once_by_the_trainer() -> None:
    """Every Trainer subclass and every class of the TCP transport leaves the step and the sync to the Trainer; the
    TCP server is a client side."""
    for name in ("server", "client", "driver"):
        module = importlib.import_module(f"sflaudit.transport.{name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__:
                assert not {"train_step", "sync", "fit"} & set(vars(cls)), cls
    assert not [c for c in Trainer.__subclasses__() if {"train_step", "sync"} & set(vars(c))]
    from sflaudit.transport.server import RemoteClients

    assert issubclass(RemoteClients, ClientSide)
    assert all(getattr(RemoteClients, m) is not getattr(ClientSide, m) for m in SIDE_METHODS)
    assert all(getattr(LocalClients, m) is not getattr(ClientSide, m) for m in SIDE_METHODS
               if m not in ("end_sync",))


def _states(values: list[tuple[float, float]]) -> dict[str, list[list[torch.Tensor]]]:
    """Per client (online, momentum) scalars as one-tensor states."""
    return {"online": [[torch.tensor([o])] for o, _ in values], "momentum": [[torch.tensor([m])] for _, m in values]}


def test_divergence_of_uploads__is_what_the_server_can_measure() -> None:
    """In process the log measures the full states; from uploads, all measures when both payloads went up (and the
    gap after when both came down), ol-og only when the online models alone went up."""
    full = _states([(1.0, 0.0), (3.0, 1.0), (9.0, 9.0)])
    pool, mask = [0, 1], [True]
    merged = {"online": [torch.tensor([2.0])], "momentum": [torch.tensor([0.5])]}
    both = SyncPlan(up=("online", "momentum"), down=("online", "momentum"))
    got_both = {p: [full[p][0], full[p][1], None] for p in ("online", "momentum")}
    assert sync_divergence(full, got_both, merged, pool, mask) == sync_divergence(None, got_both, merged, pool, mask)
    assert sync_divergence(full, got_both, merged, pool, mask)["ml-mg/mean"] == 0.25
    online_only = {"online": got_both["online"]}
    assert set(sync_divergence(None, online_only, merged, pool, mask)) == {"ol-og/0", "ol-og/1", "ol-og/mean"}
    assert gap_after(None, merged, both, pool, 3, mask) == {"ol-ml/after": 2.25}
    assert gap_after(None, merged, SyncPlan(up=("online",), down=("online",)), pool, 3, mask) == {}
    assert gap_after(full, merged, both, pool, 3, mask) == {"ol-ml/after": (1.0 + 4.0) / 2}
