"""The metered link: every tensor that crosses the cut passes through :class:`Link`, which counts its bytes.

Directions: ``up`` (client → server) and ``down`` (server → client). Kinds: ``query`` and ``key`` activations,
activation ``grad``\\ ients, client ``weights`` and ``momentum`` weights at a sync. Activations and gradients travel in
the configured wire dtype (they are cast to it and back, so a low-precision wire also quantises what is sent);
weights travel as stored. The ``[defence]`` options are applied here, on the sender's side, before the meter counts
(``sflaudit.sfl.defences``): the bytes are those of the encoded payload and the receiver gets the decoded, defended
tensor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from sflaudit.artifacts import Traffic
from sflaudit.config import DefenceConfig
from sflaudit.sfl.defences import WIRE_DTYPES, Payload, decode, wire_payload

KINDS: tuple[str, ...] = ("query", "key", "grad", "weights", "momentum")
DIRECTIONS: tuple[str, ...] = ("up", "down")


def tensor_bytes(t: Tensor) -> int:
    return t.numel() * t.element_size()


def _zero() -> dict[str, int]:
    return {"up": 0, "down": 0}


Tap = Callable[[str, int, Payload], None]


class Link:
    """Meters the traffic between the clients and the server of one run.

    Args:
        wire_dtype: dtype of activations and gradients on the wire (``sfl.wire_dtype``).
        defence: the run's ``[defence]`` settings (None = no defence).
        seed: seeds the link's own CPU generator for the ``defence.noise`` draws (saved in :meth:`state_dict`).
    ``tap``, when set, is called with (kind, client, payload) for every activation or gradient payload exactly as
    it was metered (an eavesdropper's view of the wire).
    """

    def __init__(self, wire_dtype: str = "float32", defence: DefenceConfig | None = None, *, seed: int = 0) -> None:
        self.wire_dtype = wire_dtype
        self._dtype = WIRE_DTYPES[wire_dtype]
        self.defence = defence if defence is not None else DefenceConfig()
        self.generator = torch.Generator().manual_seed(seed)
        self.tap: Tap | None = None
        self.by_kind: dict[str, dict[str, int]] = {k: _zero() for k in KINDS}
        self.per_client: dict[int, dict[str, int]] = {}
        self.steps = 0
        self.syncs = 0
        self.last_step = _zero()
        self.last_sync = _zero()
        self._current = _zero()

    def _count(self, direction: str, kind: str, client: int, nbytes: int) -> None:
        self.by_kind[kind][direction] += nbytes
        self.per_client.setdefault(client, _zero())[direction] += nbytes
        self._current[direction] += nbytes

    def send_activation(self, t: Tensor, *, direction: str, kind: str, client: int) -> Tensor:
        """Carry an activation or gradient (detached) across the cut, defended as ``[defence]`` says for ``kind``;
        counts the encoded payload's bytes and returns what the receiver decodes (t's shape and dtype)."""
        payload = wire_payload(t, self.defence, kind, wire_dtype=self._dtype, generator=self.generator)
        return self.receive(payload, direction=direction, kind=kind, client=client, dtype=t.dtype)

    def receive(self, payload: Payload, *, direction: str, kind: str, client: int,
                dtype: torch.dtype = torch.float32) -> Tensor:
        """Meter a payload its sender already encoded (``sflaudit.sfl.defences.wire_payload``, e.g. on a remote
        client) and return the dense tensor it decodes to, in ``dtype``."""
        self._count(direction, kind, client, payload.nbytes)
        if self.tap is not None:
            self.tap(kind, client, payload)
        return decode(payload, dtype)

    def send_weights(self, tensors: Sequence[Tensor], *, direction: str, kind: str, client: int) -> list[Tensor]:
        """Carry a client state (all tensors of a state_dict) across the cut."""
        self._count(direction, kind, client, sum(tensor_bytes(t) for t in tensors))
        return list(tensors)

    def end_step(self) -> None:
        self.steps += 1
        self.last_step, self._current = self._current, _zero()

    def end_sync(self) -> None:
        self.syncs += 1
        self.last_sync, self._current = self._current, _zero()

    def total(self) -> dict[str, int]:
        return {d: sum(v[d] for v in self.by_kind.values()) for d in DIRECTIONS}

    def traffic(self) -> Traffic:
        """What was metered so far, as the ``traffic.json`` artifact."""
        return Traffic(
            wire_dtype=self.wire_dtype,
            total=self.total(),
            by_kind={k: dict(v) for k, v in self.by_kind.items()},
            per_client={str(c): dict(v) for c, v in sorted(self.per_client.items())},
            steps=self.steps,
            syncs=self.syncs,
            per_step=dict(self.last_step),
            per_sync=dict(self.last_sync),
        )

    def state_dict(self) -> dict[str, Any]:
        """The counters as plain containers (the ``traffic.json`` document) plus ``noise_rng``, the noise generator's
        state (resumes with :meth:`load_state_dict`)."""
        return {**self.traffic().to_json(), "noise_rng": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.by_kind = {k: dict(state["by_kind"][k]) for k in KINDS}
        self.per_client = {int(c): dict(v) for c, v in state["per_client"].items()}
        self.steps, self.syncs = int(state["steps"]), int(state["syncs"])
        self.last_step, self.last_sync = dict(state["per_step"]), dict(state["per_sync"])
        self._current = _zero()
        if "noise_rng" in state:
            self.generator.set_state(state["noise_rng"])
