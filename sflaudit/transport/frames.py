"""Typed frames on a TCP stream: a fixed 16-byte header, then a JSON body (commands) or a safetensors body (tensors).

Header, little-endian, :data:`HEADER_BYTES` = 16: magic ``b"SFLT"`` (4) | version (1) | frame type (1) | tensor
kind (1: 0 = none, else 1 + index in ``wire.KINDS``) | source dtype (1: the dtype the receiver restores, 0 = none) |
body length (8, unsigned). A body longer than the connection's ``max_frame_bytes`` is refused before it is read.

Tensor bodies are safetensors documents (never pickle): an 8-byte length, a JSON header padded with spaces to a
multiple of 8, then the raw tensor bytes. So a tensor frame's bytes on the socket are its tensors' bytes plus
:func:`tensor_frame_overhead` = 16 + 8 + the padded JSON header length (e.g. one fp32 activation of shape
[16, 8, 32, 32]: ``{"t":{"dtype":"F32","shape":[16,8,32,32],"data_offsets":[0,524288]}}`` is 68 bytes → 72, so
96 bytes of overhead on 524 288 bytes of data).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor

from sflaudit.errors import SflauditError
from sflaudit.sfl.wire import KINDS

MAGIC = b"SFLT"
VERSION = 1
HEADER = struct.Struct("<4sBBBBQ")
HEADER_BYTES = HEADER.size                                   # 16
MAX_FRAME_BYTES = 1 << 30                                    # default bound of one frame's body (1 GiB)


class TransportError(SflauditError):
    """A transport failure (refused, closed, timed out, malformed): one line naming the peer and what was awaited."""


class FrameType(IntEnum):
    CHALLENGE = 1   # S→C json: server nonce
    AUTH = 2        # C→S json: client id, HMAC, client nonce
    WELCOME = 3     # S→C json: server HMAC, config
    REFUSE = 4      # S→C json: reason
    READY = 5       # C→S json: training id, initial-weights digest
    START = 6       # S→C tensors: data-stream state (+ the client's state on a resume)
    STEP = 7        # S→C json: epoch, batch, step, pool
    ACTIVATION = 8  # tensors: one query/key activation (up) or gradient (down), in the wire dtype
    SYNC = 9        # S→C json: sync number, payloads up and down, pool
    WEIGHTS = 10    # tensors: one payload (a client state_dict) up, or the merged one down
    COLLECT = 11    # S→C json: send your state (checkpoint, kNN monitor)
    STATE = 12      # C→S tensors: the client's full state and its data-stream state
    STOP = 13       # S→C json: the run is over
    ERROR = 14      # json: the sender failed (message)


TENSOR_FRAMES = frozenset({FrameType.START, FrameType.ACTIVATION, FrameType.WEIGHTS, FrameType.STATE})
TRAINING_FRAMES = frozenset({FrameType.ACTIVATION, FrameType.WEIGHTS})   # what the Link meters (plus headers)
DTYPES: tuple[torch.dtype, ...] = (torch.float32, torch.bfloat16, torch.float16, torch.float64, torch.int64,
                                   torch.int32, torch.uint8, torch.bool)
ST_DTYPES: dict[torch.dtype, str] = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16",
                                     torch.float64: "F64", torch.int64: "I64", torch.int32: "I32",
                                     torch.uint8: "U8", torch.bool: "BOOL"}
# safetensors' data order: its dtype enum, descending (then the tensor name)
ST_ORDER: tuple[torch.dtype, ...] = (torch.int64, torch.float64, torch.float32, torch.int32, torch.bfloat16,
                                     torch.float16, torch.uint8, torch.bool)


@dataclass
class Frame:
    """One received frame."""

    type: FrameType
    kind: str | None
    dtype: torch.dtype | None
    body: bytes

    def json(self) -> dict[str, Any]:
        try:
            obj = json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TransportError(f"malformed {self.type.name} frame: {exc}") from None
        if not isinstance(obj, dict):
            raise TransportError(f"malformed {self.type.name} frame: not a JSON object")
        return obj

    def tensors(self) -> tuple[dict[str, Tensor], dict[str, str]]:
        """The body's tensors by name and its safetensors metadata."""
        try:
            tensors = st_load(self.body)
            (n,) = struct.unpack("<Q", self.body[:8])
            meta = json.loads(self.body[8:8 + n]).get("__metadata__") or {}
        except (SafetensorError, struct.error, ValueError) as exc:
            raise TransportError(f"malformed {self.type.name} frame: {exc}") from None
        return tensors, meta


