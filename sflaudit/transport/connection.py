"""One authenticated-or-not TCP connection carrying frames, with a timeout on every operation and byte counters."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from sflaudit.transport.frames import (HEADER_BYTES, MAX_FRAME_BYTES, Frame, FrameType, TransportError,
                                       decode_header, encode_header, json_body, tensors_body)


class Connection:
    """Frames over one socket. Every send and receive has a timeout (``timeout_s``, or the call's own); a closed
    peer, a timeout, an ERROR frame or an unexpected frame type raise :class:`TransportError` (one line).

    ``sent`` / ``received`` count socket bytes (header included) per frame type name.
    """

    def __init__(self, sock: socket.socket, peer: str, *, timeout_s: float,
                 max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self.sock = sock
        self.peer = peer
        self.timeout_s = timeout_s
        self.max_frame_bytes = max_frame_bytes
        self.sent: dict[str, int] = {}
        self.received: dict[str, int] = {}
        self.frames_sent: dict[str, int] = {}
        self.frames_received: dict[str, int] = {}
        sock.settimeout(timeout_s)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)   # small command frames go out at once

    # ------------------------------------------------------------------------------------------------ sending

    def send(self, ftype: FrameType, body: bytes = b"", *, kind: str | None = None,
             dtype: torch.dtype | None = None, what: str = "") -> int:
        """Send one frame; returns its socket bytes (16 + body)."""
        if len(body) > self.max_frame_bytes:
            raise TransportError(f"a {ftype.name} frame of {len(body)} bytes for {self.peer} is over the limit of "
                                 f"{self.max_frame_bytes} bytes (max_frame_bytes)")
        data = encode_header(ftype, len(body), kind=kind, dtype=dtype) + body
        self.sock.settimeout(self.timeout_s)
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise TransportError(f"{self.peer} accepted nothing for {self.timeout_s:g} s"
                                 f"{' while ' + what if what else ''}") from None
        except OSError as exc:
            raise TransportError(f"{self.peer} closed the connection{' while ' + what if what else ''} "
                                 f"({exc.strerror or exc})") from None
        self.sent[ftype.name] = self.sent.get(ftype.name, 0) + len(data)
        self.frames_sent[ftype.name] = self.frames_sent.get(ftype.name, 0) + 1
        return len(data)

    def send_json(self, ftype: FrameType, obj: Mapping[str, Any], *, what: str = "") -> int:
        return self.send(ftype, json_body(obj), what=what)

    def send_tensors(self, ftype: FrameType, tensors: Mapping[str, Tensor], *, kind: str | None = None,
                     dtype: torch.dtype | None = None, metadata: Mapping[str, str] | None = None,
                     what: str = "") -> int:
        return self.send(ftype, tensors_body(tensors, metadata), kind=kind, dtype=dtype, what=what)

    # ------------------------------------------------------------------------------------------------ receiving

    def _read(self, n: int, what: str, timeout: float) -> bytes:
        buf = bytearray()
        self.sock.settimeout(timeout)
        while len(buf) < n:
            try:
                chunk = self.sock.recv(min(n - len(buf), 1 << 20))
            except TimeoutError:
                raise TransportError(f"{self.peer} sent nothing for {timeout:g} s while {what}") from None
            except OSError as exc:
                raise TransportError(f"{self.peer} closed the connection while {what} "
                                     f"({exc.strerror or exc})") from None
            if not chunk:
                raise TransportError(f"{self.peer} closed the connection while {what}")
            buf += chunk
        return bytes(buf)

    def recv(self, expect: FrameType | tuple[FrameType, ...] | None = None, *, what: str,
             timeout: float | None = None, kind: str | None = None) -> Frame:
        """The next frame (of type ``expect`` and tensor ``kind`` when given). An ERROR frame raises with its message."""
        wait = self.timeout_s if timeout is None else timeout
        ftype, fkind, dtype, length = decode_header(self._read(HEADER_BYTES, what, wait),
                                                    max_bytes=self.max_frame_bytes, peer=self.peer)
        body = self._read(length, what, wait) if length else b""
        self.received[ftype.name] = self.received.get(ftype.name, 0) + HEADER_BYTES + length
        self.frames_received[ftype.name] = self.frames_received.get(ftype.name, 0) + 1
        frame = Frame(ftype, fkind, dtype, body)
        if ftype == FrameType.ERROR:
            raise TransportError(f"{self.peer} failed: {frame.json().get('message', '?')}")
        allowed = (expect,) if isinstance(expect, FrameType) else expect
        if allowed is not None and ftype not in allowed:
            names = "/".join(t.name for t in allowed)
            raise TransportError(f"{self.peer} sent a {ftype.name} frame while {what} (expected {names})")
        if kind is not None and fkind != kind:
            raise TransportError(f"{self.peer} sent {fkind} tensors while {what} (expected {kind})")
        return frame

    # ------------------------------------------------------------------------------------------------ closing

    def error(self, message: str) -> None:
        """Best effort: tell the peer why this side stops (never raises)."""
        try:
            self.sock.settimeout(min(self.timeout_s, 2.0))
            self.sock.sendall(encode_header(FrameType.ERROR, len(b := json_body({"message": message}))) + b)
        except OSError:
            pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
