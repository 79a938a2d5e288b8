"""The wire format: fixed header, safetensors bodies, the documented overhead, the frame-size bound."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
import torch

from sflaudit.transport.connection import Connection
from sflaudit.transport.frames import (HEADER_BYTES, FrameType, TransportError, decode_header, encode_header,
                                       entries_of, tensor_frame_overhead, tensors_body)

Pair = Callable[..., tuple[Connection, Connection]]


def test_header__is_16_bytes_and_round_trips_type_kind_dtype_length() -> None:
    raw = encode_header(FrameType.ACTIVATION, 1234, kind="grad", dtype=torch.bfloat16)
    assert HEADER_BYTES == 16 and len(raw) == 16 and raw[:4] == b"SFLT"
    assert struct.unpack("<Q", raw[8:])[0] == 1234
    assert decode_header(raw, max_bytes=10**6, peer="p") == (FrameType.ACTIVATION, "grad", torch.bfloat16, 1234)


def test_header__over_the_frame_bound_is_refused_before_the_body_is_read() -> None:
    raw = encode_header(FrameType.WEIGHTS, 2049)
    with pytest.raises(TransportError, match="2049 bytes, over the limit of 2048 bytes"):
        decode_header(raw, max_bytes=2048, peer="p")
    with pytest.raises(TransportError, match="does not speak the sflaudit transport"):
        decode_header(b"HTTP" + raw[4:], max_bytes=2048, peer="p")


def test_overhead__one_activation_is_16_plus_8_plus_the_padded_json() -> None:
    """[16, 8, 32, 32] fp32 = 524 288 data bytes; the JSON below is 68 bytes, padded to 72 → 96 bytes overhead."""
    json_text = '{"t":{"dtype":"F32","shape":[16,8,32,32],"data_offsets":[0,524288]}}'
    assert len(json_text) == 68
    t = torch.zeros(16, 8, 32, 32)
    assert tensor_frame_overhead(entries_of({"t": t})) == 16 + 8 + 72
    assert len(tensors_body({"t": t})) == 8 + 72 + 524288


def test_overhead__formula_matches_safetensors_for_mixed_dtypes_and_names() -> None:
    tensors = {"layer.w": torch.ones(3, 5), "layer.n": torch.tensor(7), "b": torch.zeros(4, dtype=torch.bfloat16),
               "a": torch.zeros(2, dtype=torch.int64), "e": torch.zeros(0), "u": torch.zeros(9, dtype=torch.uint8)}
    data = sum(t.numel() * t.element_size() for t in tensors.values())
    for meta in (None, {"steps": "12", "x": "[1, 2]"}):
        body = tensors_body(tensors, meta)
        assert HEADER_BYTES + len(body) - data == tensor_frame_overhead(entries_of(tensors), meta)


def test_connection__counts_socket_bytes_and_returns_the_tensors(pair: Pair) -> None:
    a, b = pair()
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    n = a.send_tensors(FrameType.ACTIVATION, {"t": t}, kind="query", dtype=torch.float32)
    frame = b.recv(FrameType.ACTIVATION, kind="query", what="test")
    assert n == 24 + tensor_frame_overhead(entries_of({"t": t}))
    assert a.sent == {"ACTIVATION": n} and b.received == {"ACTIVATION": n}
    assert torch.equal(frame.tensors()[0]["t"], t) and frame.dtype == torch.float32


def test_connection__a_silent_peer_times_out_and_a_closed_one_is_named(pair: Pair) -> None:
    a, b = pair()
    with pytest.raises(TransportError, match=r"^a sent nothing for 0.2 s while waiting$"):
        b.recv(what="waiting", timeout=0.2)
    a.close()
    with pytest.raises(TransportError, match="a closed the connection while waiting"):
        b.recv(what="waiting")


def test_connection__an_error_frame_raises_with_the_peer_message(pair: Pair) -> None:
    a, b = pair()
    a.error("disk full")
    with pytest.raises(TransportError, match="a failed: disk full"):
        b.recv(FrameType.STEP, what="waiting")


def test_connection__refuses_to_send_a_frame_over_the_bound(pair: Pair) -> None:
    a, _ = pair(max_frame_bytes=100)
    with pytest.raises(TransportError, match="over the limit of 100 bytes"):
        a.send(FrameType.STEP, b"x" * 101)
