"""Shared-token authentication: HMAC-SHA256 challenge–response, refusals in one line on both sides."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable
from typing import Any

import pytest

from sflaudit.errors import SflauditError
from sflaudit.transport.auth import AuthRefused, client_handshake, proof, read_token, server_handshake, verify
from sflaudit.transport.connection import Connection

Pair = Callable[..., tuple[Connection, Connection]]
TOKEN = "t" * 32


def test_proof__is_hmac_sha256_of_role_nonce_and_client() -> None:
    want = hmac.new(TOKEN.encode(), b"sflaudit-auth/1|client|\x01\x02|3", hashlib.sha256).hexdigest()
    assert proof(TOKEN, "client", b"\x01\x02", 3) == want
    assert verify(TOKEN, "client", b"\x01\x02", 3, want)
    assert not verify(TOKEN, "client", b"\x01\x02", 4, want)          # bound to the client id
    assert not verify("u" * 32, "client", b"\x01\x02", 3, want)      # and to the token
    assert not verify(TOKEN, "client", b"\x01\x02", 3, None)


def _serve(conn: Connection, token: str, out: dict[str, Any]) -> None:
    try:
        out["client"] = server_handshake(conn, token, 2, {"config": "x"})
    except SflauditError as exc:
        out["error"] = exc


def test_handshake__right_token_welcomes_the_client_with_the_config(pair: Pair) -> None:
    server, client = pair()
    out: dict[str, Any] = {}
    th = threading.Thread(target=_serve, args=(server, TOKEN, out))
    th.start()
    welcome = client_handshake(client, TOKEN, 1)
    th.join(5)
    assert out == {"client": 1} and welcome["config"] == "x"


def test_handshake__wrong_token_is_refused_on_both_sides_in_one_line(pair: Pair) -> None:
    server, client = pair()
    out: dict[str, Any] = {}
    th = threading.Thread(target=_serve, args=(server, TOKEN, out))
    th.start()
    with pytest.raises(AuthRefused) as err:
        client_handshake(client, "w" * 32, 1)
    th.join(5)
    assert str(err.value) == "a refused client 1: authentication failed (wrong token)"
    assert isinstance(out["error"], AuthRefused)
    assert str(out["error"]) == "refused b (claiming client 1): authentication failed (wrong token)"


def test_handshake__a_client_id_outside_the_run_is_refused(pair: Pair) -> None:
    server, client = pair()
    out: dict[str, Any] = {}
    th = threading.Thread(target=_serve, args=(server, TOKEN, out))
    th.start()
    with pytest.raises(AuthRefused, match="client id 2 is not one of 0..1"):
        client_handshake(client, TOKEN, 2)
    th.join(5)


def test_read_token__refuses_a_short_token(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tok").write_text("short\n")
    with pytest.raises(SflauditError, match="at least 16 characters"):
        read_token(tmp_path / "tok")
    monkeypatch.setenv("SFLAUDIT_TOKEN", TOKEN + "\n")
    assert read_token(None) == TOKEN
