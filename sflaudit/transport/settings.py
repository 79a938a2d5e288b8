"""Transport settings (runtime only: never part of a run's config or training identity) and what a TCP run refuses."""

from __future__ import annotations

from dataclasses import dataclass

from sflaudit.config import Config
from sflaudit.errors import SflauditError
from sflaudit.transport.frames import MAX_FRAME_BYTES

REFUSED_POLICIES: tuple[str, ...] = ("wait", "stop")


@dataclass(frozen=True)
class TransportSettings:
    """How the server listens and how long every side waits.

    ``timeout_s``: the server waits this long for any one frame of a client during training (then: one-line error,
    the last ckpt.pt stays); ``join_timeout_s``: for all N clients to join and build their models;
    ``idle_timeout_s``: a client waits this long for the server's next command (the server may be evaluating).
    ``on_refused``: ``wait`` = a refused connection (wrong token) is logged and the slot stays open until the join
    timeout, so the run continues once the right client joins; ``stop`` = the first refusal stops the run.
    """

    token: str
    host: str = "127.0.0.1"
    port: int = 0
    timeout_s: float = 60.0
    join_timeout_s: float = 120.0
    idle_timeout_s: float = 3600.0
    max_frame_bytes: int = MAX_FRAME_BYTES
    on_refused: str = "wait"

    def __post_init__(self) -> None:
        if self.on_refused not in REFUSED_POLICIES:
            raise SflauditError(f"on_refused {self.on_refused!r} is not one of {', '.join(REFUSED_POLICIES)}")
        if min(self.timeout_s, self.join_timeout_s, self.idle_timeout_s) <= 0:
            raise SflauditError("transport timeouts must be > 0 seconds")
        if not 0 <= self.port <= 65535:
            raise SflauditError(f"port {self.port} is out of range (0..65535; 0 = any free port)")


def parse_address(text: str) -> tuple[str, int]:
    """``"127.0.0.1:5000"`` → ("127.0.0.1", 5000)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise SflauditError(f"address {text!r} is not HOST:PORT (e.g. 127.0.0.1:5000)")
    return host, int(port)


@dataclass(frozen=True)
class TransportSpec:
    """``--transport tcp[,listen=HOST:PORT][,token-file=PATH][,no-spawn][,timeout=SECONDS]`` parsed."""

    host: str = "127.0.0.1"
    port: int = 0
    token_file: str | None = None
    spawn: bool = True
    timeout_s: float = 60.0


def parse_transport(text: str) -> TransportSpec:
    """Parse the ``--transport`` value (``sim`` is the caller's business); SflauditError naming the bad part."""
    kind, *parts = [p.strip() for p in text.split(",")]
    if kind != "tcp":
        raise SflauditError(f"--transport {text!r}: expected sim or tcp[,listen=H:P,token-file=F,no-spawn,timeout=S]")
    spec: dict[str, object] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if key == "listen" and sep:
            spec["host"], spec["port"] = parse_address(value)
        elif key == "token-file" and sep and value:
            spec["token_file"] = value
        elif key == "no-spawn" and not sep:
            spec["spawn"] = False
        elif key == "timeout" and sep:
            try:
                spec["timeout_s"] = float(value)
            except ValueError:
                raise SflauditError(f"--transport timeout={value!r} is not a number of seconds") from None
        else:
            raise SflauditError(f"--transport option {part!r} is not one of listen=H:P, token-file=F, no-spawn, "
                                "timeout=S")
    return TransportSpec(**spec)  # type: ignore[arg-type]


def check_tcp_config(cfg: Config) -> None:
    """Refuse, in one line, what the TCP transport does not carry."""
    defence = getattr(cfg, "defence", None)
    if defence is not None and defence != type(defence)():
        raise SflauditError("the TCP transport carries no defences: reset every defence.* option to its default "
                            "(defences run in the simulator only)")
    if cfg.sfl.sampling_ratio < 1.0 and cfg.sfl.seed_average_with_client0:
        raise SflauditError("the TCP transport cannot average with client 0 outside the pool (quirk Q2): set "
                            "sfl.seed_average_with_client0 = false or sfl.sampling_ratio = 1")
