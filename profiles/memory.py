"""Measured peak memory of one client training step (protocol §6.1's "client memory", corrected to a real batch).

One step = forward of the client on a batch, backward of a random gradient on its output (what the server sends
back), one SGD step (momentum 0.9, weight decay 5e-4: the momentum buffers are created by this first step).
The client's momentum model (a second weight copy, forward under ``no_grad``) is not part of the step.

Methods (``MemoryProfile.method``):

* ``dispatch``: a ``TorchDispatchMode`` sees every tensor the step's operators create (forward, autograd's
  backward, optimizer), tracks the bytes of each new storage until it is freed (weak reference on the storage)
  and keeps the running maximum. ``tracemalloc`` cannot see torch's allocations and
  ``torch.profiler(profile_memory=True)`` exposes no per-allocation timeline through its Python API (and prints
  kineto log lines on CPU-only machines), hence this method. It counts tensor storages, not allocator padding or
  kernel-internal workspaces (e.g. oneDNN scratch buffers).
* ``dispatch-meta`` (the default): the same tracker while the step runs on a copy of the client on the ``meta``
  device — the same operators and storages without the arithmetic, so it gives byte-identical numbers to
  ``dispatch`` on CPU (a test checks this) in a fraction of the time. Operators whose meta kernels are slow Python
  references (GroupNorm, elementwise) get their outputs from :mod:`sflaudit.profiles.metashapes` instead.
* ``cuda``: with ``execute=True`` on a CUDA module, ``torch.cuda.max_memory_allocated`` around the step
  (includes the caching allocator's 512-byte rounding).

Both report ``peak_bytes = static_bytes + step_peak_bytes``: the weights and the input batch that exist before the
step, plus the largest amount of memory the step itself had allocated at any moment.
"""

from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from sflaudit.profiles.metashapes import fast_meta


@dataclass(frozen=True)
class MemoryProfile:
    """Peak memory of one client training step."""

    peak_bytes: int          # static_bytes + step_peak_bytes
    static_bytes: int        # client state_dict + input batch, allocated before the step
    step_peak_bytes: int     # the most the step itself held at once (activations, grads, optimizer state, temps)
    batch: int               # images in the forward
    method: str              # "dispatch-meta" | "dispatch" | "cuda"
    device: str


class _StorageTracker(TorchDispatchMode):
    """Count live bytes of the storages that operators create while active; keep the maximum."""

    def __init__(self, static: list[torch.Tensor]) -> None:
        super().__init__()
        self._known: dict[int, weakref.ref[Any]] = {}
        for t in static:
            st = t.untyped_storage()
            self._known[id(st)] = weakref.ref(st)   # in-place ops on these are not allocations
        self.current = 0
        self.peak = 0

    def _freed(self, key: int, nbytes: int) -> None:
        self._known.pop(key, None)
        self.current -= nbytes

    def _track(self, t: torch.Tensor) -> None:
        st = t.untyped_storage()
        key = id(st)
        ref = self._known.get(key)
        if ref is not None and ref() is st:
            return
        nbytes = st.nbytes()
        self._known[key] = weakref.ref(st, lambda _r, k=key, n=nbytes: self._freed(k, n))
        self.current += nbytes
        self.peak = max(self.peak, self.current)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = fast_meta(func, args, kwargs)
        if out is NotImplemented:
            out = func(*args, **kwargs)
        leaves, _ = tree_flatten(out)
        for leaf in leaves:
            if isinstance(leaf, torch.Tensor) and not leaf.is_sparse:
                self._track(leaf)
        return out


def _tensor_bytes(tensors: list[torch.Tensor]) -> int:
    seen: dict[int, int] = {}
    for t in tensors:
        st = t.untyped_storage()
        seen[st.data_ptr() or id(st)] = st.nbytes()
    return sum(seen.values())


def _train_step(model: nn.Module, x: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
    out = model(x)
    out.backward(torch.randn_like(out))
    optimizer.step()


def client_step_memory(
    client: nn.Module,
    batch: int,
    *,
    input_size: int = 32,
    sample_shape: tuple[int, ...] | None = None,
    lr: float = 0.06,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    seed: int = 0,
    execute: bool = False,
) -> MemoryProfile:
    """Peak memory of one training step of ``client`` on ``batch`` images of ``input_size``² pixels.

    Runs on a deep copy (the caller's module and the global RNG are untouched), except for a module already on the
    ``meta`` device, which holds no values: it is stepped itself and its gradients cleared after. By default the
    step runs on the ``meta`` device (method ``dispatch-meta``); with ``execute=True`` it runs for real on the device of the
    module's parameters (``cuda`` allocator statistics on a GPU, the ``dispatch`` tracker elsewhere).

    Args:
        client: the client module (``SplitModel.client``), B×3×S×S → activation.
        batch: rows of the forward (2B for a client-side symmetric step, B for ``original``).
        input_size: S.
        sample_shape: shape of one input sample instead of 3×S×S (for non-image modules).
        lr, momentum, weight_decay: the client SGD settings (protocol §1.1).
        seed: seeds the input and the random gradient.
        execute: run the step for real instead of tracing it on the meta device.
    """
    on_meta = not execute and all(t.device.type == "meta" for t in [*client.parameters(), *client.buffers()])
    was_training = client.training
    if on_meta:              # no values to protect: step the module itself (grads are cleared after), no copy
        model = client.train()
    else:
        model = copy.deepcopy(client).train()
        if not execute:
            model = model.to("meta")
    params = [p for p in model.parameters() if p.requires_grad]
    device = next((p.device for p in model.parameters()), torch.device("cpu" if execute else "meta"))
    generator = torch.Generator(device="cpu").manual_seed(seed)
    shape = sample_shape if sample_shape is not None else (3, input_size, input_size)
    if device.type == "meta":
        x = torch.empty(batch, *shape, device=device)   # no values to draw: only its bytes count
    else:
        x = torch.randn(batch, *shape, generator=generator).to(device)
    optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    state = list(model.state_dict().values())
    static_bytes = _tensor_bytes([*state, x])
    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device)
            _train_step(model, x, optimizer)
            torch.cuda.synchronize(device)
            step_peak = torch.cuda.max_memory_allocated(device) - before
            method = "cuda"
        else:
            tracker = _StorageTracker([*state, *params, x])
            try:
                with tracker:
                    _train_step(model, x, optimizer)
            finally:
                if on_meta:
                    for p in params:
                        p.grad = None
                    client.train(was_training)
            step_peak = tracker.peak
            method = "dispatch" if execute else "dispatch-meta"
    return MemoryProfile(
        peak_bytes=static_bytes + int(step_peak),
        static_bytes=static_bytes,
        step_peak_bytes=int(step_peak),
        batch=batch,
        method=method,
        device=str(device),
    )
