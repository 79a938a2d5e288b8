"""``sflaudit train --transport tcp``: a server in this process and (optionally) N local client processes.

The server binds ``settings.host:port`` (127.0.0.1 and an ephemeral port by default), builds its trainer, then starts
one client process per client, each connecting back over TCP with the shared token. The processes come from a fork
server (a fresh interpreter that imported the client code once and has never computed: OpenMP does not survive a
fork of a process that has, so a forked client could not compute with more than one thread), or are spawned where
there is none (so, as with any start method but fork, a script that calls :func:`run_tcp_training` needs an
``if __name__ == "__main__":`` guard). Each computes with the thread count the server sends in WELCOME (the
simulator's), so a loopback run is bit-identical to the simulator. On any failure the server tells the remaining
clients, keeps the last ckpt.pt (a resumable one exists from the moment every client joined) and raises one line;
client processes still alive a few seconds later are killed, so nothing hangs.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sflaudit.artifacts import RunDir, Summary
from sflaudit.config import Config
from sflaudit.errors import first_line
from sflaudit.jobs import check_out_path, prepare_run_dir
from sflaudit.locks import RunLock
from sflaudit.sfl.trainer import ProgressFn
from sflaudit.transport.client import run_client
from sflaudit.transport.listener import Listener, LogFn, log_stderr
from sflaudit.transport.server import TransportStats, tcp_trainer
from sflaudit.transport.settings import TransportSettings, check_tcp_config

REAP_S = 5.0          # how long client processes get to exit after the run before they are killed
FAILED_REAP_S = 2.0   # the same after a failure (they were told; a stalled one would only be waited for)


@dataclass
class TcpRun:
    """What a TCP run returns: its summary (None when stopped early), socket statistics and the server address."""

    summary: Summary | None
    stats: TransportStats
    address: tuple[str, int]


def _client_process(host: str, port: int, client: int, settings: TransportSettings, threads: int | None) -> None:
    """Entry point of a local client process: one error line on stderr and exit 2 on failure."""
    try:
        run_client(host, port, client, settings, threads=threads)
    except Exception as exc:  # noqa: BLE001 - a client process reports one line and exits 2, whatever failed
        print(f"client {client}: error: {first_line(exc)}", file=sys.stderr, flush=True)
        sys.exit(2)


def client_context() -> Any:
    """The multiprocessing context of local client processes: a fork server that preloads the client code (a client
    process starts in a fraction of a second once it runs), else spawn. Never a plain fork (see the module)."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])      # takes effect when the fork server starts (once per process)
    return ctx


@contextlib.contextmanager
def client_environment() -> Iterator[None]:
    """The environment client processes start from: ``OMP_WAIT_POLICY=PASSIVE`` unless it is set. N client processes
    of T threads share the server's cores and most of them wait at any moment (for a gradient, the server's step or
    the next command); OpenMP threads that spin while waiting take the cores from those that compute. The policy
    changes how threads wait, never the arithmetic (the weights stay bit-identical)."""
    if "OMP_WAIT_POLICY" in os.environ:
        yield
        return
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        yield
    finally:
        os.environ.pop("OMP_WAIT_POLICY", None)


def start_clients(cfg: Config, listener: Listener, *, threads: int | None = None) -> list[Any]:
    """One local process per client, connecting to ``listener`` with its settings' token. ``threads``: their torch
    thread count (default: what the server says in WELCOME)."""
    ctx = client_context()
    host, port = listener.address
    procs = []
    with client_environment():                  # the fork server (or each spawned process) starts from it
        for c in range(cfg.sfl.clients):
            p = ctx.Process(target=_client_process, args=(host, port, c, listener.settings, threads),
                            name=f"sflaudit-client-{c}", daemon=True)
            p.start()
            procs.append(p)
    return procs


def _alive_check(procs: list[Any]) -> Any:
    def check() -> str | None:
        dead = [(c, p.exitcode) for c, p in enumerate(procs) if p.exitcode is not None]
        if dead:
            c, code = dead[0]
            return f"client process {c} exited with code {code} before joining"
        return None
    return check


def reap(procs: list[Any], *, wait_s: float = REAP_S) -> None:
    """Wait up to ``wait_s`` for the client processes to exit, then kill the rest."""
    for p in procs:
        p.join(timeout=wait_s)
        if p.is_alive():
            p.kill()
            p.join(timeout=wait_s)


