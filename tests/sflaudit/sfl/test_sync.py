"""FedAvg, quirk Q2 seeding and the divergence measures on tiny hand-made states."""

import pytest
import torch

from sflaudit.sfl.sync import average_states, divergence, divergence_mask


def _states(*values: float) -> list[list[torch.Tensor]]:
    return [[torch.full((2,), v), torch.tensor(int(v), dtype=torch.long)] for v in values]


def test_average__mean_over_pool() -> None:
    avg = average_states(_states(1.0, 3.0, 8.0), [1, 2], seed_with_client0=False)
    assert avg[0].tolist() == [5.5, 5.5]
    assert int(avg[1]) == 5                        # integer buffers floor-averaged


def test_average__q2_seeds_with_client0_instead_of_pool0() -> None:
    avg = average_states(_states(1.0, 3.0, 8.0), [1, 2], seed_with_client0=True)
    assert avg[0].tolist() == [4.5, 4.5]           # (client0 + client2) / 2


def test_divergence__squared_distance_per_scalar() -> None:
    online = [[torch.tensor([0.0, 2.0])], [torch.tensor([2.0, 4.0])]]
    momentum = [[torch.tensor([0.0, 0.0])], [torch.tensor([2.0, 4.0])]]
    avg_o = [torch.tensor([1.0, 3.0])]
    avg_m = [torch.tensor([1.0, 2.0])]
    d = divergence(online, momentum, avg_o, avg_m, [0, 1], [True])
    assert d["ol-og/0"] == pytest.approx(1.0)      # ((0-1)² + (2-3)²) / 2
    assert d["ol-ml/0"] == pytest.approx(2.0)      # (0 + 4) / 2
    assert d["ml-mg/1"] == pytest.approx(2.5)      # (1 + 4) / 2
    assert d["ol-ml/mean"] == pytest.approx(1.0)


def test_divergence_mask__skips_running_stats() -> None:
    assert divergence_mask(["a.weight", "bn.running_mean", "bn.num_batches_tracked"]) == [True, False, False]
