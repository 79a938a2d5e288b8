"""Shared settings for the profiles tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Run each test module on one intra-op thread (restored afterwards).

    The forwards here are single images or small batches; on a small shared CPU, OpenMP spinning on a busy second
    core made them up to 10× slower than one thread.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
