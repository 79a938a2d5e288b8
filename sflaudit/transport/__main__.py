"""``python -m sflaudit.transport --connect HOST:PORT --client I [--token-file F] [--timeout S]``: one client process
of a ``sflaudit train --transport tcp,no-spawn`` run. Failures print one ``error:`` line and exit 2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sflaudit.errors import SflauditError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sflaudit.transport", description=__doc__.split(":")[0])
    parser.add_argument("--connect", required=True, help="HOST:PORT of the server")
    parser.add_argument("--client", required=True, type=int, help="this client's id, 0..N-1")
    parser.add_argument("--token-file", type=Path, default=None, help="the shared token (default $SFLAUDIT_TOKEN)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to connect and to send each frame")
    args = parser.parse_args(argv)
    from sflaudit.transport.driver import client_over_tcp

    try:
        steps = client_over_tcp(args.connect, args.client, token_file=args.token_file, timeout=args.timeout)
    except SflauditError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(f"client {args.client}: {steps} steps trained")
    return 0


if __name__ == "__main__":
    sys.exit(main())