def run_tcp_training(cfg: Config, run_dir: Path, settings: TransportSettings, *, spawn: bool = True,
                     force: bool = False, stop_after_steps: int | None = None, progress: ProgressFn | None = None,
                     log: LogFn = log_stderr, threads: int | None = None,
                     on_listen: Any = None) -> TcpRun:
    """Train (or resume) ``run_dir`` over TCP holding its lock; the run directory is the simulator's.

    Args:
        spawn: start the N client processes here (else wait for ``sflaudit client`` processes to join).
        threads: torch threads of each local client process (default: the server's, i.e. ``run.threads`` or, when
            that is 0, this process's torch count — what the simulator computes with; any other count makes the
            run differ from the simulator's in the last bits).
        on_listen: called with (host, port) once the server listens (tests, the CLI's banner).
    """
    check_tcp_config(cfg)
    check_out_path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(RunDir(run_dir).lock):
        listener = Listener(settings, log=log)
        try:
            if prepare_run_dir(cfg, run_dir, force=force):
                return TcpRun(RunDir(run_dir).read_summary(), TransportStats(), listener.address)
            procs: list[Any] = []
            trainer, remote = tcp_trainer(cfg, run_dir, listener, progress=progress)
            if on_listen is not None:
                on_listen(*listener.address)
            if spawn:
                procs = start_clients(cfg, listener, threads=threads)
                remote.alive = _alive_check(procs)
            try:
                summary = trainer.fit(stop_after_steps=stop_after_steps)
            except BaseException:
                reap(procs, wait_s=FAILED_REAP_S)
                raise
            reap(procs)
            return TcpRun(summary, remote.stats, listener.address)
        finally:
            listener.close()


def local_settings(token: str, **changes: Any) -> TransportSettings:
    """Loopback settings (127.0.0.1, an ephemeral port) with ``changes``."""
    return replace(TransportSettings(token=token), **changes)


def train_over_tcp(cfg: Config, run_dir: Path, transport: str, *, force: bool, log: LogFn = log_stderr) -> Summary:
    """The CLI's ``train --transport tcp[,...]``: settings from the spec, a banner, the run, the timing line."""
    from sflaudit.errors import SflauditError
    from sflaudit.transport.auth import TOKEN_ENV, new_token, read_token
    from sflaudit.transport.settings import parse_transport

    if cfg.defence.canary:
        raise SflauditError("defence.canary (the clients' hijack detector) runs in the simulator only; train without "
                            "--transport tcp, or set defence.canary = 0")
    spec = parse_transport(transport)
    token_file = Path(spec.token_file) if spec.token_file else None
    if token_file is None and not os.environ.get(TOKEN_ENV):
        if not spec.spawn:
            raise SflauditError(f"no-spawn needs a shared token for the remote clients: token-file=F or {TOKEN_ENV}")
        token = new_token()                           # only the local client processes need it
    else:
        token = read_token(token_file)
    settings = TransportSettings(token=token, host=spec.host, port=spec.port, timeout_s=spec.timeout_s)
    hint = "" if spec.spawn else " (python -m sflaudit.transport --connect {h}:{p} --client I --token-file F)"
    banner = (lambda h, p: log(f"transport: listening on {h}:{p} for {cfg.sfl.clients} clients"
                               + hint.format(h=h, p=p)))
    result = run_tcp_training(cfg, run_dir, settings, spawn=spec.spawn, force=force, log=log, on_listen=banner)
    log(timing_line(result.stats))
    assert result.summary is not None
    return result.summary


def timing_line(stats: TransportStats) -> str:
    """One line: measured seconds per step and per sync, and the socket bytes each way."""
    step, sync = stats.seconds_per_step(), stats.seconds_per_sync()
    if step is None:
        return "transport: no step ran"
    sync_text = f", {len(stats.sync_seconds)} syncs at {sync:.4f} s/sync" if sync is not None else ""
    return (f"transport: {len(stats.step_seconds)} steps at {step:.4f} s/step (measured over TCP){sync_text}; "
            f"socket bytes up {stats.total('up')}, down {stats.total('down')}")


def client_over_tcp(connect: str, client: int, *, token_file: Path | None, timeout: float) -> int:
    """The CLI's ``sflaudit client``: join the server at ``connect`` as ``client``; returns the steps trained."""
    from sflaudit.transport.auth import read_token
    from sflaudit.transport.settings import parse_address

    host, port = parse_address(connect)
    settings = TransportSettings(token=read_token(token_file), timeout_s=timeout)
    return run_client(host, port, client, settings)
