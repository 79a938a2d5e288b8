"""The server's listening socket: accept, authenticate and seat N clients, logging every refused connection."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from sflaudit.transport.auth import AuthRefused, server_handshake
from sflaudit.transport.connection import Connection
from sflaudit.transport.frames import TransportError
from sflaudit.transport.settings import TransportSettings

LogFn = Callable[[str], None]


def log_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Listener:
    """A bound, listening TCP socket (``settings.port`` 0 = an ephemeral port, see :attr:`address`)."""

    def __init__(self, settings: TransportSettings, *, log: LogFn = log_stderr) -> None:
        self.settings = settings
        self.log = log
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((settings.host, settings.port))
        except OSError as exc:
            self.sock.close()
            raise TransportError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from None
        self.sock.listen(16)
        host, port = self.sock.getsockname()[:2]
        self.address: tuple[str, int] = (str(host), int(port))      # the port chosen when settings.port is 0

    def join(self, clients: int, *, welcome: dict[str, Any],
             alive: Callable[[], str | None] | None = None) -> list[Connection]:
        """Accept connections until every client id 0..clients-1 has proven the token (within
        ``join_timeout_s``). A refused connection is logged and closed; with ``on_refused = stop`` it ends the join.
        ``alive`` returns a reason to give up early (e.g. a spawned client process died) or None."""
        s = self.settings
        seats: list[Connection | None] = [None] * clients
        deadline = time.monotonic() + s.join_timeout_s
        host, port = self.address
        while any(c is None for c in seats):
            left = deadline - time.monotonic()
            missing = [i for i, c in enumerate(seats) if c is None]
            if left <= 0:
                raise TransportError(f"clients {missing} did not join {host}:{port} within {s.join_timeout_s:g} s")
            problem = alive() if alive is not None else None
            if problem:
                raise TransportError(problem)
            self.sock.settimeout(min(left, 0.5))
            try:
                sock, addr = self.sock.accept()
            except TimeoutError:
                continue
            conn = Connection(sock, f"{addr[0]}:{addr[1]}", timeout_s=s.timeout_s, max_frame_bytes=s.max_frame_bytes)
            try:
                client = server_handshake(conn, s.token, clients, welcome)
            except TransportError as exc:
                conn.close()
                self.log(f"transport: {exc}")
                if isinstance(exc, AuthRefused) and s.on_refused == "stop":
                    raise TransportError(f"{exc}; the run stops (on_refused = stop)") from None
                continue
            if seats[client] is not None:
                conn.error(f"client {client} is already connected")
                conn.close()
                self.log(f"transport: refused {conn.peer}: client {client} is already connected")
                continue
            conn.peer = f"client {client} ({addr[0]}:{addr[1]})"
            seats[client] = conn
            self.log(f"transport: client {client} joined from {addr[0]}:{addr[1]}")
        return [c for c in seats if c is not None]

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
