"""The server: online + momentum (backbone rest + projector), the shared key queue, and one contrastive step."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sflaudit.sfl.clients import sgd
from sflaudit.sfl.moco import KeyQueue, info_nce


def has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


class Server:
    """Server-side models and state of split MoCo (protocol §1.2 step 4)."""

    def __init__(self, backbone: nn.Module, projector: nn.Module, *, lr: float, momentum: float,
                 weight_decay: float, ema: float, queue_size: int, temperature: float, key_dim: int,
                 generator: torch.Generator) -> None:
        self.online = nn.Sequential(backbone, projector)
        self.momentum = copy.deepcopy(self.online).requires_grad_(False)
        self.optimizer = sgd(self.online.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
        self.queue = KeyQueue(key_dim, queue_size, generator)
        self.temperature = temperature
        self.ema = ema
        self.generator = generator
        self.shuffle_keys = has_batchnorm(self.online)   # shuffle-BN only matters where BatchNorm is present
        self._online_params = list(self.online.parameters())
        self._momentum_params = list(self.momentum.parameters())

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    @torch.no_grad()
    def _keys(self, h: Tensor) -> Tensor:
        """Normalised momentum-encoder keys of ``h``, with the shuffle-BN trick when BatchNorm is present."""
        if not self.shuffle_keys:
            return F.normalize(self.momentum(h), dim=1)
        perm = torch.randperm(h.shape[0], generator=self.generator).to(h.device)
        k = F.normalize(self.momentum(h[perm]), dim=1)
        return k[torch.argsort(perm)]

    def step(self, hq: Tensor, hk: Tensor, *, symmetric: str,
             autocast: contextlib.AbstractContextManager | None = None) -> tuple[Tensor, float, float]:
        """One server update on the pool's concatenated activations.

        Args:
            hq: R×C×H×W query activations (leaf; the gradient w.r.t. it is returned).
            hk: R×C×H×W key activations from the client momentum models.
            symmetric: "client" (views already swapped by the clients; one InfoNCE) or "original" (the MocoSFL
                two-way loss L(q,k) + L(k,q), summed; only the first term reaches the clients).
        Returns:
            (gradient w.r.t. hq, loss value, contrastive top-1 accuracy in %).
        """
        ctx = autocast if autocast is not None else contextlib.nullcontext()
        with torch.no_grad():
            torch._foreach_lerp_(self._momentum_params, self._online_params, 1.0 - self.ema)
        hq = hq.detach().requires_grad_(True)
        with ctx:
            q = F.normalize(self.online(hq), dim=1)
            k = self._keys(hk)
            loss, acc = info_nce(q, k, self.queue.keys, self.temperature)
            keys = k
            if symmetric == "original":
                q2 = F.normalize(self.online(hk.detach()), dim=1)
                k2 = self._keys(hq.detach())
                loss2, acc2 = info_nce(q2, k2, self.queue.keys, self.temperature)
                loss = loss + loss2
                acc = (acc + acc2) / 2
                keys = torch.cat([k, k2])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.queue.enqueue(keys.detach())      # after backward: the loss's gradient uses the pre-enqueue queue
        self.optimizer.step()
        assert hq.grad is not None
        return hq.grad, float(loss.detach()), float(acc)

    def to(self, device: torch.device, memory_format: torch.memory_format = torch.preserve_format) -> None:
        self.online.to(device=device, memory_format=memory_format)
        self.momentum.to(device=device, memory_format=memory_format)
        self.queue.keys = self.queue.keys.to(device)

    def state_dict(self) -> dict[str, Any]:
        return {"online": self.online.state_dict(), "momentum": self.momentum.state_dict(),
                "optimizer": self.optimizer.state_dict(), "queue": self.queue.keys.cpu(),
                "queue_ptr": self.queue.ptr}

    def load_state_dict(self, state: dict[str, Any], *, weights_only: bool = False) -> None:
        self.online.load_state_dict(state["online"])
        self.momentum.load_state_dict(state["momentum"])
        self.queue.keys.copy_(state["queue"])
        self.queue.ptr = int(state["queue_ptr"])
        if not weights_only:
            self.optimizer.load_state_dict(state["optimizer"])
