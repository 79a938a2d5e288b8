"""What a trainer checkpoint holds (docs/interfaces.md) and how a trainer is saved to and restored from it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from sflaudit.config import config_to_toml
from sflaudit.errors import SflauditError
from sflaudit.runs import CKPT_FORMAT, atomic_torch_save, load_checkpoint

if TYPE_CHECKING:
    from sflaudit.sfl.trainer import Trainer


def _weights(t: Trainer) -> dict[str, Any]:
    clients, server = t.clients.state_dict(), t.server.state_dict()
    return {
        "format": CKPT_FORMAT, "config": config_to_toml(t.cfg), "step": t.step, "epoch": t.epoch,
        "batch": t.batch_idx, "clients_online": clients["online"], "clients_momentum": clients["momentum"],
        "server_online": server["online"], "server_momentum": server["momentum"], "queue": server["queue"],
        "queue_ptr": server["queue_ptr"], "knn": t.last_knn,
    }


def save(t: Trainer, path: Path) -> None:
    """Everything needed to continue bit-for-bit: weights, optimizers, queue, RNG and sampler states, counters."""
    state = _weights(t)
    state.update({
        "optim": {"clients": [o.state_dict() for o in t.clients.optimizers],
                  "server": t.server.optimizer.state_dict()},
        "client_steps": list(t.clients.steps), "pool": list(t.pool), "best_knn": t.best_knn,
        "rng": {"torch": t.gen.get_state(), "numpy": t.np_rng.bit_generator.state,
                "torch_global": torch.get_rng_state()},
        "batches": t.batches.state_dict(), "link": t.link.state_dict(),
    })
    atomic_torch_save(state, path)


def save_best(t: Trainer, path: Path) -> None:
    """Weights at the best kNN evaluation (what ``invert`` attacks by default)."""
    atomic_torch_save(_weights(t), path)


def _check_config(t: Trainer, state: dict[str, Any], path: Path) -> None:
    if state.get("config") != config_to_toml(t.cfg):
        raise SflauditError(f"{path} was written with a different config; resume with the run's own config.toml "
                            "or start a new run (--force to overwrite)")


def load_weights(t: Trainer, path: Path) -> None:
    """Load model weights and the queue only (used to evaluate best.pt after training)."""
    state = load_checkpoint(path)
    t.clients.load_state_dict({"online": state["clients_online"], "momentum": state["clients_momentum"]},
                              weights_only=True)
    t.server.load_state_dict({"online": state["server_online"], "momentum": state["server_momentum"],
                              "queue": state["queue"], "queue_ptr": state["queue_ptr"]}, weights_only=True)


def restore(t: Trainer, path: Path) -> None:
    """Put a freshly built trainer back in the exact state saved in ``path``."""
    state = load_checkpoint(path)
    _check_config(t, state, path)
    try:
        t.clients.load_state_dict({"online": state["clients_online"], "momentum": state["clients_momentum"],
                                   "optimizers": state["optim"]["clients"], "steps": state["client_steps"]})
        t.server.load_state_dict({"online": state["server_online"], "momentum": state["server_momentum"],
                                  "queue": state["queue"], "queue_ptr": state["queue_ptr"],
                                  "optimizer": state["optim"]["server"]})
        t.step, t.epoch, t.batch_idx = int(state["step"]), int(state["epoch"]), int(state["batch"])
        t.pool = [int(c) for c in state["pool"]]
        t.best_knn, t.last_knn = state["best_knn"], state["knn"]
        t.gen.set_state(state["rng"]["torch"])
        t.np_rng.bit_generator.state = state["rng"]["numpy"]
        torch.set_rng_state(state["rng"]["torch_global"])
        t.batches.load_state_dict(state["batches"])
        t.link.load_state_dict(state["link"])
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise SflauditError(f"{path} does not match this run's models or format: {str(exc).splitlines()[0]}") from None
