"""MoCo pieces: projector shapes, the ring-buffer queue, InfoNCE on hand-made cases."""

import math

import pytest
import torch
import torch.nn.functional as F

from sflaudit.sfl.moco import KeyQueue, build_projector, info_nce


def test_projector__v2_is_f_1024_relu_1024_with_zero_bias() -> None:
    head = build_projector("V2", 512)
    params = sum(p.numel() for p in head.parameters())
    assert params == 512 * 1024 + 1024 + 1024 * 1024 + 1024       # 1,575,936 (protocol §2.1)
    assert head(torch.randn(2, 512)).shape == (2, 1024)
    assert float(head[0].bias.detach().abs().sum()) == 0.0


def test_queue__holds_the_last_k_keys_and_wraps() -> None:
    q = KeyQueue(dim=2, size=5)
    for i in range(3):                       # 3 batches of 2 keys = 6 keys into 5 slots
        q.enqueue(torch.full((2, 2), float(i + 1)))
    assert q.ptr == 1
    assert q.keys[:, 0].tolist() == [3.0, 1.0, 2.0, 2.0, 3.0]  # slot 0 overwritten by the 6th key


def test_info_nce__uniform_logits_give_log_k_plus_1() -> None:
    q = torch.zeros(4, 8)
    loss, _ = info_nce(q, q, torch.zeros(6000, 8), 0.1)
    assert float(loss) == pytest.approx(math.log(6001), rel=1e-6)


def test_info_nce__perfect_positive_is_top1() -> None:
    q = F.normalize(torch.eye(3, 8), dim=1)
    queue = F.normalize(-torch.ones(10, 8), dim=1)
    loss, acc = info_nce(q, q, queue, 0.1)
    assert float(acc) == 100.0 and float(loss) < 1e-3
