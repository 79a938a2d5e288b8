"""A client's resumable state as named tensors round-trips exactly (models, SGD momentum, steps, data stream)."""

from __future__ import annotations

import numpy as np
import torch

from sflaudit.sfl.clients import sgd
from sflaudit.sfl.sampling import ClientBatches
from sflaudit.transport.frames import Frame, FrameType, tensors_body
from sflaudit.transport.state import client_state, load_client_state, load_stream, same_stream, stream_state


def _wire(tensors, meta):
    """Through a real frame body (safetensors bytes), as on the socket."""
    return Frame(FrameType.STATE, None, None, tensors_body(tensors, meta)).tensors()


def test_client_state__round_trips_models_optimizer_momentum_and_steps() -> None:
    torch.manual_seed(0)
    online, momentum = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    opt = sgd(online.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    online(torch.randn(4, 3)).sum().backward()
    opt.step()
    tensors, meta = _wire(*client_state(online, momentum, opt, steps=7))
    online2, momentum2 = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    opt2 = sgd(online2.parameters(), lr=0.5, momentum=0.9, weight_decay=5e-4)
    assert load_client_state(tensors, meta, online2, momentum2, opt2, source="test") == 7
    for a, b in zip([*online.state_dict().values(), *momentum.state_dict().values()],
                    [*online2.state_dict().values(), *momentum2.state_dict().values()], strict=True):
        assert torch.equal(a, b)
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s2["param_groups"][0]["lr"] == 0.1
    assert all(torch.equal(s1["state"][i]["momentum_buffer"], s2["state"][i]["momentum_buffer"]) for i in (0, 1))


def test_stream_state__replays_the_same_batches() -> None:
    parts = [np.arange(10), np.arange(10, 25)]
    gen = torch.Generator().manual_seed(3)
    batches = ClientBatches(parts, 4, "epoch", gen)
    batches.next(0)
    state = _wire(*stream_state(gen, batches))
    want = [batches.next(0), batches.next(1), torch.rand(2, generator=gen)]
    gen2 = torch.Generator().manual_seed(99)
    batches2 = ClientBatches(parts, 4, "epoch", gen2)
    load_stream(*state, gen2, batches2, source="test")
    got = [batches2.next(0), batches2.next(1), torch.rand(2, generator=gen2)]
    assert all(torch.equal(a, b) for a, b in zip(want, got, strict=True))
    assert same_stream(state, _wire(*stream_state(gen, batches))) is False   # both streams moved on since
    assert same_stream(_wire(*stream_state(gen, batches)), _wire(*stream_state(gen2, batches2)))
