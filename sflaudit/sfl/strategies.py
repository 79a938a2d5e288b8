"""Methods as sync strategies (after Flower's ``Strategy``): what crosses the network at each sync, and how it merges.

A sync (protocol §1.5) moves client *payloads* — ``online`` (the online model's full state_dict) and ``momentum``
(the momentum model's) — up from every pool client, merges each payload over the pool, and sends merged payloads
down to all N clients, which load them. A method is a :class:`SyncStrategy` that says, for sync number ``s``
(1-based, counted over the whole run), which payloads go up and which merged payloads come down
(:meth:`SyncStrategy.plan` → :class:`SyncPlan`), and how a payload is merged (:meth:`SyncStrategy.merge`, the
FedAvg mean by default, honouring quirk Q2). The trainer executes the plan through the metered link and
``sflaudit.profiles.traffic`` counts the same plan analytically, so a new method is one class plus one
:func:`register_strategy` call (``sfl.method`` accepts every registered name).

Built in:

* ``mocosfl`` — online weights up and down at every sync; each client keeps its own momentum model (the trainer
  still averages the momentum models locally to log the ml–mg divergence; no bytes).
* ``monacosfl`` — also the momentum weights, up and down, at every k-th sync (``s % k == 0``,
  k = ``sfl.momentum_sync_every``; k = 1, the paper's method, sends them at every sync).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from torch import Tensor

from sflaudit.errors import SflauditError
from sflaudit.plugins import Registry
from sflaudit.sfl.sync import average_states

PAYLOADS: tuple[str, ...] = ("online", "momentum")
PAYLOAD_KINDS: dict[str, str] = {"online": "weights", "momentum": "momentum"}   # payload → traffic.json kind


class SflSettings(Protocol):
    """The ``sfl`` config section as the built-in strategies read it (``sflaudit.config.SflConfig``; this module does
    not import the config, whose validation imports it). A strategy may read any other ``sfl`` field."""

    @property
    def momentum_sync_every(self) -> int: ...
    @property
    def seed_average_with_client0(self) -> bool: ...


class WeightLink(Protocol):
    """What a sync needs of the metered link (``sflaudit.sfl.wire.Link``)."""

    def send_weights(self, tensors: Sequence[Tensor], *, direction: str, kind: str, client: int) -> list[Tensor]: ...


@dataclass(frozen=True)
class SyncPlan:
    """The payloads of one sync: ``up`` from every pool client, ``down`` (merged) to every one of the N clients."""

    up: tuple[str, ...]
    down: tuple[str, ...]

    def __post_init__(self) -> None:
        unknown = [p for p in (*self.up, *self.down) if p not in PAYLOADS]
        if unknown:
            raise SflauditError(f"sync payload {unknown[0]!r} is not one of {', '.join(PAYLOADS)}")
        missing = [p for p in self.down if p not in self.up]
        if missing:
            raise SflauditError(f"sync plan sends merged {missing[0]!r} down without uploading it first")


class SyncStrategy:
    """One method's synchronisation. Subclasses set :attr:`name` and implement :meth:`plan`."""

    name: str = ""

    def validate(self, cfg: Any) -> None:
        """Raise :class:`SflauditError` for settings of the whole ``Config`` this method cannot train with (called
        by ``sflaudit.config.validate``)."""

    def plan(self, sync: int, sfl: SflSettings) -> SyncPlan:
        """Payloads of sync number ``sync`` (1-based over the whole run) under the run's ``sfl`` settings."""
        raise NotImplementedError

    def merge(self, states: Sequence[Sequence[Tensor]], pool: Sequence[int], sfl: SflSettings) -> list[Tensor]:
        """One payload merged over the pool: the FedAvg mean (quirk Q2 when ``sfl.seed_average_with_client0``).

        Args:
            states: per client (all N), the payload's state tensors in state_dict order.
            pool: the clients of this epoch, in pool order (only they contribute).
        Returns:
            One merged tensor per state entry (same shapes as ``states[c]``).
        """
        return average_states(states, pool, seed_with_client0=sfl.seed_average_with_client0)


_ONLINE = SyncPlan(up=("online",), down=("online",))
_BOTH = SyncPlan(up=("online", "momentum"), down=("online", "momentum"))


class MocoSFL(SyncStrategy):
    """FedAvg of the online models only (MocoSFL)."""

    name = "mocosfl"

    def plan(self, sync: int, sfl: SflSettings) -> SyncPlan:
        return _ONLINE


