"""Loopback helpers for the transport tests (127.0.0.1 only, ephemeral ports, every socket op bounded)."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from sflaudit.transport.connection import Connection


def tcp_pair(max_frame_bytes: int = 1 << 20, timeout_s: float = 2.0) -> tuple[Connection, Connection]:
    """Two ends of one TCP connection on 127.0.0.1, each named after its peer ("b" is a's peer, "a" is b's)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        a = socket.create_connection(server.getsockname(), timeout=timeout_s)
        b, _ = server.accept()
    return (Connection(a, "b", timeout_s=timeout_s, max_frame_bytes=max_frame_bytes),
            Connection(b, "a", timeout_s=timeout_s, max_frame_bytes=max_frame_bytes))


@pytest.fixture
def pair() -> Callable[..., tuple[Connection, Connection]]:
    return tcp_pair
