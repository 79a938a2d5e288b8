"""The client's half of one training step, shared by the in-process simulator and the TCP client process.

Every process of a run repeats the same seeded construction (:func:`seeded_setup`) and the same pool-wide sampling
(:func:`pool_views`: the batch indices of every pool client, then one augmentation of the concatenated batch from
the run's data generator), so a client process that replays the stream and takes its own rows computes exactly what
the simulator computes for that client. :func:`client_forward` and :func:`client_update` are the client's forward
(online + momentum encoders) and its update from the returned gradient.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from sflaudit.config import Config, OptimConfig
from sflaudit.data import AugmentSpec, augment
from sflaudit.models import SplitModel
from sflaudit.sfl.clients import ClientPool
from sflaudit.sfl.sampling import ClientBatches
from sflaudit.sfl.schedule import Schedule, plan_schedule, scheduled_lr
from sflaudit.sfl.setup import RunData, augment_spec, build_split, load_run_data


@dataclass
class SeededSetup:
    """What the seed determines, built in one fixed order (identical in every process of a run)."""

    np_rng: np.random.Generator      # partition, then each epoch's pool
    gen: torch.Generator             # the data stream: batches and augmentation (and the queue's initial keys)
    data: RunData
    spec: AugmentSpec
    schedule: Schedule
    split: SplitModel                # client template and server backbone, initialised from ``torch.manual_seed``
    projector: nn.Module


def seeded_setup(cfg: Config) -> SeededSetup:
    """Seed, load and partition the data, plan the schedule and build the initial split network (protocol §1.1)."""
    seed = cfg.run.seed
    torch.manual_seed(seed)                                   # model initialisation
    np_rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    data = load_run_data(cfg, np_rng)
    spec = augment_spec(cfg, data)
    schedule = plan_schedule(cfg, len(data.parts[0]))
    split, projector = build_split(cfg, int(data.train.shape[-1]))
    return SeededSetup(np_rng=np_rng, gen=gen, data=data, spec=spec, schedule=schedule, split=split,
                       projector=projector)


def memory_format(cfg: Config) -> torch.memory_format:
    """The layout of the run's models and activations (``optim.channels_last``)."""
    return torch.channels_last if cfg.optim.channels_last else torch.preserve_format


def on_device(t: Tensor, device: torch.device, cfg: Config) -> Tensor:
    """A received activation or gradient on ``device``, in the run's layout (channels-last when configured)."""
    t = t.to(device)
    return t.contiguous(memory_format=torch.channels_last) if cfg.optim.channels_last and t.dim() == 4 else t


def build_clients(cfg: Config, template: nn.Module, clients: int, device: torch.device) -> ClientPool:
    """``clients`` copies of ``template`` (the identical initial client) with the run's optimizer, on ``device``."""
    o = cfg.optim
    pool = ClientPool(template, clients, lr=o.client_lr, momentum=o.momentum, weight_decay=o.weight_decay,
                      ema=cfg.ssl.ema)
    pool.to(device, memory_format(cfg))
    return pool


def autocast_context(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast for ``optim.precision = bf16``, else a no-op context."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()


@dataclass
class PoolViews:
    """Two augmented views of the pool's concatenated batch; client at pool position ``p`` owns rows
    ``offsets[p]:offsets[p + 1]``."""

    v1: Tensor                       # R×3×S×S (R = images of the whole pool this step)
    v2: Tensor
    offsets: list[int]

    def inputs(self, position: int, *, symmetric: bool) -> tuple[Tensor, Tensor]:
        """(query input, key input) of one client: B×3×S×S each, or 2B with client-side symmetric views."""
        lo, hi = self.offsets[position], self.offsets[position + 1]
        xq, xk = self.v1[lo:hi], self.v2[lo:hi]
        return (torch.cat([xq, xk]), torch.cat([xk, xq])) if symmetric else (xq, xk)


def pool_views(train: Tensor, batches: ClientBatches, pool: list[int], spec: AugmentSpec, gen: torch.Generator, *,
               device: torch.device, memory_format: torch.memory_format = torch.preserve_format) -> PoolViews:
    """Draw every pool client's next batch (pool order) and both augmentations of their concatenation from ``gen``.

    Args:
        train: N×3×S×S uint8, the whole training split.
    """
    idx = [batches.next(c) for c in pool]
    x = train[torch.cat(idx)]
    v1, v2 = augment(x, spec, gen), augment(x, spec, gen)
    offsets = np.cumsum([0, *(len(i) for i in idx)]).tolist()
    return PoolViews(v1.to(device).contiguous(memory_format=memory_format),
                     v2.to(device).contiguous(memory_format=memory_format), [int(o) for o in offsets])


def client_forward(clients: ClientPool, client: int, q_in: Tensor, k_in: Tensor, *,
                   autocast: contextlib.AbstractContextManager) -> tuple[Tensor, Tensor]:
    """Online forward (with graph), momentum EMA update, momentum forward: (h_q, h_k), R×C×H×W each."""
    with autocast:
        h_q = clients.online[client](q_in)
    clients.update_momentum(client)
    with torch.no_grad(), autocast:
        h_k = clients.momentum[client](k_in)
    return h_q, h_k


def client_update(clients: ClientPool, client: int, h_q: Tensor, grad: Tensor, lr: float,
                  penalty: Tensor | None = None, *, rows_total: int | None = None) -> None:
    """Backpropagate the server's gradient (R×C×H×W, w.r.t. ``h_q``) — plus the client's own ``penalty`` (a scalar
    on the same graph, e.g. NoPeek's distance correlation) — and take one SGD step at ``lr``.

    With DP-SGD (``clients.dp``) the step is Opacus's clipped, noised one; ``rows_total`` is then required: the
    number of query rows of the whole pool, over which the server's loss is a mean (:mod:`sflaudit.sfl.dp`)."""
    if clients.dp is not None:
        if rows_total is None or penalty is not None:
            raise ValueError("a DP-SGD client step needs rows_total and takes no penalty")
        clients.dp[client].backward(h_q, clients.dp[client].per_row_gradient(grad, rows_total).to(h_q.dtype))
    elif penalty is None:
        h_q.backward(grad.to(h_q.dtype))
    else:
        torch.autograd.backward([h_q, penalty], [grad.to(h_q.dtype), None])
    clients.set_lr(client, lr)
    clients.optimizers[client].step()
    clients.optimizers[client].zero_grad(set_to_none=True)
    clients.steps[client] += 1


def client_lr(o: OptimConfig, steps: int, epoch: int, epochs: int) -> float:
    """A client's learning rate after ``steps`` optimizer steps in ``epoch`` (quirk Q1 when per_step)."""
    t = steps if o.client_schedule == "per_step" else epoch
    return scheduled_lr(o.schedule, o.client_lr, t, epochs, gamma=0.2)


def state_digest(module: nn.Module) -> str:
    """SHA-256 (hex) of the module's state tensors' bytes in state_dict order: equal digests ⇔ equal weights."""
    return tensors_digest(module.state_dict())


def tensors_digest(state: Mapping[str, Tensor]) -> str:
    """SHA-256 (hex) over a state dict's names and tensor bytes, in its order."""
    h = hashlib.sha256()
    for name, t in state.items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
