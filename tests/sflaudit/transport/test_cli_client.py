"""``python -m sflaudit.transport`` (a client process) fails in one ``error:`` line (exit 2) when no server answers;
``sflaudit train --transport`` refuses a bad spec in one line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sflaudit.errors import SflauditError
from sflaudit.transport.settings import TransportSpec, parse_transport


def test_client__no_server_is_one_error_line(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:        # a loopback port that is free once closed
        port = s.getsockname()[1]
    env = dict(os.environ, OMP_NUM_THREADS="1", SFLAUDIT_TOKEN="t" * 32)
    res = subprocess.run([sys.executable, "-m", "sflaudit.transport", "--connect", f"127.0.0.1:{port}", "--client",
                          "0", "--timeout", "5"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert lines[0] == f"error: cannot connect to 127.0.0.1:{port}: Connection refused"


def test_transport_spec__parses_every_option_and_names_a_bad_one() -> None:
    assert parse_transport("tcp") == TransportSpec()
    assert parse_transport("tcp,listen=127.0.0.1:5000,token-file=tok,no-spawn,timeout=2.5") == TransportSpec(
        host="127.0.0.1", port=5000, token_file="tok", spawn=False, timeout_s=2.5)
    with pytest.raises(SflauditError, match="option 'spawn=no' is not one of"):
        parse_transport("tcp,spawn=no")
    with pytest.raises(SflauditError, match="expected sim or tcp"):
        parse_transport("udp")
