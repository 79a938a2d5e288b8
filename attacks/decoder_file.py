"""``attacks/<decoder attack id>/decoder.safetensors``: the decoder attack's kept decoder, for the hybrid attack.

The hybrid attack of the same settings on the same client would train exactly this decoder again (same seeds, same
activations), so it starts from the saved one instead. The file is safetensors (tensors only, never pickle) with
metadata ``format = sflaudit-decoder/1``, the attack id and ``client_digest`` — the SHA-256 of the attacked client's
weights (:func:`sflaudit.sfl.client_step.tensors_digest`). A file of another client, id or format, or one that
cannot be read, is ignored: the hybrid then trains its own decoder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open
from safetensors.torch import load, save

from sflaudit.artifacts import RunDir
from sflaudit.runs import atomic_write_bytes

FORMAT = "sflaudit-decoder/1"


def decoder_path(run: RunDir, attack_id: str) -> Path:
    """Where the decoder of decoder attack ``attack_id`` lives: beside its ``invert.json``."""
    return run.attack_json(attack_id).with_name("decoder.safetensors")


def write_decoder(run: RunDir, attack_id: str, state: dict[str, Any], *, client_digest: str) -> None:
    """Save a decoder state dict for ``attack_id`` (temp file + rename)."""
    data = save({k: v.detach().cpu().contiguous() for k, v in state.items()},
                metadata={"format": FORMAT, "attack_id": attack_id, "client_digest": client_digest})
    atomic_write_bytes(decoder_path(run, attack_id), data)


def read_decoder(run: RunDir, attack_id: str, *, client_digest: str) -> dict[str, Any] | None:
    """The decoder saved for this attack id and client, else None."""
    path = decoder_path(run, attack_id)
    try:
        data = path.read_bytes()
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        state = load(data)
    except (OSError, SafetensorError, ValueError):
        return None
    ok = meta.get("format") == FORMAT and meta.get("attack_id") == attack_id
    return state if ok and meta.get("client_digest") == client_digest else None
