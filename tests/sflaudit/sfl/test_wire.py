"""The metered link counts exactly the bytes it carries."""

import torch

from sflaudit.sfl.wire import Link


def test_link__counts_activation_bytes_by_kind_and_client() -> None:
    link = Link("float32")
    link.send_activation(torch.zeros(4, 8, 2, 2), direction="up", kind="query", client=1)
    link.send_activation(torch.zeros(4, 8, 2, 2), direction="down", kind="grad", client=1)
    link.end_step()
    traffic = link.traffic()
    assert traffic.by_kind["query"]["up"] == 4 * 8 * 2 * 2 * 4
    assert traffic.per_client["1"] == {"up": 512, "down": 512}
    assert traffic.per_step == {"up": 512, "down": 512} and traffic.total == {"up": 512, "down": 512}


def test_link__state_dict_round_trip_keeps_the_counters() -> None:
    link = Link("float16")
    link.send_weights([torch.zeros(3)], direction="up", kind="weights", client=2)
    link.end_sync()
    again = Link("float16")
    again.load_state_dict(link.state_dict())
    assert again.traffic() == link.traffic() and again.traffic().syncs == 1
    assert again.traffic().per_sync == {"up": 12, "down": 0}


def test_link__bfloat16_wire_halves_bytes_and_quantises() -> None:
    link = Link("bfloat16")
    x = torch.tensor([1.0 + 2**-10])
    got = link.send_activation(x, direction="up", kind="key", client=0)
    assert link.by_kind["key"]["up"] == 2
    assert got.dtype == torch.float32 and float(got) == 1.0


def test_link__weights_count_buffers_at_their_own_size() -> None:
    link = Link()
    link.send_weights([torch.zeros(10), torch.tensor(3, dtype=torch.long)], direction="up", kind="weights", client=0)
    assert link.by_kind["weights"]["up"] == 10 * 4 + 8