def encode_header(ftype: FrameType, length: int, *, kind: str | None = None, dtype: torch.dtype | None = None) -> bytes:
    """The 16-byte header of a frame whose body is ``length`` bytes."""
    return HEADER.pack(MAGIC, VERSION, int(ftype), 0 if kind is None else KINDS.index(kind) + 1,
                       0 if dtype is None else DTYPES.index(dtype) + 1, length)


def decode_header(raw: bytes, *, max_bytes: int, peer: str) -> tuple[FrameType, str | None, torch.dtype | None, int]:
    """(type, kind, source dtype, body length) of a 16-byte header; TransportError when malformed or too long."""
    magic, version, ftype, kind, dtype, length = HEADER.unpack(raw)
    if magic != MAGIC or version != VERSION:
        raise TransportError(f"{peer} does not speak the sflaudit transport (bad frame magic or version)")
    try:
        frame_type = FrameType(ftype)
    except ValueError:
        raise TransportError(f"{peer} sent an unknown frame type {ftype}") from None
    if kind > len(KINDS) or dtype > len(DTYPES):
        raise TransportError(f"{peer} sent a {frame_type.name} frame with an unknown kind or dtype code")
    if length > max_bytes:
        raise TransportError(f"{peer} sent a {frame_type.name} frame of {length} bytes, over the limit of "
                             f"{max_bytes} bytes (max_frame_bytes)")
    return frame_type, KINDS[kind - 1] if kind else None, DTYPES[dtype - 1] if dtype else None, length


def tensors_body(tensors: Mapping[str, Tensor], metadata: Mapping[str, str] | None = None) -> bytes:
    """A safetensors document of ``tensors`` (moved to the CPU, contiguous) and string ``metadata``."""
    cpu = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
    return st_save(cpu, metadata=dict(metadata) if metadata else None)


def json_body(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def safetensors_header_bytes(entries: Sequence[tuple[str, torch.dtype, Sequence[int]]],
                             metadata: Mapping[str, str] | None = None) -> int:
    """Bytes a safetensors document adds to its tensors' bytes: 8 + the JSON header padded to a multiple of 8.

    The JSON is what safetensors writes: ``__metadata__`` first, then the tensors ordered by element size (largest
    first) and name, each ``{"dtype", "shape", "data_offsets"}`` with offsets into the data section.
    """
    order = sorted(entries, key=lambda e: (ST_ORDER.index(e[1]), e[0]))
    doc: dict[str, Any] = {"__metadata__": dict(metadata)} if metadata else {}
    offset = 0
    for name, dtype, shape in order:
        size = math.prod(shape) * torch.empty(0, dtype=dtype).element_size()
        doc[name] = {"dtype": ST_DTYPES[dtype], "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return 8 + -(-len(text) // 8) * 8


def tensor_frame_overhead(entries: Sequence[tuple[str, torch.dtype, Sequence[int]]],
                          metadata: Mapping[str, str] | None = None) -> int:
    """Socket bytes of a tensor frame beyond its tensors' bytes: 16-byte frame header + safetensors header."""
    return HEADER_BYTES + safetensors_header_bytes(entries, metadata)


def entries_of(tensors: Mapping[str, Tensor]) -> list[tuple[str, torch.dtype, tuple[int, ...]]]:
    """(name, dtype, shape) of each tensor, the input of :func:`tensor_frame_overhead`."""
    return [(name, t.dtype, tuple(t.shape)) for name, t in tensors.items()]
