"""Mutual authentication with a shared token: HMAC-SHA256 challenge–response, compared in constant time.

1. S → C ``CHALLENGE`` {nonce_s}.  2. C → S ``AUTH`` {client, nonce_c, mac = HMAC(token, "client" | nonce_s | client)}.
3. S checks the mac (``hmac.compare_digest``); wrong → ``REFUSE`` and close; right → ``WELCOME`` {mac = HMAC(token,
"server" | nonce_c | client), config}, which the client checks in turn. The token itself never crosses the wire, and
nothing larger than :data:`AUTH_MAX_BYTES` is read from a peer before it has proven the token.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

from sflaudit.errors import SflauditError
from sflaudit.transport.connection import Connection
from sflaudit.transport.frames import FrameType, TransportError

AUTH_MAX_BYTES = 4096
NONCE_BYTES = 32
TOKEN_ENV = "SFLAUDIT_TOKEN"
MIN_TOKEN_CHARS = 16


class AuthRefused(TransportError):
    """A peer failed the challenge (wrong token, bad client id): it was refused and disconnected."""


def new_token() -> str:
    """A fresh random shared token (64 hex characters)."""
    return secrets.token_hex(32)


def read_token(token_file: Path | None) -> str:
    """The shared token from ``token_file`` (stripped) or the ``SFLAUDIT_TOKEN`` environment variable."""
    if token_file is not None:
        try:
            token = Path(token_file).read_text().strip()
        except OSError as exc:
            raise SflauditError(f"cannot read the token file {token_file}: {exc.strerror or exc}") from None
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
    if len(token) < MIN_TOKEN_CHARS:
        raise SflauditError(f"the shared token must have at least {MIN_TOKEN_CHARS} characters (pass --token-file "
                            f"or set {TOKEN_ENV})")
    return token


def _unhex(value: Any) -> bytes:
    try:
        return bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        return b""


def proof(token: str, role: str, nonce: bytes, client: int) -> str:
    """HMAC-SHA256 (hex) of ``role | nonce | client`` under the token."""
    msg = b"sflaudit-auth/1|" + role.encode() + b"|" + nonce + b"|" + str(client).encode()
    return hmac.new(token.encode("utf-8"), msg, hashlib.sha256).hexdigest()


def verify(token: str, role: str, nonce: bytes, client: int, mac: Any) -> bool:
    """Whether ``mac`` is :func:`proof` of these inputs (constant-time comparison)."""
    return isinstance(mac, str) and hmac.compare_digest(proof(token, role, nonce, client), mac)


def server_handshake(conn: Connection, token: str, clients: int, welcome: dict[str, Any]) -> int:
    """Authenticate a freshly accepted connection; returns the client id it proved. Refuses (REFUSE frame, then
    :class:`AuthRefused`) a wrong token or a client id outside 0..clients-1."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    limit, conn.max_frame_bytes = conn.max_frame_bytes, AUTH_MAX_BYTES
    conn.send_json(FrameType.CHALLENGE, {"nonce": nonce.hex(), "version": 1}, what="sending the challenge")
    msg = conn.recv(FrameType.AUTH, what="waiting for the authentication").json()
    client, their_nonce = msg.get("client"), msg.get("nonce")
    if not isinstance(client, int) or not 0 <= client < clients:
        reason = f"client id {client!r} is not one of 0..{clients - 1}"
    elif not verify(token, "client", nonce, client, msg.get("mac")):
        reason = "authentication failed (wrong token)"
    elif len(theirs := _unhex(their_nonce)) != NONCE_BYTES:
        reason = "malformed authentication"
    else:
        conn.max_frame_bytes = limit
        mac = proof(token, "server", theirs, client)
        conn.send_json(FrameType.WELCOME, {"mac": mac, **welcome}, what="welcoming the client")
        return client
    conn.send_json(FrameType.REFUSE, {"reason": reason}, what="refusing the client")
    conn.close()
    raise AuthRefused(f"refused {conn.peer} (claiming client {client}): {reason}")


def client_handshake(conn: Connection, token: str, client: int) -> dict[str, Any]:
    """Prove the token to the server and check its proof; returns the WELCOME body (the run's config)."""
    challenge = conn.recv(FrameType.CHALLENGE, what="waiting for the server's challenge").json()
    nonce = _unhex(challenge.get("nonce"))
    if len(nonce) != NONCE_BYTES:
        raise TransportError(f"{conn.peer} sent a malformed challenge")
    mine = secrets.token_bytes(NONCE_BYTES)
    conn.send_json(FrameType.AUTH, {"client": client, "nonce": mine.hex(),
                                    "mac": proof(token, "client", nonce, client)}, what="authenticating")
    frame = conn.recv((FrameType.WELCOME, FrameType.REFUSE), what="waiting for the server's answer")
    body = frame.json()
    if frame.type == FrameType.REFUSE:
        raise AuthRefused(f"{conn.peer} refused client {client}: {body.get('reason', '?')}")
    if not verify(token, "server", mine, client, body.get("mac")):
        raise AuthRefused(f"{conn.peer} could not prove the shared token; disconnected")
    return body