class MonAcoSFL(SyncStrategy):
    """FedAvg of the online models and, every ``sfl.momentum_sync_every``-th sync, of the momentum models."""

    name = "monacosfl"

    def validate(self, cfg: Any) -> None:
        if cfg.ssl.moco_version != "V2":
            raise SflauditError(f"ssl.moco_version = {cfg.ssl.moco_version!r}: monacosfl requires V2 (protocol §1.3)")

    def plan(self, sync: int, sfl: SflSettings) -> SyncPlan:
        return _BOTH if sync % sfl.momentum_sync_every == 0 else _ONLINE


def _check(strategy: SyncStrategy) -> None:
    if not callable(getattr(strategy, "plan", None)) or not callable(getattr(strategy, "merge", None)):
        raise SflauditError(f"a sync method plug-in needs plan() and merge(), got {type(strategy).__name__}")


METHODS: Registry[SyncStrategy] = Registry("sflaudit.methods", "method", key="sfl.method", check=_check)
MOCOSFL, MONACOSFL = MocoSFL(), MonAcoSFL()      # the built-ins, registered by sflaudit's own entry points


def register_strategy(strategy: SyncStrategy, *, replace: bool = False) -> SyncStrategy:
    """Make ``strategy`` available as ``sfl.method = strategy.name``; returns it (or declare it as an entry point
    in the ``sflaudit.methods`` group of your own package)."""
    return METHODS.register(strategy, replace=replace)


def unregister_strategy(name: str) -> None:
    """Remove a registered strategy (tests that register a temporary one)."""
    METHODS.unregister(name)


def get_strategy(name: str) -> SyncStrategy:
    """The registered strategy called ``name``; SflauditError naming the valid ones otherwise."""
    return METHODS.get(name)


def strategy_names() -> tuple[str, ...]:
    """Registered method names (the built-in ``mocosfl``, ``monacosfl`` first)."""
    return METHODS.names()



Upload = Callable[[int, str], Sequence[Tensor]]             # (client, payload) → its state tensors as sent
Download = Callable[[int, str, list[Tensor]], None]          # (client, payload, merged tensors as received)


def upload_payloads(plan: SyncPlan, pool: Sequence[int], clients: int, link: WeightLink,
                    upload: Upload) -> dict[str, list[Any]]:
    """The metered uploads of a sync: for each pool client in pool order, each of ``plan.up``; returns payload →
    per client (all ``clients``; None outside the pool) the tensors as the server received them."""
    got: dict[str, list[Any]] = {p: [None] * clients for p in plan.up}
    for c in pool:
        for p in plan.up:
            got[p][c] = link.send_weights(upload(c, p), direction="up", kind=PAYLOAD_KINDS[p], client=c)
    return got


def download_payloads(plan: SyncPlan, merged: Mapping[str, Sequence[Tensor]], clients: int, link: WeightLink,
                      download: Download) -> None:
    """The metered downloads of a sync: to every client 0..clients-1, each merged payload of ``plan.down``."""
    for c in range(clients):
        for p in plan.down:
            download(c, p, link.send_weights(merged[p], direction="down", kind=PAYLOAD_KINDS[p], client=c))


def send_payloads(strategy: SyncStrategy, number: int, sfl: SflSettings,
                  states: Mapping[str, Sequence[Sequence[Tensor]]], pool: Sequence[int],
                  link: WeightLink) -> tuple[SyncPlan, dict[str, list[Tensor]]]:
    """The network part of sync number ``number`` over in-memory states: planned uploads, the merge, planned
    downloads, all metered (the trainer runs the same steps through its client side).

    Args:
        states: payload name → per client (all N) its live state tensors.
        pool: this epoch's clients (they upload); all ``len(states["online"])`` clients download.
    Returns:
        (the plan, every payload merged over the pool). Payloads the plan does not send are merged too, locally
        (for the divergence log; no bytes). Loading ``plan.down`` into the clients is the caller's next step.
    """
    plan = strategy.plan(number, sfl)
    n = len(states["online"])
    upload_payloads(plan, pool, n, link, lambda c, p: states[p][c])
    merged = {p: strategy.merge(states[p], pool, sfl) for p in PAYLOADS}
    download_payloads(plan, merged, n, link, lambda c, p, t: None)
    return plan, merged
